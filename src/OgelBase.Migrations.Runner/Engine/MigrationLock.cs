using System.Diagnostics;
using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Connection;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// The cross-process migration lock: a session-level advisory lock held on a connection of its own for the
/// whole run. FluentMigrator has none (its issues #996, #2220). It is taken before the version table is read or
/// created, polled with pg_try_advisory_lock so the wait is bounded and visible, and released in Dispose; if the
/// process dies, the server ends the session and the lock goes with it.
/// </summary>
public sealed class MigrationLock : IAsyncDisposable
{
    // 'ogel' and 'base' as int32: shows up in pg_locks as classid/objid.
    public const int KeySpace = 0x6F67656C;
    public const int Key = 0x62617365;

    private readonly NpgsqlConnection _connection;

    private MigrationLock(NpgsqlConnection connection)
    {
        _connection = connection;
    }

    /// <summary>The backend process id of the lock session, to cancel a migration session from it.</summary>
    public NpgsqlConnection Connection => _connection;

    /// <param name="openMigrationSession">
    /// Opens the run's migration session, the second client the pooler check needs (once the server has answered
    /// the lock session, so connection retries stay in one place).
    /// </param>
    public static async Task<MigrationLock> AcquireAsync(RunSettings settings, RunnerConsole console, Func<NpgsqlConnection> openMigrationSession,
        CancellationToken cancellationToken)
    {
        var connection = await Database.ConnectAsync(settings, console, "migration lock", cancellationToken);
        try
        {
            // Before the lock: through a transaction pooler a session-level advisory lock stays behind on a pooled server session.
            await PoolerCheck.EnsureSessionPerClientAsync(connection, openMigrationSession(), settings, cancellationToken);
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            var poll = TimeSpan.FromMilliseconds(100);
            while (true)
            {
                await using (var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@space, @key)", connection))
                {
                    command.Parameters.AddWithValue("space", KeySpace);
                    command.Parameters.AddWithValue("key", Key);
                    if ((bool)(await command.ExecuteScalarAsync(cancellationToken))!)
                    {
                        if (clock.Elapsed > TimeSpan.FromSeconds(1))
                        {
                            console.Info($"migration lock acquired after {clock.Elapsed.TotalSeconds:0.0} s");
                        }

                        return new MigrationLock(connection);
                    }
                }

                if (clock.Elapsed >= settings.LockWait)
                {
                    throw new RunnerException(FailureKind.Unavailable,
                        $"the migration lock on {settings.Target} was not obtained within {settings.LockWait.TotalSeconds:0} s: another migration run holds it{Named(await HoldersAsync(connection))}");
                }

                if (clock.Elapsed - lastReport >= TimeSpan.FromSeconds(5) || lastReport == TimeSpan.Zero)
                {
                    var holders = await HoldersAsync(connection);
                    console.Info($"waiting for the migration lock: another migration run holds it{Named(holders)}",
                        ("waited_s", Math.Round(clock.Elapsed.TotalSeconds, 1)), ("blocker", holders.Count == 0 ? null : holders));
                    lastReport = clock.Elapsed == TimeSpan.Zero ? TimeSpan.FromTicks(1) : clock.Elapsed;
                }

                await Task.Delay(poll, cancellationToken);
                poll = TimeSpan.FromMilliseconds(Math.Min(poll.TotalMilliseconds * 1.5, 1000));
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A condition true while some session holds the lock on the current database; give it <see cref="AddKeyParameters"/>.
    /// </summary>
    public const string HeldCondition =
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = @space::oid AND objid = @key::oid AND granted)";

    /// <summary>The lock's key as the parameters <see cref="HeldCondition"/> names (@space, @key).</summary>
    public static void AddKeyParameters(NpgsqlCommand command)
    {
        command.Parameters.AddWithValue("space", (long)KeySpace);
        command.Parameters.AddWithValue("key", (long)Key);
    }

    /// <summary>True when some session holds the lock on this database: how the tests see that no run left it behind.</summary>
    public static async Task<bool> IsHeldAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand($"SELECT {HeldCondition}", connection);
        AddKeyParameters(command);
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_connection.State == System.Data.ConnectionState.Open)
            {
                await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock(@space, @key)", _connection);
                command.Parameters.AddWithValue("space", KeySpace);
                command.Parameters.AddWithValue("key", Key);
                await command.ExecuteScalarAsync();
            }
        }
        catch (NpgsqlException)
        {
            // Closing the session below releases the lock all the same.
        }
        finally
        {
            await _connection.DisposeAsync();
        }
    }

    private static string Named(IReadOnlyList<Blocker> holders) => holders.Count == 0 ? "" : $" ({LockBlockers.Describe(holders).Replace("blocked by", "held by", StringComparison.Ordinal)})";

    /// <summary>The session holding the migration lock, described like any other blocker (pid, application, state, transaction age, query).</summary>
    private static async Task<IReadOnlyList<Blocker>> HoldersAsync(NpgsqlConnection connection)
    {
        try
        {
            await using var command = new NpgsqlCommand(
                """
                SELECT l.pid FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.classid = @space::oid AND l.objid = @key::oid AND l.granted
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                LIMIT 1
                """, connection);
            command.Parameters.AddWithValue("space", (long)KeySpace);
            command.Parameters.AddWithValue("key", (long)Key);
            if (await command.ExecuteScalarAsync() is not int pid)
            {
                return [];
            }

            return LockBlockers.ReadSession(connection, pid);
        }
        catch (NpgsqlException)
        {
            return [];
        }
    }
}
