using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>When the runner waits on a lock or gives up on one, it says who holds it: pid, application, state, transaction age, query.</summary>
[NonParallelizable] // its subject is timing (lock waits, concurrent processes, progress intervals): it runs alone
public sealed class BlockerTests
{
    [Test]
    public async Task Migration_8_giving_up_on_its_lock_timeout_names_the_open_transaction_holding_platform_users()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 20);
        await using var app = await AppTransaction.BeginAsync(db, "studio-report-job", "LOCK TABLE platform.users IN SHARE MODE; SELECT count(*) FROM platform.users WHERE email <> 'secret-literal'");

        var result = await db.RunAsync("migrate", "up", "--to", "8", "--online-lock-timeout", "50", "--online-attempts", "5");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        var error = result.Stderr.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.That(error, Does.Contain($"blocked by pid {app.ProcessId} (studio-report-job, idle in transaction, transaction open "));
        Assert.That(error, Does.Contain("query: SELECT count(*) FROM platform.users WHERE email <> '…'"), "its query's first line, literals blanked");
        Assert.That(result.Stderr, Does.Not.Contain("secret-literal"));
        Assert.That(result.Stderr, Does.Contain("on attempt 4 of 5; nothing held, retrying in").And.Contain($"blocked by pid {app.ProcessId}"));
    }

    [Test]
    public async Task A_concurrent_index_build_waiting_for_an_old_transaction_names_it_while_it_waits()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 50);

        // A reporting transaction with a snapshot older than the build: CREATE INDEX CONCURRENTLY must wait for it.
        await using var app = await AppTransaction.BeginAsync(db, "studio-long-report", "SELECT count(*) FROM platform.organizations", System.Data.IsolationLevel.RepeatableRead);

        var result = await db.RunAsync("migrate", "up", "--to", "8", "--statement-lock-timeout", "1500", "--online-attempts", "2", "--progress-interval", "0.2");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Match(@"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_active_org ON platform\.users …: waiting for [a-z ]+ for \d+ ms; blocked by pid " + app.ProcessId + @" \(studio-long-report, idle in transaction"),
            "the index build says which transaction it waits for, while it waits");
        await app.CommitAsync();

        var again = await db.RunAsync("migrate", "up", "--to", "8");
        Assert.That(again.ExitCode, Is.EqualTo(0), again.ToString());
    }

    [Test]
    public async Task A_transactional_migration_retrying_on_lock_timeout_names_the_blocker_in_each_retry_line()
    {
        await using var db = await TestDatabase.CreateAsync();
        Assert.That((await db.RunAsync("migrate", "up", "--to", "2")).ExitCode, Is.EqualTo(0));
        await using var app = await AppTransaction.BeginAsync(db, "studio-billing", "LOCK TABLE platform.organizations IN SHARE MODE");

        var run = db.RunAsync("migrate", "up", "--to", "3", "--statement-lock-timeout", "400");
        while (!run.IsCompleted && !await SomeoneWaitsBehindAsync(db, app.ProcessId))
        {
            await Task.Delay(50);
        }

        // Released after the first timeout: the retry succeeds, and its line named who was in the way.
        await Task.Delay(TimeSpan.FromSeconds(1));
        await app.CommitAsync();
        var result = await run;

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain($"reached waiting for a table lock; blocked by pid {app.ProcessId} (studio-billing, idle in transaction"));
    }

    [Test]
    public async Task The_migration_lock_wait_names_the_holding_session_with_its_state_and_transaction_age()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var holder = await db.OpenAsAsync("ops-manual-hold");
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(1869047148, 1650553701)", holder))
        {
            await take.ExecuteNonQueryAsync();
        }

        var result = await db.RunAsync("migrate", "up", "--lock-timeout", "1");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.Stderr, Does.Contain($"waiting for the migration lock: another migration run holds it (held by pid {holder.ProcessID} (ops-manual-hold, idle, transaction open none, query: SELECT pg_advisory_lock"));
    }

    private static async Task<bool> SomeoneWaitsBehindAsync(TestDatabase db, int pid) =>
        await db.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE {pid} = ANY (pg_blocking_pids(pid)))");
}
