namespace OgelBase.Migrations.Tests.Runner;

/// <summary>
/// One manifest per migration, read by every check. A migration is recorded only when the catalog holds what its
/// manifest says it leaves, definitions included; verify compares the same; and what a Down removes is derived from
/// it (5 declares nothing about the three project columns it adds, yet a rollback past it counts their values). The
/// look-alikes below carry a migration's own object name with another definition, planted before the migration
/// runs, where the migration tolerates an existing object (IF NOT EXISTS, a guard): nothing but the check can tell.
/// (The online case, 8 with a look-alike index or foreign key, is in M008_AddActiveOrgTrackingOnlineTests.)
/// </summary>
public sealed class ManifestTests
{
    [Test]
    public async Task A_look_alike_policy_fails_transactional_migration_10_leaving_nothing_of_it_and_10_unrecorded()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "9");
        await db.ExecuteAsync("CREATE POLICY permissive_all_databases ON platform.databases FOR SELECT USING (false)");
        var before = await Catalog.SnapshotAsync(db);

        var up = await db.RunAsync("migrate", "up", "--to", "10");

        Assert.That(up.ExitCode, Is.EqualTo(1), up.ToString());
        Assert.That(up.Stderr, Does.Contain("changed policy platform.databases.permissive_all_databases")
            .And.Contain("expected permissive for all to public using (true) with check (true)")
            .And.Contain("found permissive for select to public using (false)"), up.ToString());
        Assert.That(await db.RecordedVersionsAsync(), Does.Not.Contain(10L));
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "the check ran inside 10's transaction, so all of 10 was rolled back");
    }

    [Test]
    public async Task Verify_names_a_definition_that_drifted_after_the_migration_was_recorded()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.ExecuteAsync("ALTER TABLE platform.projects ALTER COLUMN status SET DEFAULT 'paused'");

        var verify = await db.RunAsync("verify");

        Assert.That(verify.ExitCode, Is.EqualTo(1), verify.ToString());
        Assert.That(verify.Stdout, Does.Contain("changed column platform.projects.status").And.Contain("default 'paused'::text"), verify.ToString());
    }

    [Test]
    public async Task Rollback_refuses_to_drop_a_column_the_up_added_while_it_holds_data_and_removes_it_with_allow_data_loss()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.ExecuteAsync("""
            WITH o AS (INSERT INTO platform.organizations (name, slug) VALUES ('Tenant', 'tenant') RETURNING id)
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password, postgres_meta_url, supabase_url, instance_size)
            SELECT id, 'App', 'app', 'tenant-app', 'db.internal', 'app', 'app', 'secret', 'https://meta.example.test', 'https://kong.example.test', 'large' FROM o
            """);
        var projects = await db.ScalarAsync<long>("SELECT count(*) FROM platform.projects");
        var before = await Catalog.SnapshotAsync(db);

        var refused = await db.RunAsync("rollback", "4");

        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain($"column platform.projects.instance_size ({projects} row"), refused.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before));
        Assert.That(await db.ScalarAsync<string>("SELECT min(instance_size) FROM platform.projects"), Is.EqualTo("large"));

        var allowed = await db.RunAsync("rollback", "4", "--allow-data-loss");

        Assert.That(allowed.ExitCode, Is.EqualTo(0), allowed.ToString());
        Assert.That(allowed.Stderr.Split('\n').Single(l => l.StartsWith("rollback: reverted", StringComparison.Ordinal)),
            Does.Contain("deleted data in").And.Contain($"column platform.projects.instance_size ({projects} row"), "the summary says what was deleted");
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.projects'::regclass AND attname = 'instance_size' AND NOT attisdropped)"), Is.False);
    }
}
