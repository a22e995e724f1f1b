using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace OgelBase.Migrations.TestRunner;

/// <summary>
/// Stops the runner for good inside an open transaction of its migration, so a test's kill lands there by construction
/// instead of by timing. An online migration (8, 9, 11) runs each statement in a transaction of its own that lasts a few
/// milliseconds; a statement pause before each one (<see cref="TestPauses.BeforeStatementMilliseconds"/>) falls
/// between those transactions, and on a loaded machine a kill timed from outside was seen to miss all of them.
/// <para>
/// Npgsql's own log says where the session is: "Starting transaction" (the BEGIN goes out with the next command),
/// "Command execution completed" (the command ran, and inside a transaction the server now has it open),
/// "Committed/Rolled back transaction". Once the migration has begun (FluentMigrator's first line, after the migration
/// lock was taken; the pooler check's transaction comes before it) and <see cref="After"/> has passed, the first
/// command that completes inside an open transaction, other than the transaction's first, is held: the thread sleeps
/// until the process is killed, with that transaction open on the server, and the held session's backend pid is
/// written to <see cref="File"/>. Not the first command: an online step's first is its local lock_timeout setting, so
/// from the second on the step's statement has run (and written) in the transaction the kill will roll back; and the
/// pooler check's transaction, one command long, is never held. Npgsql logs with the connector id, the backend pid.
/// </para>
/// Test host process only: it needs Npgsql's process-wide logging (<see cref="InstallInNpgsql"/>), set before any connection.
/// </summary>
public sealed class TransactionHold(TimeSpan after, string? file)
{
    // Per session (connector id) inside an explicit transaction: the commands completed in it so far.
    private readonly ConcurrentDictionary<int, int> _inTransaction = new();
    private long _migrationBegan;
    private int _held;

    public TimeSpan After { get; } = after;

    public string? File { get; } = file;

    /// <summary>FluentMigrator has written its first line: the migration lock is held and the migration begins.</summary>
    public void MigrationBegan() => Interlocked.CompareExchange(ref _migrationBegan, Stopwatch.GetTimestamp(), 0);

    /// <summary>Routes Npgsql's log of this process through the hold. Call before the first connection is opened.</summary>
    public void InstallInNpgsql() =>
        NpgsqlLoggingConfiguration.InitializeLogging(LoggerFactory.Create(logging => logging
            .SetMinimumLevel(LogLevel.Debug)
            .AddProvider(new Provider(this))));

    private void Observe(string category, EventId eventId, int? connector)
    {
        if (connector is not { } id)
        {
            return;
        }

        switch (category, eventId.Name)
        {
            case ("Npgsql.Transaction", "StartedTransaction"):
                _inTransaction[id] = 0;
                break;
            case ("Npgsql.Transaction", "CommittedTransaction" or "RolledBackTransaction"):
                _inTransaction.TryRemove(id, out _);
                break;
            case ("Npgsql.Command", "CommandExecutionCompleted") when _inTransaction.TryGetValue(id, out var done):
                _inTransaction[id] = done + 1;
                if (done + 1 >= 2 && Due() && Interlocked.Exchange(ref _held, 1) == 0)
                {
                    Announce(id);
                    Thread.Sleep(Timeout.Infinite);
                }

                break;
        }
    }

    private bool Due()
    {
        var began = Interlocked.Read(ref _migrationBegan);
        return began != 0 && Stopwatch.GetElapsedTime(began) >= After;
    }

    private void Announce(int backendPid)
    {
        if (File is null)
        {
            return;
        }

        // Written whole, then renamed: the test never reads half a pid.
        var partial = File + ".partial";
        System.IO.File.WriteAllText(partial, backendPid.ToString(CultureInfo.InvariantCulture));
        System.IO.File.Move(partial, File, overwrite: true);
    }

    private static int? ConnectorId<TState>(TState state)
    {
        if (state is IEnumerable<KeyValuePair<string, object?>> fields)
        {
            foreach (var (key, value) in fields)
            {
                if (key == "ConnectorId" && value is not null)
                {
                    return Convert.ToInt32(value, CultureInfo.InvariantCulture);
                }
            }
        }

        return null;
    }

    private sealed class Provider(TransactionHold hold) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(hold, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class Logger(TransactionHold hold, string category) : ILogger
    {
        private readonly bool _watched = category is "Npgsql.Transaction" or "Npgsql.Command";

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => _watched && logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                hold.Observe(category, eventId, ConnectorId(state));
            }
        }
    }
}
