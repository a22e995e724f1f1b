using Microsoft.Extensions.Logging.Abstractions;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>Migration 11 itself: what it derives for existing rows, its exact Down and its data-loss guard, and production's path to it.</summary>
public sealed class M011_ServeStudioContractTests
{
    [Test]
    public async Task Existing_rows_get_accepted_at_from_joined_at_and_the_apps_names_of_addon_id_and_stripe_payment_method_id_again_after_a_rollback()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.UpAsync("--to", "10");
        await db.ExecuteAsync(StudioSeed.Sql);
        await db.ExecuteAsync($"INSERT INTO platform.organization_members (organization_id, user_id, role, invited_at, joined_at) VALUES ('{StudioSeed.Acme}', '{StudioSeed.Carol}', 'member', now(), NULL)");

        await db.UpAsync();

        Assert.That(await db.ColumnAsync("SELECT u.username || ' ' || coalesce(to_char(m.accepted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'pending') FROM platform.organization_members m JOIN platform.users u ON u.id = m.user_id ORDER BY 1"),
            Is.EqualTo(new[] { "alice 2024-01-01 00:00", "bob 2024-02-02 00:00", "carol pending", "dave 2024-03-01 12:00" }), "a member who never joined has not accepted");
        Assert.That(await db.ColumnAsync("SELECT addon_id || '=' || addon_type FROM platform.project_addons"), Is.EqualTo(new[] { "pitr=pitr" }));
        Assert.That(await db.ColumnAsync("SELECT stripe_payment_method_id || '=' || payment_method_id FROM platform.payment_methods ORDER BY 1"),
            Is.EqualTo(new[] { "pm_seed_default=pm_seed_default", "pm_seed_old=pm_seed_old" }));
        Assert.That(await db.ColumnAsync("SELECT count(*) FROM platform.projects WHERE cloud_provider IS NOT NULL OR region IS NOT NULL OR db_size_bytes IS NOT NULL OR disk_auto_scale_enabled IS NOT NULL"),
            Is.EqualTo(new[] { "0" }), "nothing to derive them from: NULL, and the app reads its fallbacks");

        // The 003-shaped audit row is left as it was: resource_type is free text, entity_type is the app's five.
        Assert.That(await db.ColumnAsync("SELECT coalesce(entity_type, 'null') || ' ' || event_type FROM platform.audit_logs"), Is.EqualTo(new[] { "null project.created" }));

        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());

        // Everything 11 holds here it derived itself, so rolling back loses nothing and the next up derives it again.
        await db.RollbackAsync("10");
        await db.UpAsync();
        Assert.That(await db.ColumnAsync($"SELECT to_char(accepted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM platform.organization_members WHERE id = '{StudioSeed.BobMembership}'"),
            Is.EqualTo(new[] { "2024-02-02 00:00" }));
    }

    [Test]
    public async Task Rollback_to_10_restores_the_version_10_catalog_exactly_and_up_again_ends_where_the_first_up_did()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.UpAsync("--to", "10");
        var at10 = await Catalog.SnapshotAsync(db);

        await db.UpAsync();
        var at11 = await Catalog.SnapshotAsync(db);
        Assert.That(at11, Is.Not.EqualTo(at10));

        // No --allow-data-loss: the added columns hold nothing yet.
        await db.RollbackAsync("10");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at10));

        await db.UpAsync();
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at11));
    }

    [Test]
    public async Task Rollback_to_10_counts_the_added_columns_data_and_soft_deleted_projects_and_refuses_without_allow_data_loss()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.UpAsync("--to", "10");
        var at10 = await Catalog.SnapshotAsync(db);
        await db.ExecuteAsync(StudioSeed.Sql);
        await db.UpAsync();
        await db.ExecuteAsync($"UPDATE platform.projects SET status = 'deleted' WHERE id = '{StudioSeed.Scratch}'");
        await db.ExecuteAsync($"UPDATE platform.projects SET disk_auto_scale_enabled = true, disk_auto_scale_limit_gb = 64 WHERE id = '{StudioSeed.Prod}'");
        await db.ExecuteAsync($"UPDATE platform.organization_members SET accepted_at = joined_at + interval '1 hour' WHERE id = '{StudioSeed.BobMembership}'");

        var refused = await db.RunAsync("rollback", "10");
        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        var refusal = (refused.Stderr + refused.Stdout).Split('\n').Single(l => l.Contains("rollback refused", StringComparison.Ordinal));
        Assert.That(refusal, Does.Contain("column platform.organization_members.accepted_at (1 row)")
            .And.Contain("column platform.projects.disk_auto_scale_enabled (1 row)")
            .And.Contain("rows of platform.projects where status = 'deleted' (1 row)"));
        Assert.That(refusal, Does.Not.Contain("platform.projects.region").And.Not.Contain("addon_type"), "empty columns and the aliases of kept columns are no loss");
        Assert.That(await db.ColumnAsync("SELECT max(version)::text FROM ogelbase_migrations.version_info"), Is.EqualTo(new[] { "11" }), "nothing reverted");

        await db.RollbackAsync("10", "--allow-data-loss");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at10));
        Assert.That(await db.ColumnAsync("SELECT ref FROM platform.projects ORDER BY ref"), Is.EqualTo(new[] { StudioSeed.ProdRef, StudioSeed.StagingRef }),
            "the soft-deleted project is gone, 10's CHECK could not hold it");
        Assert.That(await db.ColumnAsync("SELECT addon_id FROM platform.project_addons"), Is.EqualTo(new[] { "pitr" }), "the alias went, the fact stayed");
    }

    [Test]
    public async Task A_same_named_check_that_says_something_else_fails_the_up_naming_it_and_11_is_not_recorded()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "10");
        // A hand-made CHECK under 11's name, as an operator's earlier attempt could have left: the executor skips an
        // ADD CONSTRAINT whose name exists, so only the check against 11's manifest can notice the difference.
        await db.ExecuteAsync("ALTER TABLE platform.projects ADD COLUMN disk_auto_scale_limit_gb integer");
        await db.ExecuteAsync("ALTER TABLE platform.projects ADD CONSTRAINT projects_disk_auto_scale_limit_gb_valid CHECK (disk_auto_scale_limit_gb > 0)");

        var up = await db.RunAsync("migrate", "up");

        Assert.That(up.ExitCode, Is.Not.EqualTo(0), up.ToString());
        Assert.That(up.Stderr, Does.Contain("already in place, skipped (constraint \"projects_disk_auto_scale_limit_gb_valid\" for relation \"projects\" already exists)")
            .And.Contain("changed constraint platform.projects.projects_disk_auto_scale_limit_gb_valid: expected CHECK (((disk_auto_scale_limit_gb >= 8) AND (disk_auto_scale_limit_gb <= 16384))), found CHECK ((disk_auto_scale_limit_gb > 0))"), up.ToString());
        Assert.That(await db.RecordedVersionsAsync(), Does.Not.Contain(11L));

        await db.ExecuteAsync("ALTER TABLE platform.projects DROP CONSTRAINT projects_disk_auto_scale_limit_gb_valid");
        await db.UpAsync();
        Assert.That(await db.RecordedVersionsAsync(), Does.Contain(11L));
    }

    [Test]
    public async Task Up_run_again_over_its_own_finished_work_changes_nothing_but_the_record()
    {
        // What a runner killed after 11's last statement but before recording it leaves: everything in place.
        await using var db = await TestDatabase.MigratedAsync("--to", "11");
        var at11 = await Catalog.SnapshotAsync(db);
        await db.ExecuteAsync("DELETE FROM ogelbase_migrations.version_info WHERE version = 11");

        var rerun = await db.UpAsync();
        Assert.That(rerun.Stderr, Does.Contain("already in place, skipped (constraint \"audit_logs_entity_type_valid\" for relation \"audit_logs\" already exists)"));
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at11));
        Assert.That(await db.RecordedVersionsAsync(), Does.Contain(11L));
    }

    [Test]
    public async Task Baselined_production_built_to_1_to_6_and_8_gets_10_and_11_from_migrate_up_and_verifies()
    {
        await using var db = await TestDatabase.CreateAsync();
        var built = await db.RunAsync(ProductionSeeds.Values, "migrate", "up", "--to", "8");
        Assert.That(built.ExitCode, Is.EqualTo(0), built.ToString());
        await db.ExecuteAsync("DELETE FROM ogelbase_migrations.version_info");
        await db.ExecuteAsync(StudioSeed.Sql);

        var baseline = await db.RunAsync("baseline");
        Assert.That(baseline.ExitCode, Is.EqualTo(0), baseline.ToString());
        Assert.That(await db.ColumnAsync("SELECT version::text FROM ogelbase_migrations.version_info ORDER BY version"),
            Is.EqualTo(new[] { "1", "2", "3", "4", "5", "6", "8" }), "11's probe (organization_members.accepted_at) says absent");

        var up = await db.UpAsync();
        Assert.That(up.Stderr, Does.Contain("applied 2 migrations (010, 011)"));

        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());

        var soft = StudioStatements.All.Single(s => s.Source.EndsWith("/projects/[ref]/index.ts:134", StringComparison.Ordinal));
        await PgMetaQuery.RunAsync(db.ConnectionString, soft.Sql, soft.Parameters);
        Assert.That(await db.ColumnAsync($"SELECT status FROM platform.projects WHERE id = '{StudioSeed.Scratch}'"), Is.EqualTo(new[] { "deleted" }));
        Assert.That(await db.ColumnAsync($"SELECT pg_get_constraintdef(oid) LIKE '%''deleted''%' FROM pg_constraint WHERE conname = '{M011_ServeStudioContract.StatusCheck}'"),
            Is.EqualTo(new[] { "True" }));
    }
}
