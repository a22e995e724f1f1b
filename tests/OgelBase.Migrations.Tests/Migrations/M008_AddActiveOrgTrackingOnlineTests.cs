using System.Diagnostics;
using OgelBase.Migrations.Runner.Engine;
using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>008 on a live database: killed runs, lock contention, leftovers of earlier attempts.</summary>
[NonParallelizable] // its subject is timing (signals, lock waits, concurrent processes, online DDL under load): it runs alone
public sealed class M008_AddActiveOrgTrackingOnlineTests
{
    private static Dictionary<string, string?> SlowBatches(TestDatabase db) => new()
    {
        ["DATABASE_URL"] = db.Url,
        ["OGELBASE_TEST_BATCH_DELAY_MS"] = "200",
    };

    [Test]
    public async Task A_runner_killed_mid_backfill_is_completed_by_a_rerun_with_correct_data_version_8_recorded_once_and_the_lock_free()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 300);
        var expected = await ExpectedByRuleAsync(db);
        var withOrg = expected.Values.Count(v => v is not null);

        using (var runner = RunnerProcess.Start(SlowBatches(db), "migrate", "up", "--to", "8", "--batch-size", "10"))
        {
            var clock = Stopwatch.StartNew();
            while (await FilledAsync(db) is < 20)
            {
                Assert.That(runner.HasExited, Is.False, "the runner finished before it could be killed");
                Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromMinutes(2)), "the backfill never started");
                await Task.Delay(20);
            }

            runner.Kill();
            await runner.WaitAsync(TimeSpan.FromSeconds(30));
        }

        var filled = await FilledAsync(db);
        Assert.That(filled, Is.GreaterThan(0).And.LessThan(withOrg), "killed in the middle of the backfill");
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0), "not recorded by a run that did not finish");

        var rerun = await db.UpAsync("--to", "8");
        Assert.That(rerun.Stderr, Does.Contain("ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id uuid NULL: done; PostgreSQL: column \"active_org_id\" of relation \"users\" already exists, skipping"));
        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(expected));
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(1));
        Assert.That(await db.ScalarAsync<bool>("SELECT indisvalid FROM pg_index WHERE indexrelid = 'platform.idx_users_active_org'::regclass"), Is.True);
        await using var connection = await db.OpenAsync();
        Assert.That(await MigrationLock.IsHeldAsync(connection), Is.False, "the migration lock is free");
    }

    [Test]
    public async Task A_rollback_killed_while_copying_is_completed_by_a_rerun_and_the_next_up_still_restores_every_choice()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 200);
        await db.UpAsync("--to", "8");
        await db.ExecuteAsync("""
            UPDATE platform.users u SET active_org_id = (SELECT max(m.organization_id::text)::uuid FROM platform.organization_members m WHERE m.user_id = u.id)
            """);
        var chosen = await ActiveOrgsAsync(db);
        var saved = chosen.Values.Count(v => v is not null);

        using (var runner = RunnerProcess.Start(SlowBatches(db), "rollback", Below8, "--batch-size", "10"))
        {
            var clock = Stopwatch.StartNew();
            while (await db.ScalarAsync<long>("SELECT CASE WHEN to_regclass('ogelbase_migrations.m008_saved_active_org') IS NULL THEN 0 ELSE 1 END") == 0
                   || await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.m008_saved_active_org") < 20)
            {
                Assert.That(runner.HasExited, Is.False, "the rollback finished before it could be killed");
                Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromMinutes(2)), "the copy never started");
                await Task.Delay(20);
            }

            runner.Kill();
            await runner.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.That(await ColumnExistsAsync(db), Is.True, "killed before the column was dropped");
        var rerun = await db.RollbackAsync(Below8);
        Assert.That(rerun.Stderr, Does.Contain($"saved {saved} users' active organization"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_trigger WHERE tgname = 'm008_capture_active_org'"), Is.EqualTo(0));

        await db.UpAsync("--to", "8");
        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(chosen));
    }

    [Test]
    public async Task While_another_session_holds_a_conflicting_lock_migrate_up_gives_up_naming_the_step_and_55P03_and_readers_never_queue_behind_it()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 20);
        await using var blocker = await db.OpenAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT count(*) FROM platform.users; LOCK TABLE platform.users IN SHARE MODE", blocker, transaction))
        {
            await hold.ExecuteNonQueryAsync();
        }

        using var stop = new CancellationTokenSource();
        var reader = Task.Run(() => MeasureReadsAsync(db, stop.Token));
        var clock = Stopwatch.StartNew();
        var result = await Task.Run(() => db.RunAsync("migrate", "up", "--to", "8", "--online-lock-timeout", "50", "--online-attempts", "5"));
        clock.Stop();
        await stop.CancelAsync();
        var (reads, queued, longest) = await reader;

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        var error = result.Stderr.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.That(error, Does.Contain("step 'ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id uuid NULL' gave up").And.Contain("55P03"));
        Assert.That(result.Stderr, Does.Contain("attempt 4 of 5"), "it retried before giving up");
        Assert.That(reads, Is.GreaterThan(10), "the reader ran during the migration");
        // Without the online lock_timeout the ALTER's lock request would wait for the blocker, and every read would
        // queue behind it until its own 500 ms lock_timeout; with it, a read waits at most ~50 ms per attempt.
        Assert.That(queued, Is.Zero,
            $"{queued} plain SELECTs waited over 500 ms for a lock while migrate up ran for {clock.Elapsed.TotalMilliseconds:0} ms (longest read {longest.TotalMilliseconds:0} ms)");
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0));
        Assert.That(await ColumnExistsAsync(db), Is.False);
    }

    [Test]
    public async Task When_the_conflicting_lock_is_released_during_the_retries_migrate_up_completes()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 20);
        var expected = await ExpectedByRuleAsync(db);
        await using var blocker = await db.OpenAsync();
        var transaction = await blocker.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT count(*) FROM platform.users; LOCK TABLE platform.users IN SHARE MODE", blocker, transaction))
        {
            await hold.ExecuteNonQueryAsync();
        }

        var run = Task.Run(() => db.RunAsync("migrate", "up", "--to", "8", "--online-lock-timeout", "50", "--online-attempts", "40"));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.That(run.IsCompleted, Is.False, "still retrying while the lock is held");
        await transaction.CommitAsync();
        await transaction.DisposeAsync();

        var result = await run;
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain("ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id uuid NULL: 55P03").And.Contain("retrying in"));
        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(expected));
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(1));
    }

    [Test]
    public async Task An_invalid_index_left_by_an_earlier_concurrent_build_is_dropped_and_rebuilt()
    {
        await using var db = await LeftBehindByAnEarlierRunAsync("""
            CREATE INDEX idx_users_active_org ON platform.users (active_org_id) WHERE active_org_id IS NOT NULL;
            UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'platform.idx_users_active_org'::regclass;
            """);

        var result = await db.UpAsync("--to", "8");

        Assert.That(result.Stderr, Does.Contain("dropping the INVALID index idx_users_active_org"));
        Assert.That(await db.ScalarAsync<bool>("SELECT indisvalid FROM pg_index WHERE indexrelid = 'platform.idx_users_active_org'::regclass"), Is.True);
    }

    [Test]
    public async Task A_failed_verification_fails_the_migration_and_leaves_version_8_unrecorded()
    {
        // An index under the expected name that is not the partial index: the build step accepts the name, the check does not.
        await using var db = await LeftBehindByAnEarlierRunAsync("""
            CREATE INDEX idx_users_active_org ON platform.users (active_org_id);
            """);

        var result = await db.RunAsync("migrate", "up", "--to", "8");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain("does not match 008 active organization tracking's manifest")
            .And.Contain("changed index platform.idx_users_active_org")
            .And.Contain("found CREATE INDEX idx_users_active_org ON platform.users USING btree (active_org_id)"), result.ToString());
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0));

        var rerun = await db.RunAsync("migrate", "up", "--to", "8");
        Assert.That(rerun.ExitCode, Is.EqualTo(1), rerun.ToString());
        Assert.That(rerun.Stderr, Does.Contain("changed index platform.idx_users_active_org"), "a re-run names the difference again");
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0));
    }

    [Test]
    public async Task A_foreign_key_an_earlier_run_left_not_valid_is_skipped_as_already_in_place_and_then_validated()
    {
        await using var db = await LeftBehindByAnEarlierRunAsync("""
            ALTER TABLE platform.users ADD CONSTRAINT users_active_org_id_fkey
              FOREIGN KEY (active_org_id) REFERENCES platform.organizations (id) ON DELETE SET NULL NOT VALID;
            """);

        var result = await db.UpAsync("--to", "8");

        Assert.That(result.Stderr, Does.Contain("ADD CONSTRAINT users_active_org_id_fkey")
            .And.Contain(": already in place, skipped (constraint \"users_active_org_id_fkey\" for relation \"users\" already exists)"));
        Assert.That(await db.ScalarAsync<bool>("SELECT convalidated FROM pg_constraint WHERE conname = 'users_active_org_id_fkey' AND conrelid = 'platform.users'::regclass"),
            Is.True);
    }

    [Test]
    public async Task A_foreign_key_of_that_name_defined_otherwise_fails_verification_and_leaves_version_8_unrecorded()
    {
        await using var db = await LeftBehindByAnEarlierRunAsync("""
            ALTER TABLE platform.users ADD CONSTRAINT users_active_org_id_fkey
              FOREIGN KEY (active_org_id) REFERENCES platform.organizations (id) ON DELETE CASCADE;
            """);

        var result = await db.RunAsync("migrate", "up", "--to", "8");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain("changed constraint platform.users.users_active_org_id_fkey")
            .And.Contain("found FOREIGN KEY (active_org_id) REFERENCES platform.organizations(id) ON DELETE CASCADE"), result.ToString());
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0));
    }

    /// <summary>Below 8, with what an earlier run of 008 that stopped part way left: its column and <paramref name="leftover"/>.</summary>
    private static async Task<TestDatabase> LeftBehindByAnEarlierRunAsync(string leftover)
    {
        var db = await TestDatabase.MigratedAsync("--to", Below8);
        await db.ExecuteAsync("ALTER TABLE platform.users ADD COLUMN active_org_id uuid;\n" + leftover);
        return db;
    }

    /// <summary>
    /// Reads platform.users in a loop until stopped. Each read may wait at most 500 ms for a lock (its own
    /// lock_timeout), so a read that queued behind the migration's lock request longer than that fails with 55P03 and
    /// is counted; time lost to a busy CPU is not a lock wait and is only reported (the longest read).
    /// </summary>
    private static async Task<(int Reads, int QueuedOverHalfASecond, TimeSpan Longest)> MeasureReadsAsync(TestDatabase db, CancellationToken stop)
    {
        await using var connection = await db.OpenAsync();
        await using (var limit = new NpgsqlCommand("SET lock_timeout = '500ms'", connection))
        {
            await limit.ExecuteNonQueryAsync(CancellationToken.None);
        }

        var reads = 0;
        var queued = 0;
        var longest = TimeSpan.Zero;
        while (!stop.IsCancellationRequested)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                await using var command = new NpgsqlCommand("SELECT count(*) FROM platform.users", connection);
                await command.ExecuteScalarAsync(CancellationToken.None);
                reads++;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                queued++;
            }

            longest = clock.Elapsed > longest ? clock.Elapsed : longest;
            await Task.Delay(5, CancellationToken.None);
        }

        return (reads, queued, longest);
    }
}
