using System.Text.Json;

namespace OgelBase.Migrations.Tests.Adoption;

/// <summary>Adopting production: 1–6 and 8 applied by hand, 7 not, and no version table.</summary>
public sealed class BaselineTests
{
    private static async Task<List<string>> RecordedAsync(TestDatabase db) =>
        await db.ScalarAsync<bool>("SELECT to_regclass('ogelbase_migrations.version_info') IS NOT NULL")
            ? await db.ColumnAsync("SELECT version || ' ' || description FROM ogelbase_migrations.version_info ORDER BY version")
            : [];

    [Test]
    public async Task Production_is_refused_then_baselined_then_left_alone_by_migrate_up_and_verified()
    {
        await using var db = await ProductionSeeds.HandAppliedAsync();
        var before = await Catalog.SnapshotAsync(db);
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regprocedure('platform.user_has_org_role(uuid,text)') IS NULL"), Is.True, "production never applied 7");

        var blind = await db.RunAsync("migrate", "up");
        Assert.That(blind.ExitCode, Is.EqualTo(1), blind.ToString());
        Assert.That(blind.Stderr, Does.Contain("baseline"));
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "the refused run changed nothing");

        var dry = await db.RunAsync("baseline", "--dry-run");
        Assert.That(dry.ExitCode, Is.EqualTo(0), dry.ToString());
        Assert.That(await RecordedAsync(db), Is.Empty, "a dry run records nothing");

        var baseline = await db.RunAsync("baseline");
        Assert.That(baseline.ExitCode, Is.EqualTo(0), baseline.ToString());
        var recorded = await RecordedAsync(db);
        Assert.That(recorded.Select(r => r.Split(' ')[0]), Is.EqualTo(new[] { "1", "2", "3", "4", "5", "6", "8" }));
        Assert.That(recorded, Has.All.Contains("[baselined]"));
        Assert.That(baseline.Stdout, Does.Contain("007     absent"));

        var status = await db.RunAsync("status", "--json");
        using (var json = JsonDocument.Parse(status.Stdout))
        {
            var seven = json.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == 7);
            Assert.That(seven.GetProperty("state").GetString(), Is.EqualTo("held_back"));
            var eight = json.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == 8);
            Assert.That(eight.GetProperty("baselined").GetBoolean(), Is.True);
        }

        // Only what production really misses is applied: 10 and 11 (written after production was built), never 7.
        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(up.Stderr, Does.Contain("applied 2 migrations (010, 011)"));
        Assert.That((await RecordedAsync(db)).Select(r => r.Split(' ')[0]), Is.EqualTo(new[] { "1", "2", "3", "4", "5", "6", "8", "10", "11" }));
        var again = await db.RunAsync("migrate", "up");
        Assert.That(again.Stderr, Does.Contain("nothing to apply"));

        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
    }

    [Test]
    public async Task Rollback_7_on_baselined_production_warns_reverts_8_and_keeps_each_users_choice_for_the_next_up()
    {
        await using var db = await ProductionSeeds.HandAppliedAsync();
        Assert.That((await db.RunAsync("baseline")).ExitCode, Is.EqualTo(0));
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES
              ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a'), ('00000000-0000-0000-0000-0000000000b2', 'Org B', 'org-b');
            INSERT INTO platform.users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'one@example.test');
            INSERT INTO platform.organization_members (organization_id, user_id, role, joined_at) VALUES
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001', 'owner', now() - interval '2 days'),
              ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-000000000001', 'member', now());
            UPDATE platform.users SET active_org_id = '00000000-0000-0000-0000-0000000000b2' WHERE id = '00000000-0000-0000-0000-000000000001';
            """);

        var rollback = await db.RunAsync("rollback", "7");
        Assert.That(rollback.ExitCode, Is.EqualTo(0), rollback.ToString());
        Assert.That(rollback.Stderr, Does.Contain("baselined"), "warns that the Down never ran here");
        Assert.That((await RecordedAsync(db)).Select(r => r.Split(' ')[0]), Does.Not.Contain("8"));

        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(await db.ScalarAsync<string>("SELECT active_org_id::text FROM platform.users WHERE id = '00000000-0000-0000-0000-000000000001'"),
            Is.EqualTo("00000000-0000-0000-0000-0000000000b2"), "the user's own choice, not the backfill rule's earliest org");
    }

    [Test]
    public async Task A_partly_applied_008_is_not_baselined_and_the_missing_functions_are_named()
    {
        await using var db = await ProductionSeeds.HandAppliedAsync("6");
        await db.ExecuteAsync("ALTER TABLE platform.users ADD COLUMN active_org_id uuid");

        var baseline = await db.RunAsync("baseline");
        Assert.That(baseline.ExitCode, Is.EqualTo(1), baseline.ToString());
        Assert.That(baseline.Stderr, Does.Contain("set_user_active_org"));
        Assert.That(baseline.Stderr, Does.Contain("get_user_active_org"));
        Assert.That(await RecordedAsync(db), Is.Empty, "nothing recorded");
    }

    [Test]
    public async Task An_explicit_version_list_is_recorded_as_given()
    {
        await using var db = await ProductionSeeds.HandAppliedAsync();
        var baseline = await db.RunAsync("baseline", "--versions", "1-6,8");
        Assert.That(baseline.ExitCode, Is.EqualTo(0), baseline.ToString());
        Assert.That((await RecordedAsync(db)).Select(r => r.Split(' ')[0]), Is.EqualTo(new[] { "1", "2", "3", "4", "5", "6", "8" }));
    }

    [Test]
    public async Task Baseline_refuses_a_database_that_already_records_versions()
    {
        await using var db = await TestDatabase.MigratedAsync();
        var before = await RecordedAsync(db);
        var baseline = await db.RunAsync("baseline");
        Assert.That(baseline.ExitCode, Is.EqualTo(1), baseline.ToString());
        Assert.That(await RecordedAsync(db), Is.EqualTo(before));
    }

    [Test]
    public async Task Verify_names_an_index_of_version_3_dropped_by_hand()
    {
        await using var db = await TestDatabase.MigratedAsync();
        Assert.That((await db.RunAsync("verify")).ExitCode, Is.EqualTo(0));

        await db.ExecuteAsync("DROP INDEX platform.idx_users_created_at");
        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(1), verify.ToString());
        Assert.That(verify.Stdout, Does.Contain("003"));
        Assert.That(verify.Stdout, Does.Contain("missing index platform.idx_users_created_at"));
    }

    [Test]
    public async Task Verify_reports_an_index_left_invalid()
    {
        await using var db = await TestDatabase.MigratedAsync();
        await db.ExecuteAsync("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'platform.idx_users_active_org'::regclass");
        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(1), verify.ToString());
        Assert.That(verify.Stdout, Does.Contain("invalid index platform.idx_users_active_org"));
    }
}
