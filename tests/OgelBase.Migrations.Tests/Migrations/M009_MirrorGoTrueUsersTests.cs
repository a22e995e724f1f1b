using System.Diagnostics;
using System.Text.Json;
using OgelBase.Migrations.Runner.Engine;
using static OgelBase.Migrations.Tests.Support.MirroredUsers;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>When 009 runs at all (it needs GoTrue's auth.users), its backfill, order after 10, rollback, re-run, and the production path with the original applied by hand.</summary>
public sealed class M009_MirrorGoTrueUsersTests
{
    private const string EveryUserOwnsAtMostOneOrg =
        "SELECT count(*) FROM (SELECT user_id FROM platform.organization_members WHERE role = 'owner' GROUP BY user_id HAVING count(*) > 1) d";

    private static async Task<List<string>> RecordedAsync(TestDatabase db) =>
        await db.ColumnAsync("SELECT version::text FROM ogelbase_migrations.version_info ORDER BY applied_on, version");

    /// <summary>GoTrue users that exist before 9: plain, confirmed, soft-deleted, bad address, no address.</summary>
    private static async Task<Guid[]> SeedExistingAsync(GoTrueAuth gotrue, int plain)
    {
        var ids = new List<Guid>();
        for (var i = 0; i < plain; i++)
        {
            ids.Add(await gotrue.SignUpAsync($"user{i}@example.com", confirmed: i % 2 == 0));
        }

        var deleted = await gotrue.SignUpAsync("deleted@example.com");
        await gotrue.SoftDeleteAsync(deleted);
        var bad = await gotrue.SignUpAsync("o'brien@example.com");
        var phone = await gotrue.SignUpAsync(null, phone: "15550000001");
        return [.. ids, deleted, bad, phone];
    }

    [Test]
    public async Task Without_include_9_is_held_back_and_status_says_it_needs_gotrue()
    {
        await using var db = await TestDatabase.CreateAsync();
        var up = await db.UpAsync();
        Assert.That(up.Stderr, Does.Contain("use --include 9"));

        var status = await db.RunAsync("status", "--json");
        using var json = JsonDocument.Parse(status.Stdout);
        var nine = json.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == 9);
        Assert.That(nine.GetProperty("state").GetString(), Is.EqualTo("held_back"));
        Assert.That(nine.GetProperty("reason").GetString(), Does.Contain("auth.users"));
    }

    [Test]
    public async Task Include_9_without_auth_users_is_refused_with_one_line_before_anything_changes()
    {
        await using var db = await TestDatabase.CreateAsync();

        var up = await db.RunAsync("migrate", "up", "--include", "9");

        Assert.That(up.ExitCode, Is.EqualTo(1), up.ToString());
        var errors = up.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("refused", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Has.Count.EqualTo(1), up.ToString());
        Assert.That(errors[0], Does.Contain("auth.users").And.Contain("Nothing was changed"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname IN ('platform', 'ogelbase_migrations')"), Is.Zero,
            "neither the platform schema nor the version table was created");
    }

    [Test]
    public async Task A_dry_run_with_include_9_without_auth_users_is_refused_the_same_way()
    {
        await using var db = await TestDatabase.CreateAsync();

        var dry = await db.RunAsync("migrate", "up", "--include", "9", "--dry-run");

        Assert.That(dry.ExitCode, Is.EqualTo(1), dry.ToString());
        Assert.That(dry.Stderr, Does.Contain("auth.users"));
    }

    [Test]
    public async Task On_a_database_at_10_the_up_applies_9_after_10_and_backfills_existing_gotrue_users_once_each()
    {
        await using var db = await TestDatabase.MigratedAsync();
        await using var gotrue = await GoTrueAuth.CreateAsync(db);
        var seeded = await SeedExistingAsync(gotrue, plain: 25);
        var appUser = Guid.NewGuid();
        await db.ExecuteAsync($"INSERT INTO platform.users (id, email) VALUES ('{appUser}', 'app.user@example.com')");
        await gotrue.SignUpAsync("app.user@example.com", id: appUser);

        var up = await db.UpAsync("--include", "9");
        Assert.That(up.Stderr, Does.Contain("applied 1 migration (009)"));
        Assert.That((await RecordedAsync(db))[^1], Is.EqualTo("9"), "recorded after 10");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.users u JOIN auth.users a ON a.id = u.id WHERE a.deleted_at IS NULL AND u.deleted_at IS NULL"), Is.EqualTo(26),
            "25 plain users and the app's own user with the same id");
        Assert.That(await db.ScalarAsync<long>($"SELECT count(*) FROM platform.users WHERE id = '{seeded[25]}'"), Is.Zero, "a user deleted before 9 is not mirrored");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.auth_user_sync_failures"), Is.EqualTo(2), "the bad address and the phone user are listed");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.organization_members WHERE role = 'owner'"), Is.EqualTo(25),
            "one organization per newly mirrored user; the user that already existed in platform gets none");
        Assert.That(await OrgsOwnedAsync(db, appUser), Is.Zero);

        var status = await db.RunAsync("status", "--json");
        using (var json = JsonDocument.Parse(status.Stdout))
        {
            Assert.That(json.RootElement.GetProperty("migrations").EnumerateArray().Where(m => m.GetProperty("version").GetInt64() is 9 or 10)
                .Select(m => m.GetProperty("state").GetString()), Is.EqualTo(new[] { "applied", "applied" }));
        }

        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
        var again = await db.RunAsync("migrate", "up", "--include", "9");
        Assert.That(again.Stderr, Does.Contain("nothing to apply"));
    }

    [Test]
    public async Task A_runner_killed_mid_backfill_is_completed_by_a_rerun_without_a_duplicate_user_or_org()
    {
        await using var db = await TestDatabase.MigratedAsync();
        await using var gotrue = await GoTrueAuth.CreateAsync(db);
        await gotrue.ExecuteAsync("""
            INSERT INTO auth.users (id, email, created_at, raw_user_meta_data)
            SELECT gen_random_uuid(), 'bulk' || i || '@example.com', now(), '{}' FROM generate_series(1, 300) i
            """);

        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_BATCH_DELAY_MS"] = "200" };
        using (var runner = RunnerProcess.Start(environment, "migrate", "up", "--include", "9", "--batch-size", "10"))
        {
            var clock = Stopwatch.StartNew();
            while (await db.ScalarAsync<long>("SELECT CASE WHEN to_regclass('platform.auth_user_sync_failures') IS NULL THEN 0 ELSE (SELECT count(*) FROM platform.users) END") < 30)
            {
                Assert.That(runner.HasExited, Is.False, "the runner finished before it could be killed");
                Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromMinutes(2)), "the backfill never started");
                await Task.Delay(20);
            }

            runner.Kill();
            await runner.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.users"), Is.GreaterThan(0).And.LessThan(300), "killed in the middle of the backfill");
        Assert.That(await RecordedAsync(db), Does.Not.Contain("9"));

        var rerun = await db.UpAsync("--include", "9");
        Assert.That(rerun.Stderr, Does.Contain("already in place, skipped"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.users"), Is.EqualTo(300));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.organization_members WHERE role = 'owner'"), Is.EqualTo(300));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.organizations"), Is.EqualTo(300), "no organization without its owner");
        Assert.That(await db.ScalarAsync<long>(EveryUserOwnsAtMostOneOrg), Is.Zero);
        Assert.That((await RecordedAsync(db)).Count(v => v == "9"), Is.EqualTo(1));
        await using var connection = await db.OpenAsync();
        Assert.That(await MigrationLock.IsHeldAsync(connection), Is.False);
    }

    [Test]
    public async Task Rollback_8_removes_trigger_and_functions_keeps_users_and_orgs_GoTrue_keeps_working_and_include_9_picks_up()
    {
        // At 10: rollback 8 then reverts exactly 10 and 9 (11's Down has a data-loss guard of its own, tested with 11).
        await using var db = await TestDatabase.MigratedAsync(GoTrueAuth.InTemplate, "--include", "9", "--to", "10");
        await using var gotrue = await GoTrueAuth.InCopyAsync(db);
        var before = await gotrue.SignUpAsync("before@example.com");
        var failed = await gotrue.SignUpAsync("o'brien@example.com");

        var rollback = await db.RollbackAsync("8");
        Assert.That(rollback.Stderr, Does.Contain("their organizations stay"));
        Assert.That(await RecordedAsync(db), Does.Not.Contain("9").And.Not.Contain("10"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass AND NOT tgisinternal"), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_proc WHERE proname LIKE 'gotrue%'"), Is.Zero);
        Assert.That((await PlatformUserAsync(db, before))["deleted_at"], Is.Null);
        Assert.That(await OrgsOwnedAsync(db, before), Is.EqualTo(1));

        var during = await gotrue.SignUpAsync("during@example.com");
        await gotrue.SignInAsync(before);
        await gotrue.ChangeEmailAsync(failed, "obrien@example.com");
        Assert.That(await db.ScalarAsync<long>($"SELECT count(*) FROM platform.users WHERE id = '{during}'"), Is.Zero, "not mirrored while 9 is rolled back");

        await db.UpAsync("--include", "9");
        Assert.That((await PlatformUserAsync(db, during))["email"], Is.EqualTo("during@example.com"));
        Assert.That((await PlatformUserAsync(db, failed))["email"], Is.EqualTo("obrien@example.com"));
        Assert.That((await PlatformUserAsync(db, before))["last_sign_in_at"], Is.Not.Null);
        Assert.That(await OrgsOwnedAsync(db, before), Is.EqualTo(1), "no second organization for a user mirrored before the rollback");
        Assert.That(await db.ScalarAsync<long>(EveryUserOwnsAtMostOneOrg), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.auth_user_sync_failures"), Is.Zero);
    }

    [Test]
    public async Task With_9_applied_after_10_rollback_9_reverts_only_10_and_the_mirror_keeps_working()
    {
        // Pinned at 10: the subject is 9 arriving after 10, not 11 (whose Down has a data-loss guard of its own).
        await using var db = await TestDatabase.MigratedAsync("--to", "10");
        await using var gotrue = await GoTrueAuth.CreateAsync(db);
        Assert.That((await db.RunAsync("migrate", "up", "--include", "9", "--to", "10")).ExitCode, Is.EqualTo(0));

        await db.RollbackAsync("9");
        Assert.That(await RecordedAsync(db), Does.Contain("9").And.Not.Contain("10"));
        var id = await gotrue.SignUpAsync("still@example.com");
        Assert.That(await OrgsOwnedAsync(db, id), Is.EqualTo(1));

        var up = await db.UpAsync("--to", "10");
        Assert.That(up.Stderr, Does.Contain("applied 1 migration (010)"));
        Assert.That((await db.RunAsync("verify")).ExitCode, Is.EqualTo(0));
    }

    [Test]
    public async Task Production_with_the_original_009_is_baselined_without_9_then_include_9_replaces_the_original_without_duplicates()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.ExecuteAsync("DROP TABLE ogelbase_migrations.version_info");
        await using var gotrue = await GoTrueAuth.CreateAsync(db);
        var early = await gotrue.SignUpAsync("early@example.com");
        await db.ExecuteAsync(OriginalGoTrueSync.Sql);
        var late = await gotrue.SignUpAsync("Late.User@example.com");
        Assert.That(await OrgsOwnedAsync(db, early), Is.EqualTo(1), "the original gave the backfilled user an organization");
        Assert.That(await OrgsOwnedAsync(db, late), Is.EqualTo(1), "and the user it mirrored");
        var users = await db.ScalarAsync<long>("SELECT count(*) FROM platform.users");
        var orgs = await db.ScalarAsync<long>("SELECT count(*) FROM platform.organizations");

        var baseline = await db.RunAsync("baseline");

        Assert.That(baseline.ExitCode, Is.EqualTo(0), baseline.ToString());
        Assert.That(baseline.Stdout, Does.Contain("009     original"));
        Assert.That(await RecordedAsync(db), Is.EquivalentTo(new[] { "1", "2", "3", "5", "6", "8" }), "4 is data only and seeded without values here; never 9");

        var up = await db.UpAsync("--include", "9");
        Assert.That(up.Stderr, Does.Contain("found the original 009"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.users"), Is.EqualTo(users));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.organizations"), Is.EqualTo(orgs));
        Assert.That(await db.ScalarAsync<bool>("""
            SELECT to_regprocedure('public.sync_auth_user_to_platform()') IS NULL AND to_regprocedure('public.create_default_org_for_user()') IS NULL
               AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname IN ('on_auth_user_change', 'on_platform_user_created'))
            """), Is.True, "the original's functions and triggers are gone");

        var fresh = await gotrue.SignUpAsync("fresh@example.com");
        Assert.That(await OrgsOwnedAsync(db, fresh), Is.EqualTo(1), "exactly one organization: the original's platform trigger no longer fires");
        await gotrue.SignInAsync(early);
        Assert.That(await OrgsOwnedAsync(db, early), Is.EqualTo(1));
        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
    }

    [Test]
    public async Task Baseline_refuses_to_record_9_from_an_explicit_list()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.ExecuteAsync("DROP TABLE ogelbase_migrations.version_info");

        var baseline = await db.RunAsync("baseline", "--versions", "1-6,8,9");

        Assert.That(baseline.ExitCode, Is.EqualTo(2), baseline.ToString());
        Assert.That(baseline.Stderr, Does.Contain("never baselined"));
    }

    [Test]
    public async Task Rollback_8_still_works_after_GoTrues_schema_was_dropped()
    {
        await using var db = await TestDatabase.MigratedAsync(GoTrueAuth.InTemplate, "--include", "9");
        await using var gotrue = await GoTrueAuth.InCopyAsync(db);
        await gotrue.SignUpAsync("kept@example.com");
        await db.ExecuteAsync("DROP SCHEMA auth CASCADE");

        await db.RollbackAsync("8");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_proc WHERE proname LIKE 'gotrue%'"), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.users WHERE email = 'kept@example.com'"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_plain_migration_role_without_rights_on_auth_users_is_refused_and_works_once_GoTrues_role_grants_them()
    {
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        await using var gotrue = await GoTrueAuth.CreateAsync(db);
        Assert.That((await db.RunAsync("migrate", "up")).ExitCode, Is.EqualTo(0));

        var refused = await db.RunAsync("migrate", "up", "--include", "9");

        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain("GRANT SELECT, TRIGGER ON auth.users"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_proc WHERE proname LIKE 'gotrue%'"), Is.Zero, "nothing was applied");

        await gotrue.ExecuteAsync($"GRANT USAGE ON SCHEMA auth TO \"{db.Owner}\"; GRANT SELECT, TRIGGER ON auth.users TO \"{db.Owner}\"");
        await db.UpAsync("--include", "9");
        var id = await gotrue.SignUpAsync("plain@example.com");
        Assert.That(await OrgsOwnedAsync(db, id), Is.EqualTo(1), "mirrored through the trigger function owned by the plain migration role");
    }
}
