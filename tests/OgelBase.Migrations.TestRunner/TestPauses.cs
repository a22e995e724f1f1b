using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OgelBase.Migrations.TestRunner;

/// <summary>
/// Pauses that let a test land a kill or a signal inside a migration instead of after it: before each statement
/// FluentMigrator runs, and after each committed batch of an online backfill. Asked for by the test's environment
/// (<see cref="StatementDelayVariable"/>, <see cref="BatchDelayVariable"/>, in milliseconds); only test code reads it.
/// <para>
/// And a hold (<see cref="HoldVariable"/>, test host process only): the runner stops for good inside an open
/// transaction of its migration, so a kill is sure to land there however fast the migration's own transactions are
/// (an online migration's last a few milliseconds each). See <see cref="TransactionHold"/>.
/// </para>
/// </summary>
public sealed record TestPauses(int BeforeStatementMilliseconds, int AfterBatchMilliseconds)
{
    public const string StatementDelayVariable = "OGELBASE_TEST_STATEMENT_DELAY_MS";
    public const string BatchDelayVariable = "OGELBASE_TEST_BATCH_DELAY_MS";

    /// <summary>Milliseconds after the migration began (FluentMigrator's first line) from which the next command that completes inside an open transaction is held.</summary>
    public const string HoldVariable = "OGELBASE_TEST_HOLD_IN_TRANSACTION_AFTER_MS";

    /// <summary>A file the test host writes when the hold begins: the held session's backend pid.</summary>
    public const string HoldFileVariable = "OGELBASE_TEST_HOLD_FILE";

    public static TestPauses FromEnvironment(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return new TestPauses(
            int.TryParse(environment(StatementDelayVariable), out var statement) ? Math.Clamp(statement, 0, 60_000) : 0,
            int.TryParse(environment(BatchDelayVariable), out var batch) ? Math.Clamp(batch, 0, 60_000) : 0)
        {
            Hold = int.TryParse(environment(HoldVariable), out var hold) && hold >= 0
                ? new TransactionHold(TimeSpan.FromMilliseconds(Math.Min(hold, 600_000)), environment(HoldFileVariable))
                : null,
        };
    }

    /// <summary>The in-transaction hold, when asked for. It needs Npgsql's logging of this process (<see cref="TransactionHold.InstallInNpgsql"/>).</summary>
    public TransactionHold? Hold { get; init; }

    public bool Any => BeforeStatementMilliseconds > 0 || AfterBatchMilliseconds > 0 || Hold is not null;

    /// <summary>For <c>RunnerApp</c>: adds the pausing logger to the runner's services, or nothing when no pause is asked for.</summary>
    public Action<IServiceCollection>? Install => Any
        ? services => services.AddLogging(logging => logging
            .AddProvider(new PausingLoggerProvider(this))
            .AddFilter<PausingLoggerProvider>(_ => true)) // the runner's minimum level (Information) would hide the batch event
        : null;
}
