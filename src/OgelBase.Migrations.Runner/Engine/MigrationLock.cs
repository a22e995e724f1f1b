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
    // 'ogel' and 'base' as int32: shows up in pg_locks as classid/objid (how the tests see the lock).
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
                await using (var command = new NpgsqlCommand($"SELECT pg_try_advisory_lock({KeySpace}, {Key})", connection))
                {
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

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_connection.State == System.Data.ConnectionState.Open)
            {
                await using var command = new NpgsqlCommand($"SELECT pg_advisory_unlock({KeySpace}, {Key})", _connection);
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
                $"""
                SELECT l.pid FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.classid = {KeySpace} AND l.objid = {Key} AND l.granted
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                LIMIT 1
                """, connection);
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
