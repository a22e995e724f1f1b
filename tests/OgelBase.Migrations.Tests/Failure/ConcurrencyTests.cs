using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Failure;

/// <summary>Deploys that overlap: runners queue on the migration lock; none fails, none applies a version twice.</summary>
[NonParallelizable] // its subject is timing (signals, lock waits, concurrent processes, online DDL under load): it runs alone
public sealed class ConcurrencyTests
{
    [Test]
    public async Task Migrate_up_racing_rollback_from_five_processes_never_fails_and_leaves_a_consistent_recorded_version()
    {
        await using var db = await TestDatabase.MigratedAsync();
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a');
            INSERT INTO platform.users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'one@example.test');
            INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001', 'owner');
            """);

        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url };
        string[][] commands = [["migrate", "up"], ["rollback", "6"], ["migrate", "up"], ["rollback", "6"], ["migrate", "up"]];
        var runners = commands.Select(args => RunnerProcess.Start(environment, args)).ToList();
        try
        {
            var results = await Task.WhenAll(runners.Select(r => r.WaitAsync(TimeSpan.FromMinutes(5))));
            foreach (var result in results)
            {
                Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
            }
        }
        finally
        {
            runners.ForEach(r => r.Dispose());
        }

        // Whichever ran last decided the version; either way the catalog matches what is recorded, and the user's
        // active organization survived every rollback and re-apply in between.
        var recorded = await db.RecordedVersionsAsync();
        Assert.That(recorded, Is.Unique);
        Assert.That(recorded.Take(6), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6 }));
        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(await db.ScalarAsync<string>("SELECT active_org_id::text FROM platform.users"), Is.EqualTo("00000000-0000-0000-0000-0000000000a1"));
    }

    [Test]
    public async Task A_runner_with_a_lock_timeout_shorter_than_a_running_migration_exits_3_with_a_clear_line()
    {
        await using var db = await TestDatabase.CreateAsync();
        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_STATEMENT_DELAY_MS"] = "100" };
        using var slow = RunnerProcess.Start(environment, "migrate", "up", "--to", "1");
        Assert.That(await RunnerSessions.WaitForOpenTransactionAsync(db, TimeSpan.FromSeconds(30)), Is.True);

        var impatient = await RunnerProcess.RunAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url }, "migrate", "up", "--lock-timeout", "1");
        Assert.That(impatient.ExitCode, Is.EqualTo(3), impatient.ToString());
        Assert.That(impatient.Stderr.Split('\n').Count(l => l.StartsWith("error:", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(impatient.Stderr, Does.Contain("migration lock"));
        Assert.That(slow.HasExited, Is.False, "the premise: the first run held the lock for the whole of the second one's wait");

        var first = await slow.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.That(first.ExitCode, Is.EqualTo(0), first.ToString());
    }
}
