using static OgelBase.Migrations.Tests.Support.PlatformRows;

namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M001_CreatePlatformSchemaTests
{
    private const string Tz = "timestamp with time zone";
    private const string Acme = "00000000-0000-0000-0000-0000000000a1";

    /// <summary>Version 1 with organization acme and one healthy project of it per reference.</summary>
    private static async Task<TestDatabase> AcmeWithProjectsAsync(params string[] references)
    {
        var db = await TestDatabase.MigratedAsync("--to", "1");
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{Acme}', 'Acme', 'acme')");
        foreach (var reference in references)
        {
            await InsertProjectAsync(db, Acme, reference, "ACTIVE_HEALTHY");
        }

        return db;
    }

    [Test]
    public async Task Migrate_up_to_1_creates_the_two_views_with_their_exact_columns()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        var projectColumns = new List<ColumnFacts>
        {
            new("id", "uuid", false, null),
            new("organization_id", "uuid", false, null),
            new("name", "text", false, null),
            new("slug", "text", false, null),
            new("ref", "text", false, null),
            new("database_host", "text", false, null),
            new("database_port", "integer", false, null),
            new("database_name", "text", false, null),
            new("database_user", "text", false, null),
            new("database_password", "text", false, null),
            new("postgres_meta_url", "text", false, null),
            new("supabase_url", "text", false, null),
            new("status", "text", false, null),
            new("created_at", Tz, false, null),
            new("updated_at", Tz, false, null),
            new("anon_key", "text", false, null),
            new("service_role_key", "text", false, null),
            new("jwt_secret", "text", false, null),
        };
        Assert.That(await Catalog.ColumnsAsync(db, "platform.projects_with_credentials"), Is.EqualTo(projectColumns));
        Assert.That(await Catalog.ColumnsAsync(db, "platform.organizations_with_stats"), Is.EqualTo(new List<ColumnFacts>
        {
            new("id", "uuid", false, null),
            new("name", "text", false, null),
            new("slug", "text", false, null),
            new("billing_email", "text", false, null),
            new("created_at", Tz, false, null),
            new("updated_at", Tz, false, null),
            new("project_count", "bigint", false, null),
            new("active_project_count", "bigint", false, null),
        }));
        Assert.That(await db.ScalarAsync<string>("SELECT string_agg(relkind::text, '') FROM pg_class WHERE oid IN ('platform.projects_with_credentials'::regclass, 'platform.organizations_with_stats'::regclass)"),
            Is.EqualTo("vv"));
    }

    [Test]
    public async Task Views_join_projects_to_credentials_and_count_active_projects_per_organization()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES
              ('00000000-0000-0000-0000-0000000000a1', 'Acme', 'acme'),
              ('00000000-0000-0000-0000-0000000000a2', 'Empty', 'empty');
            """);
        await InsertProjectAsync(db, "00000000-0000-0000-0000-0000000000a1", "p-one", "ACTIVE_HEALTHY");
        await InsertProjectAsync(db, "00000000-0000-0000-0000-0000000000a1", "p-two", "PAUSED");
        await InsertProjectAsync(db, "00000000-0000-0000-0000-0000000000a1", "p-three", "ACTIVE_HEALTHY");
        await db.ExecuteAsync("INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, 'anon-1', 'service-1', 'jwt-1' FROM platform.projects WHERE ref = 'p-one'");

        Assert.That(await db.ColumnAsync("SELECT ref || ':' || coalesce(anon_key, '-') || ':' || coalesce(jwt_secret, '-') || ':' || database_password FROM platform.projects_with_credentials ORDER BY ref"),
            Is.EqualTo(new List<string> { "p-one:anon-1:jwt-1:pw", "p-three:-:-:pw", "p-two:-:-:pw" }));
        Assert.That(await db.ColumnAsync("SELECT slug || ':' || project_count || ':' || active_project_count FROM platform.organizations_with_stats ORDER BY slug"),
            Is.EqualTo(new List<string> { "acme:3:2", "empty:0:0" }));
    }

    [Test]
    public async Task Migrate_up_to_1_grants_usage_and_select_to_public_and_all_to_postgres()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        Assert.That(await db.ScalarAsync<bool>("SELECT has_schema_privilege('public', 'platform', 'USAGE')"), Is.True);
        foreach (var relation in new[] { "organizations", "projects", "credentials", "projects_with_credentials", "organizations_with_stats" })
        {
            // Owner entry plus SELECT for PUBLIC (the owner's row is materialized by the first grant; ALL to postgres is already in it).
            Assert.That(await db.ScalarAsync<string>($"SELECT relacl::text FROM pg_class WHERE oid = 'platform.{relation}'::regclass"),
                Is.EqualTo($"{{postgres={Catalog.AllTablePrivileges}/postgres,=r/postgres}}"), relation);
            Assert.That(await db.ScalarAsync<bool>($"SELECT has_table_privilege('public', 'platform.{relation}', 'SELECT')"), Is.True, relation);
            Assert.That(await db.ScalarAsync<bool>($"SELECT has_table_privilege('public', 'platform.{relation}', 'INSERT')"), Is.False, relation);
        }

        // Functions start with no ACL; only the explicit grant to postgres writes one.
        Assert.That(await db.ColumnAsync("SELECT proname || ' ' || coalesce(proacl::text, '<default>') FROM pg_proc WHERE pronamespace = 'platform'::regnamespace ORDER BY proname"),
            Is.EqualTo(new List<string>
            {
                "generate_slug {=X/postgres,postgres=X/postgres}",
                "get_credentials_by_project_ref {=X/postgres,postgres=X/postgres}",
                "get_organization_by_slug {=X/postgres,postgres=X/postgres}",
                "get_project_by_ref {=X/postgres,postgres=X/postgres}",
                "update_updated_at_column {=X/postgres,postgres=X/postgres}",
            }));
    }

    [TestCase("Hello World", "hello-world")]
    [TestCase("  Acme,  Inc.  ", "acme-inc")]
    [TestCase("My_Project 2.0", "myproject-20")]
    [TestCase("tabs\tand\nnewlines", "tabs-and-newlines")]
    [TestCase("already-a-slug", "already-a-slug")]
    [TestCase("Café Olé", "caf-ol")]
    [TestCase("-edge case !", "-edge-case-")]
    [TestCase("!!!", "")]
    public async Task Generate_slug_trims_strips_non_ascii_and_punctuation_and_hyphenates_whitespace(string input, string expected)
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT platform.generate_slug(@input)", connection);
        command.Parameters.AddWithValue("input", input);
        Assert.That(await command.ExecuteScalarAsync(), Is.EqualTo(expected));
    }

    [Test]
    public async Task Lookup_functions_return_the_matching_row_or_an_all_null_row()
    {
        await using var db = await AcmeWithProjectsAsync("p-one", "p-two");
        await db.ExecuteAsync("""
            INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret)
            SELECT id, 'anon-' || ref, 'service-' || ref, 'jwt-' || ref FROM platform.projects
            """);

        Assert.That(await db.ScalarAsync<string>("SELECT name FROM platform.get_organization_by_slug('acme')"), Is.EqualTo("Acme"));
        Assert.That(await db.ScalarAsync<string>("SELECT ref || ':' || database_host FROM platform.get_project_by_ref('p-two')"), Is.EqualTo("p-two:db.example.internal"));
        Assert.That(await db.ScalarAsync<string>("SELECT anon_key || ':' || jwt_secret FROM platform.get_credentials_by_project_ref('p-two')"), Is.EqualTo("anon-p-two:jwt-p-two"));

        Assert.That(await db.ColumnAsync("SELECT (id IS NULL AND name IS NULL AND slug IS NULL)::text FROM platform.get_organization_by_slug('nope')"), Is.EqualTo(new List<string> { "true" }));
        Assert.That(await db.ColumnAsync("SELECT (id IS NULL AND ref IS NULL)::text FROM platform.get_project_by_ref('nope')"), Is.EqualTo(new List<string> { "true" }));
        Assert.That(await db.ColumnAsync("SELECT (id IS NULL AND anon_key IS NULL)::text FROM platform.get_credentials_by_project_ref('nope')"), Is.EqualTo(new List<string> { "true" }));
    }

    [TestCase("organizations", "name = 'Renamed'")]
    [TestCase("projects", "name = 'Renamed'")]
    [TestCase("credentials", "anon_key = 'rotated'")]
    public async Task Updating_a_row_moves_its_updated_at_to_now_and_leaves_created_at(string table, string assignment)
    {
        await using var db = await AcmeWithProjectsAsync("p-one");
        await db.ExecuteAsync("INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, 'a', 's', 'j' FROM platform.projects");
        await db.ExecuteAsync($"ALTER TABLE platform.{table} DISABLE TRIGGER update_{table}_updated_at; " +
                              $"UPDATE platform.{table} SET created_at = '2001-01-01Z', updated_at = '2001-01-01Z'; " +
                              $"ALTER TABLE platform.{table} ENABLE TRIGGER update_{table}_updated_at;");

        var result = await db.ColumnAsync($"""
            UPDATE platform.{table} SET {assignment}
            RETURNING (updated_at = now())::text || ' ' || (created_at = '2001-01-01Z')::text
            """);
        Assert.That(result, Is.EqualTo(new List<string> { "true true" }));
    }

    [TestCase("INSERT INTO platform.organizations (name, slug) VALUES ('Acme', 'Bad Slug')", "organizations_slug_format")]
    [TestCase("INSERT INTO platform.organizations (name, slug) VALUES ('Acme', 'a')", "organizations_slug_format")]
    [TestCase("INSERT INTO platform.organizations (name, slug) VALUES ('Acme', 'trailing-')", "organizations_slug_format")]
    [TestCase("INSERT INTO platform.organizations (name, slug) VALUES ('   ', 'acme')", "organizations_name_not_empty")]
    [TestCase("UPDATE platform.projects SET name = ' '", "projects_name_not_empty")]
    [TestCase("UPDATE platform.projects SET database_port = 0", "projects_port_valid")]
    [TestCase("UPDATE platform.projects SET database_port = 65536", "projects_port_valid")]
    [TestCase("UPDATE platform.projects SET status = 'DELETED'", "projects_status_valid")]
    [TestCase("UPDATE platform.projects SET ref = 'UPPER'", "projects_ref_format")]
    [TestCase("UPDATE platform.projects SET slug = ' '", "projects_slug_not_empty")]
    [TestCase("INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, ' ', 's', 'j' FROM platform.projects", "credentials_anon_key_not_empty")]
    [TestCase("INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, 'a', 's', '' FROM platform.projects", "credentials_jwt_secret_not_empty")]
    public async Task Check_constraints_reject_bad_values(string statement, string constraint)
    {
        await using var db = await AcmeWithProjectsAsync("p-one");

        var error = Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(statement));
        Assert.That((error!.SqlState, error.ConstraintName), Is.EqualTo((PostgresErrorCodes.CheckViolation, constraint)));
    }

    [Test]
    public async Task Unique_keys_hold_and_deleting_an_organization_cascades_to_projects_and_credentials()
    {
        await using var db = await AcmeWithProjectsAsync("p-one");
        await db.ExecuteAsync("INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, 'a', 's', 'j' FROM platform.projects");

        var slug = Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync("INSERT INTO platform.organizations (name, slug) VALUES ('Other', 'acme')"));
        Assert.That(slug!.ConstraintName, Is.EqualTo("organizations_slug_key"));
        var reference = Assert.ThrowsAsync<PostgresException>(() => InsertProjectAsync(db, Acme, "p-one", "ACTIVE_HEALTHY"));
        Assert.That(reference!.ConstraintName, Is.EqualTo("projects_ref_key"));
        var credentials = Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync("INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) SELECT id, 'b', 't', 'k' FROM platform.projects"));
        Assert.That(credentials!.ConstraintName, Is.EqualTo("credentials_project_id_key"));

        await db.ExecuteAsync("DELETE FROM platform.organizations");
        Assert.That(await db.ScalarAsync<long>("SELECT (SELECT count(*) FROM platform.projects) + (SELECT count(*) FROM platform.credentials)"), Is.Zero);
    }

    [Test]
    public Task Rollback_to_0_after_version_1_drops_schema_platform_and_the_extension_it_created() =>
        RoundTrips.AssertRollbackTo0DropsSchemaPlatformAndTheExtensionItCreatedAsync("1");

    [Test]
    public async Task Rollback_to_0_keeps_a_uuid_ossp_and_a_platform_schema_that_existed_before()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE EXTENSION \"uuid-ossp\"; CREATE SCHEMA platform;");
        await db.UpAsync("--to", "1");

        await db.RollbackAsync("0");
        Assert.That(await Catalog.ExtensionExistsAsync(db, "uuid-ossp"), Is.True);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relnamespace = 'platform'::regnamespace"), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_proc WHERE pronamespace = 'platform'::regnamespace"), Is.Zero);
    }

    [Test]
    public Task Up_down_up_of_version_1_gives_an_identical_catalog() =>
        RoundTrips.AssertUpDownUpGivesAnIdenticalCatalogAsync("1");

    [Test]
    public async Task Rollback_to_0_refuses_while_a_table_version_1_created_holds_rows_and_removes_it_with_allow_data_loss()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        await db.ExecuteAsync("INSERT INTO platform.organizations (name, slug) VALUES ('Acme', 'acme')");
        await RoundTrips.AssertRollbackRefusesOverARowThenDropsWithAllowDataLossAsync(db, "0", "platform.organizations");
    }
}
