using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>
/// Behind a real PgBouncer: a transaction-mode pooler (Railway's PgBouncer template, Supabase's port 6543) is refused
/// before anything is touched; a session-mode pooler works like a direct connection, lock_timeout included.
/// </summary>
[NonParallelizable] // its subject is timing (lock waits, concurrent processes, progress intervals): it runs alone
public sealed class PoolerTests
{
    private static readonly long[] EveryDefaultVersion = KnownMigrations.All.Where(m => m.OptIn is null).Select(m => m.Version).ToArray();

    [Test]
    public async Task Migrate_up_through_a_transaction_mode_pooler_exits_2_naming_the_direct_url_and_creates_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await RefusedMigrateUpAsync(PgBouncer.Transaction, db);

        var errors = result.Stderr.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), result.ToString());
        Assert.That(errors[0], Does.Contain("transaction or statement mode").And.Contain("${{Postgres.DATABASE_URL}}").And.Contain("5432"));
        await using var direct = await db.OpenAsync();
        Assert.That(await MigrationLock.IsHeldAsync(direct), Is.False, "no lock left on a pooled server session");
    }

    [Test]
    public async Task Migrate_up_through_a_statement_mode_pooler_exits_2_and_creates_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await RefusedMigrateUpAsync(PgBouncer.Statement, db);

        Assert.That(result.Stderr, Does.Contain("transaction or statement mode").And.Contain("direct URL"));
    }

    [Test]
    public async Task Five_concurrent_runs_through_a_transaction_mode_pooler_are_all_refused_and_the_direct_url_then_migrates_at_once()
    {
        await using var db = await TestDatabase.CreateAsync();
        foreach (var result in await RunnerProcess.RunTogetherAsync(5, Through(PgBouncer.Transaction, db), TimeSpan.FromMinutes(3), "migrate", "up"))
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        }

        Assert.That(await db.RecordedVersionsAsync(), Is.Empty);
        var direct = await db.RunAsync("migrate", "up", "--lock-timeout", "2");
        Assert.That(direct.ExitCode, Is.EqualTo(0), direct.ToString());
    }

    [Test]
    public async Task Five_concurrent_migrate_up_through_a_session_mode_pooler_all_exit_0_and_record_every_version_once()
    {
        await using var db = await TestDatabase.CreateAsync();
        foreach (var result in await RunnerProcess.RunTogetherAsync(5, Through(PgBouncer.Session, db), TimeSpan.FromMinutes(5), "migrate", "up"))
        {
            Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        }

        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(EveryDefaultVersion));
        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
        await using var direct = await db.OpenAsync();
        Assert.That(await MigrationLock.IsHeldAsync(direct), Is.False, "the pooled server sessions kept no lock");
    }

    [Test]
    public async Task A_run_killed_behind_a_session_mode_pooler_leaves_no_lock_because_pgbouncer_resets_the_server_session()
    {
        await using var db = await TestDatabase.CreateAsync();
        var environment = Through(PgBouncer.Session, db);
        environment["OGELBASE_TEST_STATEMENT_DELAY_MS"] = "300";
        using (var runner = RunnerProcess.Start(environment, "migrate", "up", "--to", "1"))
        {
            Assert.That(await RunnerSessions.WaitForOpenTransactionAsync(db, TimeSpan.FromSeconds(60)), Is.True, "the run reached its migration");
            await using (var direct = await db.OpenAsync())
            {
                Assert.That(await MigrationLock.IsHeldAsync(direct), Is.True, "the run holds the migration lock through the pooler");
            }

            runner.Kill();
        }

        // The killed client's server sessions stay with PgBouncer; its reset (DISCARD ALL, which runs pg_advisory_unlock_all)
        // or the closing of a session left inside a transaction is what frees the lock.
        Assert.That(await RunnerSessions.WaitForLockFreeAsync(db, TimeSpan.FromSeconds(60)), Is.True, "the lock was released");
        var next = await db.RunAsync("migrate", "up", "--lock-timeout", "2");
        Assert.That(next.ExitCode, Is.EqualTo(0), next.ToString());
    }

    [Test]
    public async Task Lock_timeout_is_in_force_through_a_session_mode_pooler_and_the_blocking_session_is_named()
    {
        await using var db = await TestDatabase.CreateAsync();
        Assert.That((await db.RunAsync("migrate", "up", "--to", "2")).ExitCode, Is.EqualTo(0));
        await using var app = await AppTransaction.BeginAsync(db, "studio-holding-organizations", "LOCK TABLE platform.organizations IN SHARE MODE");
        var appPid = app.ProcessId;

        // Migration 3 references organizations and needs a lock SHARE conflicts with. Without lock_timeout in force
        // (PgBouncer drops "-c lock_timeout" startup options) it would wait for ever behind the open transaction.
        var run = Cli.RunAsync(Through(PgBouncer.Session, db), "migrate", "up", "--to", "3", "--statement-lock-timeout", "300");
        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromMinutes(2))) != run)
        {
            await app.RollbackAsync();
            Assert.Fail("migrate up waited for the lock without a lock_timeout");
        }

        var result = await run;
        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        var error = result.Stderr.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.That(error, Does.Contain("55P03").And.Contain($"pid {appPid} (studio-holding-organizations, idle in transaction"));
        Assert.That(result.Stderr, Does.Contain("reached waiting for a table lock; blocked by pid " + appPid), "each retry names it too");
        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(new long[] { 1, 2 }));
    }

    [Test]
    public async Task Session_mode_rollback_and_status_work_through_the_pooler()
    {
        await using var db = await TestDatabase.CreateAsync();
        var environment = Through(PgBouncer.Session, db);
        Assert.That((await Cli.RunAsync(environment, "migrate", "up")).ExitCode, Is.EqualTo(0));
        var rollback = await Cli.RunAsync(environment, "rollback", "6");
        Assert.That(rollback.ExitCode, Is.EqualTo(0), rollback.ToString());
        var status = await Cli.RunAsync(environment, "status", "--json");
        Assert.That(status.ExitCode, Is.EqualTo(0), status.ToString());
        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6 }));
    }

    /// <summary>migrate up through <paramref name="pooler"/>: refused with exit 2, and nothing in the database changed.</summary>
    private static async Task<CliResult> RefusedMigrateUpAsync(PgBouncer pooler, TestDatabase db)
    {
        var before = await Catalog.ImageAsync(db);
        var result = await Cli.RunAsync(Through(pooler, db), "migrate", "up");
        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(await Catalog.ImageAsync(db), Is.EqualTo(before), "nothing was created");
        return result;
    }

    private static Dictionary<string, string?> Through(PgBouncer pooler, TestDatabase db) => new() { ["DATABASE_URL"] = pooler.UrlFor(db) };
}
