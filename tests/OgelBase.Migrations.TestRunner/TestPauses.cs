using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OgelBase.Migrations.TestRunner;

/// <summary>
/// Pauses that let a test land a kill or a signal inside a migration instead of after it: before each statement
/// FluentMigrator runs, and after each committed batch of an online backfill. Asked for by the test's environment
/// (<see cref="StatementDelayVariable"/>, <see cref="BatchDelayVariable"/>, in milliseconds); only test code reads it.
/// </summary>
public sealed record TestPauses(int BeforeStatementMilliseconds, int AfterBatchMilliseconds)
{
    public const string StatementDelayVariable = "OGELBASE_TEST_STATEMENT_DELAY_MS";
    public const string BatchDelayVariable = "OGELBASE_TEST_BATCH_DELAY_MS";

    public static TestPauses FromEnvironment(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return new TestPauses(
            int.TryParse(environment(StatementDelayVariable), out var statement) ? Math.Clamp(statement, 0, 60_000) : 0,
            int.TryParse(environment(BatchDelayVariable), out var batch) ? Math.Clamp(batch, 0, 60_000) : 0);
    }

    public bool Any => BeforeStatementMilliseconds > 0 || AfterBatchMilliseconds > 0;

    /// <summary>For <c>RunnerApp</c>: adds the pausing logger to the runner's services, or nothing when no pause is asked for.</summary>
    public Action<IServiceCollection>? Install => Any
        ? services => services.AddLogging(logging => logging
            .AddProvider(new PausingLoggerProvider(this))
            .AddFilter<PausingLoggerProvider>(_ => true)) // the runner's minimum level (Information) would hide the batch event
        : null;
}
