using Microsoft.Extensions.Logging;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.TestRunner;

/// <summary>
/// A logger that writes nothing and sleeps where the runner says it is about to act: FluentMigrator announces each
/// statement just before it runs it (inside the migration's transaction, if it has one), and
/// <see cref="OnlineDdl.BatchCommitted"/> marks each committed batch of an online backfill. FluentMigrator's first line
/// also starts the clock of the in-transaction hold (<see cref="TransactionHold"/>), if one is asked for.
/// </summary>
internal sealed class PausingLoggerProvider(TestPauses pauses) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) =>
        new PausingLogger(pauses, categoryName.StartsWith("FluentMigrator", StringComparison.Ordinal));

    public void Dispose()
    {
    }

    private sealed class PausingLogger(TestPauses pauses, bool isFluentMigrator) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => isFluentMigrator
            ? logLevel == LogLevel.Information && (pauses.BeforeStatementMilliseconds > 0 || pauses.Hold is not null)
            : logLevel == LogLevel.Debug && pauses.AfterBatchMilliseconds > 0;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            if (isFluentMigrator)
            {
                pauses.Hold?.MigrationBegan();
                if (pauses.BeforeStatementMilliseconds > 0)
                {
                    Thread.Sleep(pauses.BeforeStatementMilliseconds);
                }
            }
            else if (eventId.Id == OnlineDdl.BatchCommitted.Id)
            {
                Thread.Sleep(pauses.AfterBatchMilliseconds);
            }
        }
    }
}
