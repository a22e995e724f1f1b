namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M005_AddAuditHelpersAndProjectResourcesTests
{
    [Test]
    public async Task Migrate_up_to_5_appends_the_three_project_resource_columns_last_with_comments()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        // Types and defaults are the manifest's; the order of the columns is not.
        var columns = (await Catalog.ColumnsAsync(db, "platform.projects")).Select(c => c.Name).ToList();
        Assert.That(columns.TakeLast(3), Is.EqualTo(Rows.Of("instance_size", "disk_size_gb", "disk_io_budget")));
        Assert.That(columns, Has.Count.EqualTo(18));
        foreach (var column in new[] { "instance_size", "disk_size_gb", "disk_io_budget" })
        {
            Assert.That(await ColumnCommentAsync(db, "projects", column), Is.Not.Null.And.Not.Empty, column);
        }
    }

    [Test]
    public async Task Migrate_up_to_5_replaces_three_table_comments_and_sets_the_effective_column_comments_only()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        Assert.That(await TableCommentAsync(db, "audit_logs"), Is.Not.EqualTo(M003_AddUsersAndMemberships.TableComments.AuditLogs).And.Not.Empty);
        Assert.That(await TableCommentAsync(db, "project_addons"), Is.Not.EqualTo(M003_AddUsersAndMemberships.TableComments.ProjectAddons).And.Not.Empty);
        Assert.That(await TableCommentAsync(db, "project_metrics"), Is.Not.EqualTo(M003_AddUsersAndMemberships.TableComments.ProjectMetrics).And.Not.Empty);

        var commented = await db.ColumnAsync("""
            SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.oid = ANY (ARRAY['platform.audit_logs', 'platform.project_addons', 'platform.project_metrics', 'platform.projects']::regclass[])
              AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NOT NULL
            ORDER BY 1
            """);
        Assert.That(commented, Is.EqualTo(Rows.Of(
            "audit_logs.action", "project_addons.addon_variant", "project_metrics.cpu_usage", "project_metrics.disk_io_budget",
            "project_metrics.memory_usage", "projects.disk_io_budget", "projects.disk_size_gb", "projects.instance_size")));
    }

    [Test]
    public async Task Migrate_up_to_5_gives_the_three_functions_the_argument_defaults_callers_omit()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        // Security definer without search_path is the manifest's; the argument defaults callers rely on are not.
        Assert.That(await db.ColumnAsync("""
            SELECT pg_get_function_arguments(oid) FROM pg_proc
            WHERE oid IN ('platform.log_audit_event(uuid,text,text,text,jsonb,inet,text)'::regprocedure,
                          'platform.clean_old_audit_logs(integer)'::regprocedure, 'platform.clean_old_metrics(integer)'::regprocedure)
            ORDER BY proname
            """), Is.EqualTo(Rows.Of(
            "days_to_keep integer DEFAULT 90",
            "days_to_keep integer DEFAULT 30",
            "p_user_id uuid, p_entity_type text, p_entity_id text, p_action text, p_changes jsonb DEFAULT NULL::jsonb, p_ip_address inet DEFAULT NULL::inet, p_user_agent text DEFAULT NULL::text")));
    }

    [Test]
    public async Task Log_audit_event_fails_with_42703_against_the_live_audit_log_as_in_production()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        var error = Assert.ThrowsAsync<PostgresException>(async () =>
            await db.ExecuteAsync("SELECT platform.log_audit_event(NULL, 'project', 'x', 'migration.005_applied')"));
        Assert.That(error!.SqlState, Is.EqualTo(PostgresErrorCodes.UndefinedColumn), error.Message);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.audit_logs"), Is.Zero);
    }

    [Test]
    public async Task Clean_old_audit_logs_deletes_only_rows_older_than_the_retention_and_returns_their_count()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.ExecuteAsync("""
            INSERT INTO platform.audit_logs (event_type, action, created_at) VALUES
              ('project.created', 'created', now() - interval '200 days'),
              ('project.updated', 'updated', now() - interval '91 days'),
              ('project.updated', 'updated', now() - interval '89 days'),
              ('project.deleted', 'deleted', now() - interval '1 day');
            """);
        Assert.That(await db.ScalarAsync<int>("SELECT platform.clean_old_audit_logs()"), Is.EqualTo(2));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.audit_logs WHERE created_at > now() - interval '90 days'"), Is.EqualTo(2));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.audit_logs"), Is.EqualTo(2));
        Assert.That(await db.ScalarAsync<int>("SELECT platform.clean_old_audit_logs(7)"), Is.EqualTo(1));
        Assert.That(await db.ColumnAsync("SELECT event_type FROM platform.audit_logs"), Is.EqualTo(Rows.Of("project.deleted")));
    }

    [Test]
    public async Task Clean_old_metrics_deletes_only_samples_older_than_thirty_days_by_default()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a');
            INSERT INTO platform.projects (id, organization_id, name, slug, ref, database_host, database_name, database_user,
                                           database_password, postgres_meta_url, supabase_url)
            VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1', 'P', 'p', 'p-ref', 'h', 'd', 'u', 'x', 'http://m', 'http://k');
            INSERT INTO platform.project_metrics (project_id, "timestamp") VALUES
              ('00000000-0000-0000-0000-0000000000c1', now() - interval '31 days'),
              ('00000000-0000-0000-0000-0000000000c1', now() - interval '29 days');
            """);
        Assert.That(await db.ScalarAsync<int>("SELECT platform.clean_old_metrics()"), Is.EqualTo(1));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.project_metrics"), Is.EqualTo(1));
    }

    [Test]
    public async Task Rollback_to_4_restores_the_exact_version_4_schema_including_the_003_comments()
    {
        await using var reference = await TestDatabase.MigratedAsync("--to", "4");
        var at4 = await Catalog.SnapshotAsync(reference);

        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.RollbackAsync("4");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at4));
        Assert.That(await TableCommentAsync(db, "audit_logs"), Is.EqualTo(M003_AddUsersAndMemberships.TableComments.AuditLogs));
    }

    [Test]
    public async Task Rollback_to_4_is_refused_without_allow_data_loss_when_projects_hold_resource_values()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a');
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user,
                                           database_password, postgres_meta_url, supabase_url)
            VALUES ('00000000-0000-0000-0000-0000000000a1', 'P', 'p', 'p-ref', 'h', 'd', 'u', 'x', 'http://m', 'http://k');
            """);
        var refused = await db.RunAsync("rollback", "4");
        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain("column platform.projects.instance_size: 1 row"));
        Assert.That(await db.ScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.projects'::regclass AND attname = 'instance_size' AND NOT attisdropped)"),
            Is.True);
    }

    [Test]
    public async Task Rollback_to_0_after_version_5_leaves_no_trace_of_the_migrations()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.RollbackAsync("0", "--allow-data-loss");
        Assert.That(await Catalog.SchemaExistsAsync(db, "platform"), Is.False);
        Assert.That(await db.ColumnAsync("SELECT extname FROM pg_extension ORDER BY 1"), Is.EqualTo(Rows.Of("plpgsql")));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.created_objects"), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.version_info"), Is.Zero);
    }

    [Test]
    public async Task Up_to_5_then_down_to_2_then_up_to_5_gives_the_same_schema()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        var first = await Catalog.SnapshotAsync(db);
        await db.RollbackAsync("2", "--allow-data-loss");
        await db.UpAsync("--to", "5");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(first));
    }

    private static Task<string?> TableCommentAsync(TestDatabase db, string table) =>
        db.ScalarAsync<string?>($"SELECT obj_description('platform.{table}'::regclass, 'pg_class')");

    private static Task<string?> ColumnCommentAsync(TestDatabase db, string table, string column) =>
        db.ScalarAsync<string?>($"SELECT col_description('platform.{table}'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'platform.{table}'::regclass AND attname = '{column}'))");
}
