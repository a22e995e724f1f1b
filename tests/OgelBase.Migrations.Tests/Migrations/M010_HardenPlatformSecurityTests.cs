namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>
/// Migration 10 (issue #9): what a plain login role could do to the platform schema as versions 1–6 and 8 built it,
/// that it cannot after 10, that the owner role Studio connects as keeps working, that it applies to production as
/// adopted by baseline (with and without 7), and that its rollback restores version 8 exactly. docs/security.md
/// maps each hole to these tests.
/// </summary>
public sealed class M010_HardenPlatformSecurityTests
{
    private const string ConnectionString = "postgresql://app:db-conn-secret@db.internal:5432/app";
    private const string ProjectPassword = "project-db-password";
    private const string JwtSecret = "jwt-secret-value";

    private sealed record Seeded(Guid Org, Guid Project, Guid Database, Guid User);

    /// <summary>One tenant with a project, its credentials, a registered database, two audit rows, a metric and a user.</summary>
    private static async Task<Seeded> SeedAsync(TestDatabase db)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            WITH o AS (
              INSERT INTO platform.organizations (name, slug) VALUES ('Tenant', 'tenant') RETURNING id
            ), p AS (
              INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password, postgres_meta_url, supabase_url)
              SELECT id, 'App', 'app', 'tenant-app', 'db.internal', 'app', 'app', @password, 'https://meta.example.test', 'https://kong.example.test' FROM o
              RETURNING id, organization_id
            ), c AS (
              INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, 'anon', 'service', @jwt FROM p
            ), d AS (
              INSERT INTO platform.databases (project_id, name, type, host, port, connection_string)
              SELECT id, 'App DB', 'postgresql', 'db.internal', 5432, @cs FROM p RETURNING id
            ), u AS (
              INSERT INTO platform.users (email) VALUES ('member@example.test') RETURNING id
            ), m AS (
              INSERT INTO platform.organization_members (organization_id, user_id, role) SELECT o.id, u.id, 'owner' FROM o, u
            ), a AS (
              INSERT INTO platform.audit_logs (organization_id, event_type, action) SELECT id, 'project.created', 'created' FROM o
              UNION ALL SELECT id, 'project.updated', 'updated' FROM o
            ), x AS (
              INSERT INTO platform.project_metrics (project_id, cpu_usage) SELECT id, 5 FROM p
            )
            SELECT p.organization_id, p.id, d.id, u.id FROM p, d, u
            """, connection);
        command.Parameters.AddWithValue("password", ProjectPassword);
        command.Parameters.AddWithValue("jwt", JwtSecret);
        command.Parameters.AddWithValue("cs", ConnectionString);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new Seeded(reader.GetGuid(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetGuid(3));
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        if (connection.State != System.Data.ConnectionState.Open)
        {
            await connection.OpenAsync();
        }

        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull ? null : value;
    }

    private static async Task<object?> AsAsync(LoginRole role, TestDatabase db, string sql, string? searchPath = null)
    {
        await using var connection = role.Connect(db);
        if (searchPath is not null)
        {
            await ScalarAsync(connection, $"SET search_path = {searchPath}");
        }

        return await ScalarAsync(connection, sql);
    }

    /// <summary>The SQLSTATE the statement fails with as that role, or "ok" when it succeeds.</summary>
    private static async Task<string> OutcomeAsync(LoginRole role, TestDatabase db, string sql)
    {
        try
        {
            await AsAsync(role, db, sql);
            return "ok";
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
    }

    private static async Task<object?> AsOwnerAsync(TestDatabase db, string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresServer.ConnectionStringFor(db.Name, db.Owner, db.OwnerPassword));
        return await ScalarAsync(connection, sql);
    }

    private static async Task<long> AuditRowsAsync(TestDatabase db) => await db.ScalarAsync<long>("SELECT count(*) FROM platform.audit_logs");

    /// <summary>Each of these reads a secret, deletes data or acts for someone else; at version 8 a plain role may do all of them.</summary>
    private static Dictionary<string, string> Holes(Seeded s) => new()
    {
        ["decrypt a connection string"] = $"SELECT platform.decrypt_database_connection_string('{s.Database}')",
        ["read credentials"] = "SELECT jwt_secret FROM platform.credentials",
        ["read a project's database password"] = "SELECT database_password FROM platform.projects",
        ["read projects_with_credentials"] = "SELECT service_role_key FROM platform.projects_with_credentials",
        ["list every tenant's databases"] = "SELECT host FROM platform.databases_safe",
        ["empty the audit log"] = "SELECT platform.clean_old_audit_logs(0)",
        ["empty the metrics"] = "SELECT platform.clean_old_metrics(0)",
    };

    /// <summary>SECURITY DEFINER functions of platform without a search_path, and those PUBLIC may execute, except 7's policy helpers.</summary>
    private static async Task<(List<string> Unpinned, List<string> PublicExecutable)> DefinerProblemsAsync(TestDatabase db)
    {
        var unpinned = await db.ColumnAsync("""
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = 'platform'::regnamespace AND p.prosecdef
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
            ORDER BY 1
            """);
        var publicExecutable = await db.ColumnAsync($"""
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = 'platform'::regnamespace AND p.prosecdef
              AND p.oid NOT IN (SELECT f FROM (VALUES {string.Join(", ", M010_HardenPlatformSecurity.PolicyHelpers.Select(h => $"(to_regprocedure('{h}'))"))}) v(f) WHERE f IS NOT NULL)
              AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
            ORDER BY 1
            """);
        return (unpinned, publicExecutable);
    }

    private static async Task<List<string>> ViewOptionsAsync(TestDatabase db) =>
        await db.ColumnAsync("SELECT relname || ' ' || coalesce(reloptions::text, '-') FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relkind = 'v' ORDER BY 1");

    // ---------------------------------------------------------------- the holes, and that 10 closes them

    [Test]
    public async Task At_version_8_a_plain_login_role_can_decrypt_a_connection_string_empty_the_audit_log_and_read_credentials()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        var seeded = await SeedAsync(db);

        // The id comes from databases_safe, which version 6 grants to PUBLIC: no inside knowledge needed.
        var id = await AsAsync(plain, db, "SELECT id FROM platform.databases_safe LIMIT 1");
        Assert.That(id, Is.EqualTo(seeded.Database));
        Assert.That(await AsAsync(plain, db, $"SELECT platform.decrypt_database_connection_string('{id}')"), Is.EqualTo(ConnectionString));
        Assert.That(await AsAsync(plain, db, "SELECT jwt_secret FROM platform.credentials"), Is.EqualTo(JwtSecret));
        Assert.That(await AsAsync(plain, db, "SELECT database_password FROM platform.projects"), Is.EqualTo(ProjectPassword));

        Assert.That(await AuditRowsAsync(db), Is.EqualTo(2));
        Assert.That(await AsAsync(plain, db, "SELECT platform.clean_old_audit_logs(0)"), Is.EqualTo(2));
        Assert.That(await AuditRowsAsync(db), Is.Zero, "the whole audit trail is gone");

        foreach (var (hole, sql) in Holes(seeded))
        {
            Assert.That(await OutcomeAsync(plain, db, sql), Is.EqualTo("ok"), hole);
        }
    }

    [Test]
    public async Task After_10_the_plain_role_is_denied_each_of_them_with_42501_until_it_is_granted_explicitly()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        var seeded = await SeedAsync(db);
        await db.UpAsync();

        foreach (var (hole, sql) in Holes(seeded))
        {
            Assert.That(await OutcomeAsync(plain, db, sql), Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege), hole);
        }

        // These two failed at 8 as well, only later (log_audit_event on the missing 005 columns, update_database_health on
        // the table grant); now EXECUTE itself is refused, before any of their code runs.
        Assert.That(await OutcomeAsync(plain, db, "SELECT platform.log_audit_event(NULL, 'project', 'x', 'forged')"),
            Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege), "writing audit rows on someone's behalf");
        Assert.That(await OutcomeAsync(plain, db, $"SELECT platform.update_database_health('{seeded.Database}', 'unhealthy', 'forged')"),
            Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege), "writing a database's health");
        Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{plain.Name}', 'platform.update_database_health(uuid,text,text)', 'EXECUTE')"), Is.False);
        Assert.That(await AuditRowsAsync(db), Is.EqualTo(2), "the audit trail is intact");
        Assert.That(await db.ScalarAsync<string?>("SELECT health_check_error FROM platform.databases"), Is.Null);

        // docs/security.md, "Granting another application role": one GRANT gives a role back exactly one capability.
        await db.ExecuteAsync($"GRANT EXECUTE ON FUNCTION platform.decrypt_database_connection_string(uuid) TO {plain.Name}");
        Assert.That(await AsAsync(plain, db, $"SELECT platform.decrypt_database_connection_string('{seeded.Database}')"), Is.EqualTo(ConnectionString));
        Assert.That(await OutcomeAsync(plain, db, "SELECT platform.clean_old_audit_logs(0)"), Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));
    }

    [Test]
    public async Task After_10_the_plain_role_still_reads_every_other_project_column_and_the_organization_stats()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await SeedAsync(db);
        await db.UpAsync();

        var readable = await db.ColumnAsync($"""
            SELECT a.attname FROM pg_attribute a
            WHERE a.attrelid = 'platform.projects'::regclass AND a.attnum > 0 AND NOT a.attisdropped
              AND has_column_privilege('{plain.Name}', a.attrelid, a.attnum, 'SELECT')
            ORDER BY a.attnum
            """);
        Assert.That(readable, Is.EqualTo(new[]
        {
            "id", "organization_id", "name", "slug", "ref", "database_host", "database_port", "database_name", "database_user",
            "postgres_meta_url", "supabase_url", "status", "created_at", "updated_at", "instance_size", "disk_size_gb", "disk_io_budget",
        }));
        Assert.That(await AsAsync(plain, db, "SELECT ref FROM platform.projects"), Is.EqualTo("tenant-app"));
        Assert.That(await OutcomeAsync(plain, db, "SELECT * FROM platform.projects"), Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));

        // security_invoker now, so this reads through the role's own grants (organizations, and the project columns above).
        Assert.That(await AsAsync(plain, db, "SELECT project_count FROM platform.organizations_with_stats WHERE slug = 'tenant'"), Is.EqualTo(1L));
        Assert.That(await AsAsync(plain, db, "SELECT name FROM platform.get_organization_by_slug('tenant')"), Is.EqualTo("Tenant"));
    }

    [Test]
    public async Task As_the_owner_role_the_functions_of_1_to_8_still_work_after_10()
    {
        // Objects owned by the plain owner role cannot come from a template the superuser built.
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        await db.UpAsync("--to", "8");
        var seeded = await SeedAsync(db);
        await db.UpAsync();

        Assert.That(await AsOwnerAsync(db, $"SELECT platform.decrypt_database_connection_string('{seeded.Database}')"), Is.EqualTo(ConnectionString));
        Assert.That(await AsOwnerAsync(db, "SELECT connection_string_decrypted FROM platform.databases_with_connection_strings"), Is.EqualTo(ConnectionString));
        Assert.That(await AsOwnerAsync(db, "SELECT count(*) FROM platform.databases_safe"), Is.EqualTo(1L));
        Assert.That(await AsOwnerAsync(db, "SELECT jwt_secret FROM platform.projects_with_credentials"), Is.EqualTo(JwtSecret));

        Assert.That(await AsOwnerAsync(db, $"SELECT platform.update_database_health('{seeded.Database}', 'healthy')"), Is.EqualTo(true));
        Assert.That(await db.ScalarAsync<string>("SELECT health_check_status FROM platform.databases"), Is.EqualTo("healthy"));

        Assert.That(await AsOwnerAsync(db, $"SELECT platform.set_user_active_org('{seeded.User}', '{seeded.Org}')"), Is.EqualTo(true));
        Assert.That(await AsOwnerAsync(db, $"SELECT organization_slug FROM platform.get_user_active_org('{seeded.User}')"), Is.EqualTo("tenant"));

        Assert.That(await AsOwnerAsync(db, "SELECT platform.clean_old_metrics(0)"), Is.EqualTo(1));
        Assert.That(await AsOwnerAsync(db, "SELECT platform.clean_old_audit_logs(0)"), Is.EqualTo(2));
        Assert.That(await AuditRowsAsync(db), Is.Zero);
    }

    [Test]
    public async Task The_database_owner_role_keeps_what_PUBLIC_lost_when_a_superuser_ran_the_migrations()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        var asSuperuser = new Dictionary<string, string?> { ["DATABASE_URL"] = PostgresServer.UrlFor(db.Name) };
        Assert.That((await Cli.RunAsync(asSuperuser, "migrate", "up", "--to", "8")).ExitCode, Is.EqualTo(0));
        var seeded = await SeedAsync(db);
        var up = await Cli.RunAsync(asSuperuser, "migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());

        // The objects belong to the superuser; the database owner reads and calls them only through grants, looked up from pg_database.datdba.
        Assert.That(await db.ScalarAsync<string>("SELECT relowner::regrole::text FROM pg_class WHERE oid = 'platform.credentials'::regclass"), Is.Not.EqualTo(db.Owner));
        Assert.That(await AsOwnerAsync(db, $"SELECT platform.decrypt_database_connection_string('{seeded.Database}')"), Is.EqualTo(ConnectionString));
        Assert.That(await AsOwnerAsync(db, "SELECT jwt_secret FROM platform.credentials"), Is.EqualTo(JwtSecret));
        Assert.That(await AsOwnerAsync(db, "SELECT database_password FROM platform.projects"), Is.EqualTo(ProjectPassword));
        Assert.That(await AsOwnerAsync(db, "SELECT count(*) FROM platform.databases_safe"), Is.EqualTo(1L));
        Assert.That(await AsOwnerAsync(db, "SELECT platform.clean_old_audit_logs(0)"), Is.EqualTo(2));

        Assert.That(await OutcomeAsync(plain, db, "SELECT jwt_secret FROM platform.credentials"), Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));
    }

    [Test]
    public async Task Every_security_definer_function_in_platform_has_a_pinned_search_path_and_no_execute_for_PUBLIC()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        var before = await DefinerProblemsAsync(db);
        Assert.That(before.Unpinned, Is.EqualTo(new[]
        {
            "platform.clean_old_audit_logs(integer)", "platform.clean_old_metrics(integer)",
            "platform.decrypt_database_connection_string(uuid)", "platform.log_audit_event(uuid,text,text,text,jsonb,inet,text)",
        }), "as built (docs/schema-facts.md §12.1; our 008 already pins set_user_active_org)");
        Assert.That(before.PublicExecutable, Is.EqualTo(before.Unpinned));

        await db.UpAsync();
        var after = await DefinerProblemsAsync(db);
        Assert.That(after.Unpinned, Is.Empty);
        Assert.That(after.PublicExecutable, Is.Empty);

        // Not SECURITY DEFINER, but it writes for whoever calls it (§12.2): restricted all the same.
        Assert.That(await db.ScalarAsync<bool>("""
            SELECT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                           WHERE p.oid = 'platform.update_database_health(uuid,text,text)'::regprocedure AND a.grantee = 0)
            """), Is.False);
    }

    [Test]
    public async Task A_hostile_search_path_no_longer_runs_the_callers_code_inside_decrypt_and_decrypt_still_round_trips()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        var seeded = await SeedAsync(db);

        // A function named like pgcrypto's digest in a schema the caller controls, first on the caller's search_path.
        await db.ExecuteAsync($"""
            CREATE SCHEMA hostile AUTHORIZATION {plain.Name};
            CREATE TABLE hostile.loot (who text);
            ALTER TABLE hostile.loot OWNER TO {plain.Name};
            GRANT ALL ON hostile.loot TO PUBLIC;
            """);
        await AsAsync(plain, db, """
            CREATE FUNCTION hostile.digest(text, text) RETURNS bytea LANGUAGE plpgsql AS $fn$
            BEGIN
              INSERT INTO hostile.loot VALUES (current_user);
              RETURN public.digest($1, $2);
            END
            $fn$
            """);
        var decrypt = $"SELECT platform.decrypt_database_connection_string('{seeded.Database}')";

        Assert.That(await AsAsync(plain, db, decrypt, searchPath: "hostile, public"), Is.EqualTo(ConnectionString));
        Assert.That(await db.ColumnAsync("SELECT who FROM hostile.loot"), Is.EqualTo(new[] { PostgresServer.User }),
            "at version 8 the caller's function ran inside decrypt with the owner's rights");

        await db.UpAsync();
        await db.ExecuteAsync("TRUNCATE hostile.loot");
        await db.ExecuteAsync($"GRANT EXECUTE ON FUNCTION platform.decrypt_database_connection_string(uuid) TO {plain.Name}");
        Assert.That(await AsAsync(plain, db, decrypt, searchPath: "hostile, public"), Is.EqualTo(ConnectionString));
        Assert.That(await AsAsync(plain, db, decrypt, searchPath: "''"), Is.EqualTo(ConnectionString), "pgcrypto still resolves with an empty caller search_path");
        Assert.That(await db.ColumnAsync("SELECT who FROM hostile.loot"), Is.Empty, "the pinned search_path never reaches the caller's schema");
    }

    // ---------------------------------------------------------------- the two wrong results

    [Test]
    public async Task Updating_a_session_fails_at_8_and_works_after_10_stamping_last_activity_at()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        var seeded = await SeedAsync(db);
        await db.ExecuteAsync($"""
            INSERT INTO platform.user_sessions (user_id, token, expires_at, last_activity_at, created_at)
            VALUES ('{seeded.User}', 'tok', now() + interval '1 day', now() - interval '1 hour', now() - interval '1 hour')
            """);

        var broken = Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync("UPDATE platform.user_sessions SET user_agent = 'x'"));
        Assert.That(broken!.SqlState, Is.EqualTo(PostgresErrorCodes.UndefinedColumn), "docs/schema-facts.md §12.22: there is no updated_at");

        await db.UpAsync();
        await db.ExecuteAsync("UPDATE platform.user_sessions SET user_agent = 'studio'");
        Assert.That(await db.ScalarAsync<bool>("SELECT user_agent = 'studio' AND last_activity_at > now() - interval '1 minute' FROM platform.user_sessions"), Is.True);

        await db.ExecuteAsync("UPDATE platform.user_sessions SET last_activity_at = '2020-01-01T00:00:00Z'");
        Assert.That(await db.ScalarAsync<bool>("SELECT last_activity_at = '2020-01-01T00:00:00Z' FROM platform.user_sessions"), Is.True,
            "an explicit last_activity_at is kept");
        Assert.That((await Catalog.TriggersAsync(db, "platform.user_sessions")).Keys, Is.EqualTo(new[] { M010_HardenPlatformSecurity.SessionTrigger }));
    }

    [Test]
    public async Task Organization_billing_overview_counts_one_open_invoice_of_10_once_with_two_projects()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        var seeded = await SeedAsync(db);
        await db.ExecuteAsync($"""
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password, postgres_meta_url, supabase_url)
            VALUES ('{seeded.Org}', 'Second', 'second', 'tenant-second', 'h', 'd', 'u', 'p', 'https://m.example.test', 'https://s.example.test');
            INSERT INTO platform.invoices (organization_id, invoice_number, status, amount_due) VALUES ('{seeded.Org}', 'INV-1', 'open', 10);
            """);
        const string overview = "SELECT project_count || ' ' || open_invoices || ' ' || outstanding_balance FROM platform.organization_billing_overview";

        Assert.That(await db.ScalarAsync<string>(overview), Is.EqualTo("2 1 20.00"), "docs/schema-facts.md §12.23 as built");
        var columnsBefore = await Catalog.ColumnsAsync(db, "platform.organization_billing_overview");

        await db.UpAsync();
        Assert.That(await db.ScalarAsync<string>(overview), Is.EqualTo("2 1 10.00"));
        Assert.That(await Catalog.ColumnsAsync(db, "platform.organization_billing_overview"), Is.EqualTo(columnsBefore), "same columns, names and types");
    }

    // ---------------------------------------------------------------- catalog after 10

    [Test]
    public async Task After_10_every_view_is_security_invoker_and_the_counts_are_10s()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.UpAsync("--to", "10"); // the counts below are 10's catalog; 11 adds to it

        Assert.That(await ViewOptionsAsync(db), Is.EqualTo(new[]
        {
            "databases_safe {security_invoker=true}", "databases_with_connection_strings {security_invoker=true}",
            "organization_billing_overview {security_invoker=true}", "organizations_with_stats {security_invoker=true}",
            "project_resources {security_invoker=true}", "projects_with_credentials {security_invoker=true}",
            "subscriptions_with_orgs {security_invoker=true}",
        }));

        // docs/schema-facts.md §0 "008 without 007" plus this version: one trigger function, one policy, one more table under RLS.
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(new PlatformCounts(
            Tables: 26, Views: 7, Functions: 24, Triggers: 22, Indexes: 137, Policies: 26, RlsTables: 26, Checks: 75, ForeignKeys: 33)));
    }

    // ---------------------------------------------------------------- production, with and without 7

    [Test]
    public async Task It_applies_to_a_baselined_production_database_whose_008_functions_came_from_the_original_script()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.CreateAsync();
        var build = await db.RunAsync(ProductionSeeds.Values, "migrate", "up", "--to", "8");
        Assert.That(build.ExitCode, Is.EqualTo(0), build.ToString());
        var seeded = await SeedAsync(db);

        // Production ran the original 008 by hand: set_user_active_org without search_path and executable by PUBLIC (docs/schema-facts.md §12.1, §12.4).
        await db.ExecuteAsync("""
            ALTER FUNCTION platform.set_user_active_org(uuid, uuid) RESET search_path;
            GRANT EXECUTE ON FUNCTION platform.set_user_active_org(uuid, uuid) TO PUBLIC;
            DROP TABLE ogelbase_migrations.version_info;
            """);
        Assert.That(await AsAsync(plain, db, $"SELECT platform.set_user_active_org('{seeded.User}', '{seeded.Org}')"), Is.EqualTo(true),
            "anyone could switch another user's organization");

        var baseline = await db.RunAsync("baseline");
        Assert.That(baseline.ExitCode, Is.EqualTo(0), baseline.ToString());
        var up = await db.UpAsync();
        Assert.That(up.Stderr, Does.Contain("applied 010"));
        Assert.That(await db.ColumnAsync("SELECT version::text FROM ogelbase_migrations.version_info ORDER BY version"), Does.Contain("10"));

        var problems = await DefinerProblemsAsync(db);
        Assert.That(problems.Unpinned, Is.Empty);
        Assert.That(problems.PublicExecutable, Is.Empty);
        Assert.That(await OutcomeAsync(plain, db, $"SELECT platform.set_user_active_org('{seeded.User}', '{seeded.Org}')"), Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));
        Assert.That(await OutcomeAsync(plain, db, "SELECT id FROM platform.databases_safe"), Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));

        // The Railway rows registered by 006 still decrypt for the owner.
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases_with_connection_strings WHERE connection_string_decrypted LIKE 'redis://%' OR connection_string_decrypted LIKE 'mongodb://%'"),
            Is.EqualTo(2L));
    }

    [Test]
    public async Task It_applies_where_7_was_included_leaves_its_policy_helpers_to_PUBLIC_and_rolls_back_exactly()
    {
        await using var plain = await LoginRole.CreateAsync();
        await using var db = await TestDatabase.CreateAsync();
        await db.UpAsync("--to", "8", "--include", "7");
        var seeded = await SeedAsync(db);

        // §12.7: a view runs as its owner, so it reads every tenant past 7's org-isolating policies, which hide the same rows in the table.
        await db.ExecuteAsync($"""
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name) VALUES ('{seeded.Org}', 'tier_pro', 'Pro');
            GRANT SELECT ON platform.subscriptions_with_orgs, platform.subscriptions, platform.organizations TO {plain.Name};
            """);
        const string throughView = "SELECT count(*) FROM platform.subscriptions_with_orgs";
        Assert.That(await AsAsync(plain, db, "SELECT count(*) FROM platform.subscriptions"), Is.Zero, "no session context, no rows");
        Assert.That(await AsAsync(plain, db, throughView), Is.EqualTo(1L), "at 8 the view shows them anyway");

        var at8 = await Catalog.SnapshotAsync(db);
        var options8 = await ViewOptionsAsync(db);
        var counts8 = await Catalog.CountsAsync(db);

        await db.UpAsync("--to", "10"); // the counts below are 10's catalog; 11 adds to it
        Assert.That(await AsAsync(plain, db, throughView), Is.Zero, "security_invoker: the policies apply through the view");

        var problems = await DefinerProblemsAsync(db);
        Assert.That(problems.Unpinned, Is.Empty);
        Assert.That(problems.PublicExecutable, Is.Empty);
        foreach (var helper in M010_HardenPlatformSecurity.PolicyHelpers)
        {
            Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{plain.Name}', '{helper}', 'EXECUTE')"), Is.True,
                $"{helper}: policies call it as the querying role");
        }

        foreach (var setter in new[] { "platform.set_user_context(uuid, uuid)", "platform.set_system_user()" })
        {
            Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{plain.Name}', '{setter}', 'EXECUTE')"), Is.False, setter);
        }

        // Org-isolating like credentials, not allow-all: a role granted the table sees nothing without a session context.
        Assert.That((await Catalog.PoliciesAsync(db, "platform.databases")).Keys,
            Is.EqualTo(new[] { "databases_admin_select", "databases_owner_manage", "system_user_all" }));
        await db.ExecuteAsync($"GRANT SELECT ON platform.databases TO {plain.Name}");
        Assert.That(await AsAsync(plain, db, "SELECT count(*) FROM platform.databases"), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.EqualTo(1L));

        // With the context of the organization's owner (set through 7's setter, granted for the test) the row is visible.
        await db.ExecuteAsync($"GRANT EXECUTE ON FUNCTION platform.set_user_context(uuid, uuid) TO {plain.Name}");
        await using (var connection = plain.Connect(db))
        {
            await connection.OpenAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var context = new NpgsqlCommand($"SELECT platform.set_user_context('{seeded.User}', '{seeded.Org}')", connection, transaction);
            await context.ExecuteNonQueryAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM platform.databases", connection, transaction);
            Assert.That(await count.ExecuteScalarAsync(), Is.EqualTo(1L), "databases_admin_select admits the org's owner");
        }

        await db.ExecuteAsync($"""
            REVOKE SELECT ON platform.databases FROM {plain.Name};
            REVOKE EXECUTE ON FUNCTION platform.set_user_context(uuid, uuid) FROM {plain.Name};
            """);

        var after = await Catalog.CountsAsync(db);
        Assert.That(after, Is.EqualTo(counts8 with { Functions = counts8.Functions + 1, Policies = counts8.Policies + 3, RlsTables = counts8.RlsTables + 1 }));

        var rollback = await db.RollbackAsync("8");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at8));
        Assert.That(await ViewOptionsAsync(db), Is.EqualTo(options8));
        Assert.That(await db.ScalarAsync<string>($"SELECT platform.decrypt_database_connection_string('{seeded.Database}')"), Is.EqualTo(ConnectionString));
    }

    // ---------------------------------------------------------------- rollback

    [TestCase(false, TestName = "Rollback_to_8_restores_the_version_8_catalog_exactly_grants_and_definitions_included")]
    [TestCase(true, TestName = "Rollback_to_8_restores_the_version_8_catalog_exactly_when_the_owner_role_ran_the_migrations")]
    public async Task Rollback_to_8_restores_the_version_8_catalog_exactly(bool ownedByPlainRole)
    {
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole);
        await db.UpAsync("--to", "8");
        var at8 = await Catalog.SnapshotAsync(db);
        var options8 = await ViewOptionsAsync(db);

        await db.UpAsync();
        var at10 = await Catalog.SnapshotAsync(db);
        Assert.That(at10, Is.Not.EqualTo(at8));
        Assert.That(await db.ScalarAsync<bool>($"SELECT to_regclass('{M010_HardenPlatformSecurity.SavedStateTable}') IS NOT NULL"), Is.True);

        // No --allow-data-loss: the Down drops no table, column or row that holds data.
        await db.RollbackAsync("8");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at8));
        Assert.That(await ViewOptionsAsync(db), Is.EqualTo(options8));
        Assert.That(await db.ScalarAsync<bool>($"SELECT to_regclass('{M010_HardenPlatformSecurity.SavedStateTable}') IS NULL"), Is.True, "no trace in the tool's schema");

        await db.UpAsync();
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at10), "up, down, up ends where the first up did");
    }
}
