using Npgsql;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>Watches a runner from the database side: its migration session, and the migration lock.</summary>
public static class RunnerSessions
{
    /// <summary>
    /// Waits until a runner's migration session (application_name 'ogelbase-migrate &lt;id&gt;') is inside a transaction
    /// while the migration lock is held: before the lock, the same session takes part in the pooler check.
    /// </summary>
    /// <param name="runner">
    /// The process being watched, if the test has one: once it has exited no transaction of its can open, and the
    /// wait ends there instead of at the timeout (a short online migration can finish between two looks).
    /// </param>
    public static async Task<bool> WaitForOpenTransactionAsync(TestDatabase db, TimeSpan timeout, RunnerProcess? runner = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var connection = await db.OpenAsync();
        while (DateTime.UtcNow < deadline && runner?.HasExited != true)
        {
            await using var command = new NpgsqlCommand(
                $"""
                SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'ogelbase-migrate %' AND xact_start IS NOT NULL)
                   AND {MigrationLock.HeldCondition}
                """,
                connection);
            MigrationLock.AddKeyParameters(command);
            if ((bool)(await command.ExecuteScalarAsync())!)
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    /// <summary>Waits until no session holds the migration lock (a killed client's backend may take a moment to notice).</summary>
    public static async Task<bool> WaitForLockFreeAsync(TestDatabase db, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var connection = await db.OpenAsync();
        while (DateTime.UtcNow < deadline)
        {
            if (!await MigrationLock.IsHeldAsync(connection))
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
