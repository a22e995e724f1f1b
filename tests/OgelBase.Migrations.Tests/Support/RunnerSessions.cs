using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>Watches a runner from the database side: its migration session, and the migration lock.</summary>
public static class RunnerSessions
{
    /// <summary>
    /// The migration lock seen from outside, for tests only: the runner itself just takes and releases it. Written as
    /// static members of <see cref="MigrationLock"/> (a C# 14 extension), so a test reads <c>MigrationLock.IsHeldAsync(…)</c>.
    /// </summary>
    extension(MigrationLock)
    {
        /// <summary>A condition true while some session holds the lock on the current database; give it <see cref="AddKeyParameters"/>.</summary>
        public static string HeldCondition =>
            "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = @space::oid AND objid = @key::oid AND granted)";

        /// <summary>The lock's key as the parameters <see cref="HeldCondition"/> names (@space, @key).</summary>
        public static void AddKeyParameters(NpgsqlCommand command)
        {
            command.Parameters.AddWithValue("space", (long)MigrationLock.KeySpace);
            command.Parameters.AddWithValue("key", (long)MigrationLock.Key);
        }

        /// <summary>Another session that takes the lock on the database and holds it until the connection is closed.</summary>
        public static async Task<NpgsqlConnection> HoldAsync(TestDatabase db)
        {
            var holder = await db.OpenAsync();
            await using var take = new NpgsqlCommand($"SELECT pg_advisory_lock({MigrationLock.KeySpace}, {MigrationLock.Key})", holder);
            await take.ExecuteNonQueryAsync();
            return holder;
        }

        /// <summary>True when some session holds the lock on this database: how the tests see that no run left it behind.</summary>
        public static async Task<bool> IsHeldAsync(NpgsqlConnection connection)
        {
            await using var command = new NpgsqlCommand($"SELECT {MigrationLock.HeldCondition}", connection);
            MigrationLock.AddKeyParameters(command);
            return (bool)(await command.ExecuteScalarAsync())!;
        }
    }

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
