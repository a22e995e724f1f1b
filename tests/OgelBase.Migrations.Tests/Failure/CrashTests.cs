using System.Globalization;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Failure;

/// <summary>
/// SIGKILL anywhere: for every migration, up and down, the runner is killed at several points inside the migration
/// (statements are slowed by a test hook so the kill lands between them, inside the transaction). After each kill the
/// database is at a consistent recorded version, the lock is free, and the next run completes and verifies.
/// </summary>
// Each case kills its own runner on its own database, so the cases run side by side.
[Parallelizable(ParallelScope.Children)]
public sealed class CrashTests
{
    // Counted from the moment the test sees the migration's transaction open. 0 kills at once, so even a migration of
    // two statements is killed inside its transaction on a loaded machine (150 ms was once too late for 004's, whose
    // transaction lasts a few hundred milliseconds); 700 and 1500 land further in on the longer migrations.
    private static readonly int[] KillAfterMilliseconds = [0, 700, 1500];

    // Each statement is held this long before it runs, so the transaction stays open long enough to be seen and killed.
    private const string StatementDelayMilliseconds = "200";

    private static IEnumerable<long> Versions => KnownMigrations.All.Where(m => m.OptIn is null).Select(m => m.Version);

    [TestCaseSource(nameof(Versions))]
    public async Task Killing_the_runner_inside_migration_up_leaves_a_consistent_version_and_the_next_run_completes(long version)
    {
        var migration = KnownMigrations.Find(version)!;
        var previous = KnownMigrations.All.Where(m => m.Version < version && m.OptIn is null).Select(m => m.Version).DefaultIfEmpty(0).Max();
        var kills = 0;
        foreach (var killAfter in KillAfterMilliseconds)
        {
            await using var db = previous > 0 ? await TestDatabase.MigratedAsync("--to", Str(previous)) : await TestDatabase.CreateAsync();

            var before = await Catalog.SnapshotAsync(db);
            var recordedBefore = await db.RecordedVersionsAsync();
            kills += await KillInsideAsync(db, killAfter, "migrate", "up", "--to", Str(version));

            var recorded = await db.RecordedVersionsAsync();
            if (!recorded.Contains(version) && migration.Transactional)
            {
                Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), $"kill at {killAfter} ms left part of {migration.Label} behind");
                Assert.That(recorded, Is.EqualTo(recordedBefore));
            }

            var rerun = await db.RunAsync("migrate", "up", "--to", Str(version));
            Assert.That(rerun.ExitCode, Is.EqualTo(0), rerun.ToString());
            Assert.That(await db.RecordedVersionsAsync(), Does.Contain(version));
            var verify = await db.RunAsync("verify");
            Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
        }

        TestContext.Out.WriteLine($"{migration.Label} up: {kills} kills inside the migration, {KillAfterMilliseconds.Length} recoveries");
        Assert.That(kills, Is.GreaterThanOrEqualTo(1), "the premise: at least one kill landed inside the migration's transaction, not after the run ended");
    }

    [TestCaseSource(nameof(Versions))]
    public async Task Killing_the_runner_inside_migration_down_leaves_a_consistent_version_and_the_next_run_completes(long version)
    {
        var migration = KnownMigrations.Find(version)!;
        var previous = KnownMigrations.All.Where(m => m.Version < version && m.OptIn is null).Select(m => m.Version).DefaultIfEmpty(0).Max();
        var kills = 0;
        foreach (var killAfter in KillAfterMilliseconds)
        {
            await using var db = await TestDatabase.MigratedAsync("--to", Str(version));
            var before = await Catalog.SnapshotAsync(db);

            kills += await KillInsideAsync(db, killAfter, "rollback", Str(previous), "--allow-data-loss");

            var recorded = await db.RecordedVersionsAsync();
            if (recorded.Contains(version) && migration.Transactional)
            {
                Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), $"kill at {killAfter} ms left part of {migration.Label}'s Down behind");
            }

            var rerun = await db.RunAsync("rollback", Str(previous), "--allow-data-loss");
            Assert.That(rerun.ExitCode, Is.EqualTo(0), rerun.ToString());
            Assert.That(await db.RecordedVersionsAsync(), Does.Not.Contain(version));
            var up = await db.RunAsync("migrate", "up", "--to", Str(version));
            Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        }

        TestContext.Out.WriteLine($"{migration.Label} down: {kills} kills inside the Down, {KillAfterMilliseconds.Length} recoveries");
        Assert.That(kills, Is.GreaterThanOrEqualTo(1), "the premise: at least one kill landed inside the down's transaction, not after the run ended");
    }

    /// <returns>1 when the kill landed inside the migration's transaction, 0 when the run had already finished.</returns>
    private static async Task<int> KillInsideAsync(TestDatabase db, int killAfterMilliseconds, params string[] args)
    {
        using var runner = RunnerProcess.Start(
            new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_STATEMENT_DELAY_MS"] = StatementDelayMilliseconds, ["OGELBASE_TEST_BATCH_DELAY_MS"] = "100" },
            args);
        var inside = await RunnerSessions.WaitForOpenTransactionAsync(db, TimeSpan.FromSeconds(30), runner);
        await Task.Delay(killAfterMilliseconds);
        var landed = inside && !runner.HasExited ? 1 : 0;
        runner.Kill();
        await runner.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(await RunnerSessions.WaitForLockFreeAsync(db, TimeSpan.FromSeconds(15)), Is.True, "the killed runner's lock was freed");
        return landed;
    }

    private static string Str(long version) => version.ToString(CultureInfo.InvariantCulture);
}
