using System.Globalization;
using System.Reflection;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.TestRunner;

namespace OgelBase.Migrations.Tests.Failure;

/// <summary>
/// SIGKILL anywhere: for every migration, opt-ins included, up and down, the runner is killed inside the migration.
/// The test host holds the runner inside an open transaction of its migration session (<see cref="TransactionHold"/>),
/// so the kill lands there by construction, whatever the machine's speed, and the test confirms after the kill that it
/// did: the runner was ended by the signal (it did not exit on its own), the transaction the server had open at the
/// kill was rolled back, and the version is still unrecorded (up) or still recorded (down). After each kill the database
/// is at a consistent recorded version, the lock is free, and the next run completes and verifies.
/// </summary>
/// <remarks>
/// "Inside" for an online migration (8, 9, 11), which commits each statement on its own, means inside one of its
/// transactions with the version not yet recorded (up) or not yet removed (down): its completed steps stay, and the
/// re-run completes it. For a transactional migration the whole of it must be rolled back: the catalog is as before.
/// </remarks>
// Each case kills its own runner on its own database, so the cases run side by side.
[Parallelizable(ParallelScope.Children)]
public sealed class CrashTests
{
    // Where the hold begins, in ms after the migration began: 0 holds in its first transaction (always reached), 700 and
    // 1500 further in on the longer migrations (a migration over before then runs to its end, and that kill is not counted).
    private static readonly int[] HoldAfterMilliseconds = [0, 700, 1500];

    // The opt-ins (7, 9) are the suite's slowest cases to set up; one kill point each, in their first transaction.
    private static readonly int[] OptInHoldAfterMilliseconds = [0];

    // FluentMigrator's lines before and after each statement are each held this long (about 300 ms a statement), so a
    // migration lasts long enough for the later hold points to land on later statements.
    private const string StatementDelayMilliseconds = "100";

    /// <summary>SIGKILL as .NET reports it for a child process: 128 + 9.</summary>
    private const int KilledBySigkill = 137;

    private static IEnumerable<long> Versions => KnownMigrations.All.Select(m => m.Version);

    [TestCaseSource(nameof(Versions))]
    public async Task Killing_the_runner_inside_migration_up_leaves_a_consistent_version_and_the_next_run_completes(long version)
    {
        var migration = KnownMigrations.Find(version)!;
        var previous = Previous(version);
        await AssertKillsLandAndRecoverAsync(migration, "up", "migration", async holdAfter =>
        {
            await using var db = previous > 0 ? await MigratedAsync(migration, ["--to", Str(previous)]) : await TestDatabase.CreateAsync();

            var before = await Catalog.SnapshotAsync(db);
            var recordedBefore = await db.RecordedVersionsAsync();
            var landed = await KillInsideAsync(db, holdAfter, ["migrate", "up", .. UpArgs(migration)]);

            var recorded = await db.RecordedVersionsAsync();
            if (landed)
            {
                Assert.That(recorded, Does.Not.Contain(version), $"killed inside {migration.Label} (hold at {holdAfter} ms): its version must not be recorded");
                if (migration.Transactional)
                {
                    Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), $"kill at {holdAfter} ms left part of {migration.Label} behind");
                    Assert.That(recorded, Is.EqualTo(recordedBefore));
                }
            }
            else
            {
                Assert.That(recorded, Does.Contain(version), $"{migration.Label} ran to its end before the hold at {holdAfter} ms");
            }

            var rerun = await db.RunAsync(["migrate", "up", .. UpArgs(migration)]);
            Assert.That(rerun.ExitCode, Is.EqualTo(0), rerun.ToString());
            Assert.That(await db.RecordedVersionsAsync(), Does.Contain(version));
            var verify = await db.RunAsync("verify");
            Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
            return landed;
        });
    }

    [TestCaseSource(nameof(Versions))]
    public async Task Killing_the_runner_inside_migration_down_leaves_a_consistent_version_and_the_next_run_completes(long version)
    {
        var migration = KnownMigrations.Find(version)!;
        var previous = Previous(version);
        await AssertKillsLandAndRecoverAsync(migration, "down", "Down", async holdAfter =>
        {
            await using var db = await MigratedAsync(migration, UpArgs(migration));
            var before = await Catalog.SnapshotAsync(db);

            var landed = await KillInsideAsync(db, holdAfter, "rollback", Str(previous), "--allow-data-loss");

            var recorded = await db.RecordedVersionsAsync();
            if (landed)
            {
                Assert.That(recorded, Does.Contain(version), $"killed inside {migration.Label}'s Down (hold at {holdAfter} ms): its version must still be recorded");
                if (migration.Transactional)
                {
                    Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), $"kill at {holdAfter} ms left part of {migration.Label}'s Down behind");
                }
            }
            else
            {
                Assert.That(recorded, Does.Not.Contain(version), $"{migration.Label}'s Down ran to its end before the hold at {holdAfter} ms");
            }

            var rerun = await db.RunAsync("rollback", Str(previous), "--allow-data-loss");
            Assert.That(rerun.ExitCode, Is.EqualTo(0), rerun.ToString());
            Assert.That(await db.RecordedVersionsAsync(), Does.Not.Contain(version));
            var up = await db.RunAsync(["migrate", "up", .. UpArgs(migration)]);
            Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
            return landed;
        });
    }

    /// <summary>
    /// One kill and recovery per hold point of <paramref name="migration"/>; <paramref name="killAndRecoverAt"/> says
    /// whether its kill landed inside <paramref name="inside"/>. A hold point the migration outran proves nothing, so at
    /// least one kill must land for the test to mean anything.
    /// </summary>
    private static async Task AssertKillsLandAndRecoverAsync(KnownMigration migration, string direction, string inside, Func<int, Task<bool>> killAndRecoverAt)
    {
        var kills = 0;
        foreach (var holdAfter in HoldPoints(migration))
        {
            kills += await killAndRecoverAt(holdAfter) ? 1 : 0;
        }

        TestContext.Out.WriteLine($"{migration.Label} {direction}: {kills} kills inside the {inside}, {HoldPoints(migration).Length} recoveries");
        Assert.That(kills, Is.GreaterThanOrEqualTo(1), $"the premise: at least one kill landed inside the {inside}'s transaction");
    }

    /// <summary>
    /// Runs the runner held inside its migration's first open transaction from <paramref name="holdAfterMilliseconds"/>
    /// on, kills it there, and proves afterwards that the kill landed inside that transaction.
    /// </summary>
    /// <returns>True when the kill landed inside the migration; false when the migration ended before the hold point (the run then finished on its own).</returns>
    private static async Task<bool> KillInsideAsync(TestDatabase db, int holdAfterMilliseconds, params string[] args)
    {
        var holdFile = Path.Combine(Path.GetTempPath(), $"ogelbase-hold-{Guid.NewGuid():N}");
        try
        {
            using var runner = RunnerProcess.Start(
                new Dictionary<string, string?>
                {
                    ["DATABASE_URL"] = db.Url,
                    [TestPauses.StatementDelayVariable] = StatementDelayMilliseconds,
                    [TestPauses.BatchDelayVariable] = "100",
                    [TestPauses.HoldVariable] = Str(holdAfterMilliseconds),
                    [TestPauses.HoldFileVariable] = holdFile,
                },
                args);

            var heldPid = await WaitForHoldAsync(holdFile, runner, TimeSpan.FromSeconds(60));
            if (heldPid is null)
            {
                var finished = await runner.WaitAsync(TimeSpan.FromSeconds(30));
                Assert.That(finished.ExitCode, Is.EqualTo(0), $"no hold point was reached, so the run must have completed: {finished}");
                return false;
            }

            // The premise, as the server sees it just before the kill: the held session is the run's migration session,
            // inside an open transaction, and the migration lock is held. The runner cannot leave that transaction: it is held.
            var held = await HeldTransactionAsync(db, heldPid.Value);
            Assert.That(held, Is.Not.Null, $"the held backend {heldPid} is the run's migration session ('ogelbase-migrate <id>') inside an open transaction while the migration lock is held");

            runner.Kill();
            var result = await runner.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.That(result.ExitCode, Is.EqualTo(KilledBySigkill), $"the run was ended by SIGKILL, not by itself: {result}");
            Assert.That(await RunnerSessions.WaitForLockFreeAsync(db, TimeSpan.FromSeconds(15)), Is.True, "the killed runner's lock was freed");
            Assert.That(await WaitForBackendGoneAsync(db, heldPid.Value, TimeSpan.FromSeconds(15)), Is.True, "the killed runner's migration session ended");
            if (held!.Xid is { } xid)
            {
                // A transaction that wrote has an id: the server's own record says whether it committed.
                Assert.That(await TransactionStatusAsync(db, xid), Is.EqualTo("aborted"), "the transaction open at the kill was rolled back, not committed");
            }

            TestContext.Out.WriteLine($"{string.Join(' ', args)}: held from {holdAfterMilliseconds} ms, killed inside backend {heldPid}'s transaction"
                                      + (held.Xid is { } id ? $" {id}, rolled back" : " (before its first write)"));
            return true;
        }
        finally
        {
            File.Delete(holdFile);
        }
    }

    /// <summary>The held session's pid once the test host announces the hold; null if the runner exits without holding.</summary>
    private static async Task<int?> WaitForHoldAsync(string holdFile, RunnerProcess runner, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var exited = runner.HasExited;
            if (File.Exists(holdFile))
            {
                return int.Parse(await File.ReadAllTextAsync(holdFile), CultureInfo.InvariantCulture);
            }

            if (exited)
            {
                return null;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"the runner neither held inside a transaction nor exited within {timeout.TotalSeconds:0} s");
        return null;
    }

    /// <summary>
    /// The held backend's open transaction (with its id, if it has written), when that backend is a runner's migration
    /// session inside a transaction while the migration lock is held (RunnerSessions.WaitForOpenTransactionAsync's
    /// condition, for this session); null otherwise.
    /// </summary>
    private static async Task<HeldTransaction?> HeldTransactionAsync(TestDatabase db, int pid)
    {
        await using var connection = await db.OpenForQueryAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT a.backend_xid::text
            FROM pg_stat_activity a
            WHERE a.pid = @pid AND a.datname = current_database() AND a.application_name LIKE 'ogelbase-migrate %'
              AND a.xact_start IS NOT NULL AND a.state = 'idle in transaction'
              AND EXISTS (SELECT 1 FROM pg_locks l
                          WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                            AND l.classid = @space::oid AND l.objid = @key::oid AND l.granted)
            """, connection);
        command.Parameters.AddWithValue("pid", pid);
        command.Parameters.AddWithValue("space", (long)MigrationLock.KeySpace);
        command.Parameters.AddWithValue("key", (long)MigrationLock.Key);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return new HeldTransaction(reader.IsDBNull(0) ? null : long.Parse(reader.GetString(0), CultureInfo.InvariantCulture));
    }

    /// <summary>An open transaction of a held runner; <paramref name="Xid"/> once it has written something.</summary>
    private sealed record HeldTransaction(long? Xid);

    private static async Task<bool> WaitForBackendGoneAsync(TestDatabase db, int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!await db.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {pid})"))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    /// <summary>pg_xact_status of a 32-bit transaction id seen in pg_stat_activity, widened to its full id (it is recent).</summary>
    private static async Task<string> TransactionStatusAsync(TestDatabase db, long xid) =>
        await db.ScalarAsync<string>(
            $"""
            SELECT pg_xact_status((next_xid - ((next_xid % 4294967296) - {xid} + 4294967296) % 4294967296)::text::xid8)
            FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid) s
            """);

    private static int[] HoldPoints(KnownMigration migration) => migration.OptIn is null ? HoldAfterMilliseconds : OptInHoldAfterMilliseconds;

    /// <summary>The version a rollback of this migration goes back to: the newest non-opt-in version below it.</summary>
    private static long Previous(long version) =>
        KnownMigrations.All.Where(m => m.Version < version && m.OptIn is null).Select(m => m.Version).DefaultIfEmpty(0).Max();

    /// <summary><c>migrate up</c>'s arguments that apply exactly this migration on top of <see cref="Previous"/>.</summary>
    private static string[] UpArgs(KnownMigration migration) =>
        migration.OptIn is null ? ["--to", Str(migration.Version)] : ["--to", Str(migration.Version), "--include", Str(migration.Version)];

    /// <summary>
    /// A database at <paramref name="upArgs"/>' state, with what the migration's preconditions need: 009's is GoTrue's
    /// auth.users, the only precondition any migration declares.
    /// </summary>
    private static Task<TestDatabase> MigratedAsync(KnownMigration migration, string[] upArgs) =>
        migration.Type.GetCustomAttributes<PreconditionAttribute>().Any()
            ? TestDatabase.MigratedAsync(GoTrueAuth.InTemplate, upArgs)
            : TestDatabase.MigratedAsync(upArgs);

    private static string Str(long version) => version.ToString(CultureInfo.InvariantCulture);
}
