namespace OgelBase.Migrations.Tests.Failure;

/// <summary>Ctrl-C and SIGTERM mid-migration: the transaction is rolled back, the lock released, the exit non-zero.</summary>
[NonParallelizable] // its subject is timing (signals, lock waits, concurrent processes, online DDL under load): it runs alone
public sealed class GracefulStopTests
{
    [TestCase(15, TestName = "SIGTERM_mid_migration_rolls_back_releases_the_lock_and_exits_130")]
    [TestCase(2, TestName = "Ctrl_C_mid_migration_rolls_back_releases_the_lock_and_exits_130")]
    public async Task A_signal_mid_migration_rolls_back_releases_the_lock_and_exits_non_zero(int signal)
    {
        await using var db = await TestDatabase.CreateAsync();
        var before = await Catalog.SnapshotAsync(db);
        using var runner = RunnerProcess.Start(
            new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_STATEMENT_DELAY_MS"] = "400" },
            "migrate", "up", "--to", "1");

        Assert.That(await RunnerSessions.WaitForOpenTransactionAsync(db, TimeSpan.FromSeconds(30)), Is.True, "the runner got inside migration 1");
        Assert.That(runner.Ignores(signal), Is.False, "the premise: the signal reaches the runner, as from a terminal or the platform");
        await Task.Delay(600);
        runner.Signal(signal);

        var result = await runner.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(result.ExitCode, Is.EqualTo(130), result.ToString());
        Assert.That(result.Stderr, Does.Contain("interrupted"));
        Assert.That(result.Stderr, Does.Not.Contain("   at "));
        Assert.That(await RunnerSessions.WaitForLockFreeAsync(db, TimeSpan.FromSeconds(10)), Is.True, "lock released");
        Assert.That(await db.RecordedVersionsAsync(), Is.Empty, "version 1 not recorded");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "migration 1 rolled back entirely");

        var rerun = await db.RunAsync("migrate", "up", "--to", "1");
        Assert.That(rerun.ExitCode, Is.EqualTo(0), rerun.ToString());
    }
}
