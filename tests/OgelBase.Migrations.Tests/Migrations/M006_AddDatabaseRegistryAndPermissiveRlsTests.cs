using Microsoft.Extensions.Logging;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>
/// Migration 006: the platform.databases registry (part A), the Railway registration rows (part B) and the
/// permissive RLS (part C), checked against docs/schema-facts.md §6, §0 and §10 on a real server.
/// </summary>
public sealed class M006_AddDatabaseRegistryAndPermissiveRlsTests
{
    private const string MongoPassword = "m0ngo-Secret+/:@?value";
    private const string RedisPassword = "r3dis-Secret#&=value";

    private static readonly Dictionary<string, string?> RailwayConfig = new()
    {
        [ProductionSeedOptions.RailwayMongoPasswordVariable] = MongoPassword,
        [ProductionSeedOptions.RailwayRedisPasswordVariable] = RedisPassword,
    };

    /// <summary>An organization (created if absent) and one project in it; returns the project id.</summary>
    private static async Task<Guid> CreateProjectAsync(TestDatabase db, string orgSlug, string projectRef, string createdAt = "now()")
    {
        await db.ExecuteAsync($"""
            INSERT INTO platform.organizations (name, slug) VALUES ('{orgSlug} org', '{orgSlug}') ON CONFLICT (slug) DO NOTHING
            """);
        return await db.ScalarAsync<Guid>($"""
            INSERT INTO platform.projects
              (organization_id, name, slug, ref, database_host, database_name, database_user, database_password,
               postgres_meta_url, supabase_url, created_at, updated_at)
            SELECT id, '{projectRef}', '{projectRef}', '{projectRef}', 'db.internal', 'postgres', 'postgres', 'pw',
                   'https://meta.example.test', 'https://kong.example.test', {createdAt}, {createdAt}
            FROM platform.organizations WHERE slug = '{orgSlug}'
            RETURNING id
            """);
    }

    /// <summary>A database of project acme-prod last updated in 2000, so that any trigger moving updated_at shows.</summary>
    private static async Task<Guid> InsertLongUnchangedDatabaseAsync(TestDatabase db, string name, string type, string host, int port, string connectionString)
    {
        var project = await CreateProjectAsync(db, "acme", "acme-prod");
        var id = await InsertDatabaseAsync(db, project, name, type, host, port, connectionString);
        await db.ExecuteAsync($"UPDATE platform.databases SET updated_at = '2000-01-01' WHERE id = '{id}'");
        return id;
    }

    private static async Task<Guid> InsertDatabaseAsync(TestDatabase db, Guid projectId, string name, string type, string host, int port,
        string connectionString, string status = "active", string createdAt = "now()")
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            INSERT INTO platform.databases (project_id, name, type, host, port, connection_string, status, created_at)
            VALUES (@p, @n, @t, @h, @port, @cs, @s, {createdAt}) RETURNING id
            """, connection);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("n", name);
        command.Parameters.AddWithValue("t", type);
        command.Parameters.AddWithValue("h", host);
        command.Parameters.AddWithValue("port", port);
        command.Parameters.AddWithValue("cs", connectionString);
        command.Parameters.AddWithValue("s", status);
        return (Guid)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<string?> DecryptAsync(TestDatabase db, Guid id) =>
        await db.ScalarAsync<string?>($"SELECT platform.decrypt_database_connection_string('{id}')");

    /// <summary>"grantee:privilege" pairs of an ACL, with the owner's implicit default filled in, sorted.</summary>
    private static async Task<List<string>> AclAsync(TestDatabase db, string aclSql) =>
        await db.ColumnAsync($"""
            SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END || ':' || a.privilege_type
            FROM ({aclSql}) s(acl), aclexplode(s.acl) a
            ORDER BY 1
            """);

    private static Task<List<string>> RelationAclAsync(TestDatabase db, string relation) =>
        AclAsync(db, $"SELECT coalesce(relacl, acldefault('r', relowner)) FROM pg_class WHERE oid = '{relation}'::regclass");

    private static Task<List<string>> FunctionAclAsync(TestDatabase db, string signature) =>
        AclAsync(db, $"SELECT coalesce(proacl, acldefault('f', proowner)) FROM pg_proc WHERE oid = '{signature}'::regprocedure");

    private static async Task<string> ViewColumnsAsync(TestDatabase db, string view) =>
        await db.ScalarAsync<string>($"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{view}'::regclass AND attnum > 0");

    // ---------------------------------------------------------------- part A: catalog

    [Test]
    public async Task Two_functions_of_006_let_callers_omit_their_last_argument()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        // Language, volatility, security and result are the manifest's; the argument defaults are not.
        var defaults = await db.ColumnAsync("""
            SELECT p.oid::regprocedure::text || ' ' || pg_get_expr(p.proargdefaults, 0)
            FROM pg_proc p WHERE p.oid IN ('platform.get_project_databases(uuid,text)'::regprocedure, 'platform.update_database_health(uuid,text,text)'::regprocedure)
            ORDER BY 1
            """);
        Assert.That(defaults, Is.EqualTo(new[]
        {
            "platform.get_project_databases(uuid,text) NULL::text",
            "platform.update_database_health(uuid,text,text) NULL::text",
        }));
    }

    [Test]
    public async Task The_two_views_expose_exactly_the_spec_columns()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        Assert.That(await ViewColumnsAsync(db, "platform.databases_with_connection_strings"), Is.EqualTo(
            "id,project_id,name,type,host,port,database,username,password,connection_string_decrypted,ssl_enabled,config,metadata,status," +
            "health_check_status,last_health_check_at,health_check_error,created_at,updated_at"));
        Assert.That(await ViewColumnsAsync(db, "platform.databases_safe"), Is.EqualTo(
            "id,project_id,name,type,host,port,database,ssl_enabled,config,metadata,status,health_check_status,last_health_check_at," +
            "created_at,updated_at,connection_string_masked"));
    }

    [Test]
    public async Task Grants_are_as_built_including_public_select_on_databases_safe_and_public_execute_on_every_function()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        Assert.Multiple(async () =>
        {
            Assert.That(await RelationAclAsync(db, "platform.databases_safe"), Does.Contain("PUBLIC:SELECT"));
            Assert.That((await RelationAclAsync(db, "platform.databases_safe")).Where(a => a.StartsWith("PUBLIC:", StringComparison.Ordinal)),
                Is.EqualTo(new[] { "PUBLIC:SELECT" }));
            Assert.That(await RelationAclAsync(db, "platform.databases"), Is.SupersetOf(new[] { "postgres:DELETE", "postgres:INSERT", "postgres:SELECT", "postgres:UPDATE" }));
            Assert.That(await RelationAclAsync(db, "platform.databases"), Has.None.StartsWith("PUBLIC:"), "006 grants PUBLIC nothing on the table");
            Assert.That(await RelationAclAsync(db, "platform.databases_with_connection_strings"), Does.Contain("postgres:SELECT"));
            Assert.That(await RelationAclAsync(db, "platform.databases_with_connection_strings"), Has.None.StartsWith("PUBLIC:"));
            // The grants ran: a relation nobody granted on keeps a NULL ACL.
            Assert.That(await db.ScalarAsync<bool>("SELECT bool_and(relacl IS NOT NULL) FROM pg_class WHERE oid IN ('platform.databases'::regclass, 'platform.databases_safe'::regclass, 'platform.databases_with_connection_strings'::regclass)"), Is.True);
            Assert.That(await db.ScalarAsync<bool>("SELECT has_schema_privilege('public', 'platform', 'USAGE')"), Is.True);

            Assert.That(await FunctionAclAsync(db, "platform.get_project_databases(uuid,text)"), Does.Contain("PUBLIC:EXECUTE"));
            Assert.That(await FunctionAclAsync(db, "platform.update_database_health(uuid,text,text)"), Is.SupersetOf(new[] { "PUBLIC:EXECUTE", "postgres:EXECUTE" }));
            Assert.That(await FunctionAclAsync(db, "platform.decrypt_database_connection_string(uuid)"), Is.SupersetOf(new[] { "PUBLIC:EXECUTE", "postgres:EXECUTE" }));
            Assert.That(await FunctionAclAsync(db, "platform.encrypt_database_connection_string()"), Does.Contain("PUBLIC:EXECUTE"));
            Assert.That(await db.ScalarAsync<bool>("SELECT bool_and(proacl IS NOT NULL) FROM pg_proc WHERE oid IN ('platform.get_project_databases(uuid,text)'::regprocedure, 'platform.update_database_health(uuid,text,text)'::regprocedure, 'platform.decrypt_database_connection_string(uuid)'::regprocedure)"), Is.True);
        });
    }

    [Test]
    public async Task Comments_cover_the_table_18_columns_both_views_and_all_six_functions()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        Assert.That(await db.ScalarAsync<bool>("SELECT obj_description('platform.databases'::regclass, 'pg_class') IS NOT NULL"), Is.True);
        var uncommented = await db.ColumnAsync("""
            SELECT attname FROM pg_attribute
            WHERE attrelid = 'platform.databases'::regclass AND attnum > 0 AND NOT attisdropped AND col_description(attrelid, attnum) IS NULL
            ORDER BY attnum
            """);
        Assert.That(uncommented, Is.EqualTo(new[] { "created_at", "updated_at" }));
        var missing = await db.ColumnAsync("""
            SELECT o FROM unnest(ARRAY['platform.databases_safe', 'platform.databases_with_connection_strings']) o
            WHERE obj_description(o::regclass, 'pg_class') IS NULL
            UNION ALL
            SELECT f FROM unnest(ARRAY['platform.encrypt_database_connection_string()', 'platform.decrypt_database_connection_string(uuid)',
                                       'platform.get_project_databases(uuid,text)', 'platform.update_database_health(uuid,text,text)',
                                       'platform.verify_rls_enabled()', 'platform.test_rls_policies()']) f
            WHERE obj_description(f::regprocedure, 'pg_proc') IS NULL
            """);
        Assert.That(missing, Is.Empty);
    }

    [Test]
    public async Task Verify_rls_enabled_and_test_rls_policies_report_the_state_part_c_built()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var rows = await db.ColumnAsync("SELECT table_name || ':' || rls_enabled || ':' || policy_count FROM platform.verify_rls_enabled()");
        var expected = M006_AddDatabaseRegistryAndPermissiveRls.RlsTables.Select(t => $"{t}:true:1").Append("databases:false:0")
            .OrderBy(r => r[..r.IndexOf(':', StringComparison.Ordinal)], StringComparer.Ordinal).ToList();
        Assert.That(rows, Is.EqualTo(expected));

        var before = await db.ColumnAsync("SELECT test_name || ':' || test_result FROM platform.test_rls_policies()");
        Assert.That(before, Is.EqualTo(new[] { "organizations_read:false", "projects_read:false", "users_read:false", "rls_enabled:true", "policies_exist:true" }));
        await CreateProjectAsync(db, "acme", "acme-prod");
        var after = await db.ColumnAsync("SELECT test_name || ':' || test_result FROM platform.test_rls_policies()");
        Assert.That(after, Is.EqualTo(new[] { "organizations_read:true", "projects_read:true", "users_read:false", "rls_enabled:true", "policies_exist:true" }));
    }

    // ---------------------------------------------------------------- part A: behaviour

    [Test]
    public async Task Inserting_a_database_fills_the_ciphertext_and_decrypt_returns_the_connection_string()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var project = await CreateProjectAsync(db, "acme", "acme-prod");
        var id = await InsertDatabaseAsync(db, project, "cache", "redis", "redis.local", 6379, "redis://default:pw@redis.local:6379");

        Assert.That(await db.ScalarAsync<bool>($"SELECT connection_string_encrypted IS NOT NULL AND connection_string_encrypted <> convert_to(connection_string, 'UTF8') FROM platform.databases WHERE id = '{id}'"), Is.True);
        Assert.That(await DecryptAsync(db, id), Is.EqualTo("redis://default:pw@redis.local:6379"));
        // The key is the hex SHA-256 of project id + constant salt: production ciphertext stays readable.
        Assert.That(await db.ScalarAsync<string>($"""
            SELECT pgp_sym_decrypt(connection_string_encrypted, encode(digest(project_id::text || 'database_encryption_salt_v1', 'sha256'), 'hex'))
            FROM platform.databases WHERE id = '{id}'
            """), Is.EqualTo("redis://default:pw@redis.local:6379"));
        Assert.That(await DecryptAsync(db, Guid.NewGuid()), Is.Null);
    }

    [Test]
    public async Task The_ciphertext_is_renewed_only_when_the_connection_string_changes_and_updated_at_moves()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var id = await InsertLongUnchangedDatabaseAsync(db, "cache", "redis", "redis.local", 6379, "redis://a@redis.local:6379");
        var first = await db.ScalarAsync<string>($"SELECT encode(connection_string_encrypted, 'hex') FROM platform.databases WHERE id = '{id}'");

        await db.ExecuteAsync($"UPDATE platform.databases SET host = 'redis2.local' WHERE id = '{id}'");
        Assert.That(await db.ScalarAsync<string>($"SELECT encode(connection_string_encrypted, 'hex') FROM platform.databases WHERE id = '{id}'"), Is.EqualTo(first));
        Assert.That(await db.ScalarAsync<bool>($"SELECT updated_at > '2000-01-02' FROM platform.databases WHERE id = '{id}'"), Is.True);

        await db.ExecuteAsync($"UPDATE platform.databases SET connection_string = 'redis://b@redis2.local:6379' WHERE id = '{id}'");
        Assert.That(await db.ScalarAsync<string>($"SELECT encode(connection_string_encrypted, 'hex') FROM platform.databases WHERE id = '{id}'"), Is.Not.EqualTo(first));
        Assert.That(await DecryptAsync(db, id), Is.EqualTo("redis://b@redis2.local:6379"));
    }

    [Test]
    public async Task Update_database_health_records_the_result_and_reports_whether_a_row_matched()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var id = await InsertLongUnchangedDatabaseAsync(db, "docs", "mongodb", "mongo.local", 27017, "mongodb://mongo.local:27017/x");

        Assert.That(await db.ScalarAsync<bool>($"SELECT platform.update_database_health('{id}', 'unhealthy', 'timeout')"), Is.True);
        Assert.That(await db.ScalarAsync<string>($"SELECT health_check_status || '|' || health_check_error || '|' || (last_health_check_at > now() - interval '1 minute') || '|' || (updated_at > '2000-01-02') FROM platform.databases WHERE id = '{id}'"),
            Is.EqualTo("unhealthy|timeout|true|true"));

        Assert.That(await db.ScalarAsync<bool>($"SELECT platform.update_database_health('{id}', 'healthy')"), Is.True);
        Assert.That(await db.ScalarAsync<string>($"SELECT health_check_status || '|' || coalesce(health_check_error, '<null>') FROM platform.databases WHERE id = '{id}'"),
            Is.EqualTo("healthy|<null>"));

        Assert.That(await db.ScalarAsync<bool>($"SELECT platform.update_database_health('{Guid.NewGuid()}', 'healthy')"), Is.False);
        Assert.That(async () => await db.ScalarAsync<bool>($"SELECT platform.update_database_health('{id}', 'bogus')"),
            Throws.InstanceOf<PostgresException>().With.Property(nameof(PostgresException.ConstraintName)).EqualTo("databases_health_check_status_check"));
    }

    [Test]
    public async Task Get_project_databases_returns_the_projects_non_inactive_databases_newest_first_optionally_by_type()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var project = await CreateProjectAsync(db, "acme", "acme-prod");
        var other = await CreateProjectAsync(db, "acme", "acme-dev");
        await InsertDatabaseAsync(db, project, "old-mongo", "mongodb", "m1", 27017, "mongodb://m1:27017", createdAt: "now() - interval '3 days'");
        await InsertDatabaseAsync(db, project, "new-mongo", "mongodb", "m2", 27017, "mongodb://m2:27017", createdAt: "now() - interval '1 day'");
        await InsertDatabaseAsync(db, project, "cache", "redis", "r1", 6379, "redis://r1:6379", createdAt: "now() - interval '2 days'");
        await InsertDatabaseAsync(db, project, "retired", "redis", "r0", 6379, "redis://r0:6379", status: "inactive");
        await InsertDatabaseAsync(db, project, "fixing", "postgresql", "p1", 5432, "postgresql://p1:5432", status: "maintenance", createdAt: "now() - interval '4 days'");
        await InsertDatabaseAsync(db, other, "elsewhere", "mongodb", "m3", 27017, "mongodb://m3:27017");

        Assert.That(await db.ColumnAsync($"SELECT name FROM platform.get_project_databases('{project}')"),
            Is.EqualTo(new[] { "new-mongo", "cache", "old-mongo", "fixing" }));
        Assert.That(await db.ColumnAsync($"SELECT name FROM platform.get_project_databases('{project}', 'mongodb')"),
            Is.EqualTo(new[] { "new-mongo", "old-mongo" }));
        Assert.That(await db.ColumnAsync($"SELECT name FROM platform.get_project_databases('{project}', 'redis')"), Is.EqualTo(new[] { "cache" }));
        Assert.That(await db.ColumnAsync($"SELECT name FROM platform.get_project_databases('{Guid.NewGuid()}')"), Is.Empty);
    }

    [Test]
    public async Task Databases_safe_masks_the_connection_string_to_scheme_host_and_port_and_hides_credentials()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var project = await CreateProjectAsync(db, "acme", "acme-prod");
        await InsertDatabaseAsync(db, project, "a", "mongodb", "m.local", 27017, "mongodb://u:secret@m.local:27017/db");
        await InsertDatabaseAsync(db, project, "b", "redis", "r.local", 6380, "redis://u:secret@r.local:6380");
        await InsertDatabaseAsync(db, project, "c", "postgresql", "p.local", 5433, "postgresql://u:secret@p.local:5433/db");

        Assert.That(await db.ColumnAsync("SELECT name || ' ' || connection_string_masked FROM platform.databases_safe ORDER BY name"), Is.EqualTo(new[]
        {
            "a mongodb://m.local:27017",
            "b redis://r.local:6380",
            "c postgresql://p.local:5433",
        }));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases_safe s WHERE s::text LIKE '%secret%'"), Is.Zero);
        Assert.That(await db.ColumnAsync("SELECT name || ' ' || connection_string_decrypted FROM platform.databases_with_connection_strings ORDER BY name"), Is.EqualTo(new[]
        {
            "a mongodb://u:secret@m.local:27017/db",
            "b redis://u:secret@r.local:6380",
            "c postgresql://u:secret@p.local:5433/db",
        }));
    }

    [Test]
    public async Task Constraints_reject_an_unknown_type_an_out_of_range_port_and_a_blank_name()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var project = await CreateProjectAsync(db, "acme", "acme-prod");
        async Task<string?> Violated(string name, string type, int port)
        {
            try
            {
                await InsertDatabaseAsync(db, project, name, type, "h", port, "x://h");
                return null;
            }
            catch (PostgresException e)
            {
                return e.ConstraintName;
            }
        }

        Assert.That(await Violated("n", "mysql", 3306), Is.EqualTo("databases_type_check"));
        Assert.That(await Violated("n", "redis", 0), Is.EqualTo("databases_port_check"));
        Assert.That(await Violated("n", "redis", 65536), Is.EqualTo("databases_port_check"));
        Assert.That(await Violated("  ", "redis", 6379), Is.EqualTo("databases_name_not_empty"));
        Assert.That(await Violated("ok", "redis", 65535), Is.Null);
    }

    // ---------------------------------------------------------------- pre-flight and transaction

    [Test]
    public async Task Without_platform_users_the_preflight_check_fails_006_and_nothing_of_it_remains()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        var at5 = await Catalog.SnapshotAsync(db);
        await db.ExecuteAsync("ALTER TABLE platform.users RENAME TO users_moved");
        var withoutUsers = await Catalog.SnapshotAsync(db);

        var result = await db.RunAsync("migrate", "up", "--to", "6");
        Assert.That(result.ExitCode, Is.Not.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain("platform.users"), result.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(withoutUsers));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.version_info WHERE version = 6"), Is.Zero);

        await db.ExecuteAsync("ALTER TABLE platform.users_moved RENAME TO users");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at5));
    }

    // ---------------------------------------------------------------- part B: Railway registration

    [Test]
    public async Task Without_railway_configuration_no_row_is_registered_and_the_output_says_why()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await CreateProjectAsync(db, "lancio", "blackwhale-prod");

        var result = await db.UpAsync("--to", "6");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.Zero);
        var lines = result.Stderr.Split('\n').Where(l => l.Contains("006 Railway registration", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Has.Count.EqualTo(1), result.ToString());
        Assert.That(lines[0], Does.Contain("skipped").And.Contain(ProductionSeedOptions.RailwayMongoPasswordVariable).And.Contain(ProductionSeedOptions.RailwayRedisPasswordVariable));
    }

    [Test]
    public async Task With_only_one_password_configured_nothing_is_registered_and_the_missing_variable_is_named()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await CreateProjectAsync(db, "lancio", "blackwhale-prod");

        var result = await db.RunAsync(new Dictionary<string, string?> { [ProductionSeedOptions.RailwayMongoPasswordVariable] = MongoPassword }, "migrate", "up", "--to", "6");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.Zero);
        var line = result.Stderr.Split('\n').Single(l => l.Contains("006 Railway registration", StringComparison.Ordinal));
        Assert.That(line, Does.Contain(ProductionSeedOptions.RailwayRedisPasswordVariable).And.Not.Contain(ProductionSeedOptions.RailwayMongoPasswordVariable));
        Assert.That(result.ToString(), Does.Not.Contain(MongoPassword));
    }

    [Test]
    public async Task With_configuration_but_no_lancio_project_no_row_is_registered_and_the_output_says_why()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await db.ExecuteAsync("DELETE FROM platform.organizations WHERE slug = 'lancio'");
        await db.ExecuteAsync("INSERT INTO platform.organizations (name, slug) VALUES ('Lancio', 'lancio')");
        await CreateProjectAsync(db, "acme", "acme-prod");

        var result = await db.RunAsync(RailwayConfig, "migrate", "up", "--to", "6");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.Zero);
        var lines = result.Stderr.Split('\n').Where(l => l.Contains("006 Railway registration", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Has.Count.EqualTo(1), result.ToString());
        Assert.That(lines[0], Does.Contain("skipped").And.Contain("lancio"));
        Assert.That(result.ToString(), Does.Not.Contain(MongoPassword).And.Not.Contain(RedisPassword));
    }

    [Test]
    public async Task With_configuration_the_two_railway_rows_are_registered_for_blackwhale_with_the_production_values()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        // An older lancio project: the original took whichever came first; we take blackwhale-prod.
        await CreateProjectAsync(db, "lancio", "aaa-older", createdAt: "now() - interval '30 days'");
        var blackwhale = await CreateProjectAsync(db, "lancio", "blackwhale-prod");

        var result = await db.RunAsync(RailwayConfig, "migrate", "up", "--to", "6", "--verbose");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stdout + result.Stderr, Does.Not.Contain(MongoPassword).And.Not.Contain(RedisPassword)
            .And.Not.Contain(Uri.EscapeDataString(MongoPassword)).And.Not.Contain(Uri.EscapeDataString(RedisPassword)));
        Assert.That(result.Stderr, Does.Contain("Railway MongoDB registered").And.Contain("Railway Redis registered"), result.ToString());

        var rows = await db.ColumnAsync($"""
            SELECT concat_ws(' | ', name, type, host, port, database, username, ssl_enabled, status, health_check_status, project_id = '{blackwhale}')
            FROM platform.databases ORDER BY name
            """);
        Assert.That(rows, Is.EqualTo(new[]
        {
            "Railway MongoDB | mongodb | mongodb.railway.internal | 27017 | admin | mongo | f | active | unknown | t",
            "Railway Redis | redis | redis.railway.internal | 6379 | 0 | default | f | active | unknown | t",
        }));

        var config = await db.ColumnAsync("""
            SELECT config = '{"authSource": "admin", "replicaSet": null, "minPoolSize": 2, "maxPoolSize": 10, "serverSelectionTimeoutMS": 5000, "retryWrites": true, "directConnection": true}'::jsonb
                   AND metadata = '{"provider": "railway", "environment": "production", "network": "private"}'::jsonb
            FROM platform.databases WHERE name = 'Railway MongoDB'
            UNION ALL
            SELECT config = '{"db": 0, "keyPrefix": "studio:", "connectTimeout": 10000, "retryStrategy": {"maxAttempts": 3, "delay": 1000}, "commandTimeout": 5000}'::jsonb
                   AND metadata = '{"provider": "railway", "environment": "production", "network": "private"}'::jsonb
            FROM platform.databases WHERE name = 'Railway Redis'
            """);
        Assert.That(config, Is.EqualTo(new[] { "True", "True" }));

        var mongo = await db.ScalarAsync<Guid>("SELECT id FROM platform.databases WHERE name = 'Railway MongoDB'");
        var redis = await db.ScalarAsync<Guid>("SELECT id FROM platform.databases WHERE name = 'Railway Redis'");
        Assert.That(await db.ScalarAsync<string>($"SELECT password FROM platform.databases WHERE id = '{mongo}'"), Is.EqualTo(MongoPassword));
        Assert.That(await db.ScalarAsync<string>($"SELECT password FROM platform.databases WHERE id = '{redis}'"), Is.EqualTo(RedisPassword));
        Assert.That(await DecryptAsync(db, mongo), Is.EqualTo($"mongodb://mongo:{Uri.EscapeDataString(MongoPassword)}@mongodb.railway.internal:27017/admin"));
        Assert.That(await DecryptAsync(db, redis), Is.EqualTo($"redis://default:{Uri.EscapeDataString(RedisPassword)}@redis.railway.internal:6379"));
    }

    [Test]
    public async Task Railway_registration_inserts_each_row_once_however_often_it_runs()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        var blackwhale = await CreateProjectAsync(db, "lancio", "blackwhale-prod");
        await db.UpAsync(RailwayConfig, "--to", "6");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.EqualTo(2));

        var seeds = new ProductionSeedOptions { RailwayMongoPassword = MongoPassword, RailwayRedisPassword = RedisPassword };
        var log = new ListLogger();
        await using (var connection = await db.OpenAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            Assert.That(M006_AddDatabaseRegistryAndPermissiveRls.RegisterRailwayDatabases(connection, transaction, seeds, log), Is.Zero);
            await transaction.CommitAsync();
        }

        Assert.That(log.Lines, Has.Count.EqualTo(1));
        Assert.That(log.Lines[0], Does.Contain("Railway MongoDB already present").And.Contain("Railway Redis already present"));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.EqualTo(2));

        // Only the missing one comes back; the key is (project_id, type, name).
        await db.ExecuteAsync("DELETE FROM platform.databases WHERE name = 'Railway Redis'");
        await using (var connection = await db.OpenAsync())
        {
            Assert.That(M006_AddDatabaseRegistryAndPermissiveRls.RegisterRailwayDatabases(connection, null, seeds, log), Is.EqualTo(1));
        }

        Assert.That(await db.ColumnAsync($"SELECT name FROM platform.databases WHERE project_id = '{blackwhale}' ORDER BY name"),
            Is.EqualTo(new[] { "Railway MongoDB", "Railway Redis" }));

        // The full cycle: rollback (data loss accepted) and up again registers the same two rows, once.
        await db.RollbackAsync("5", "--allow-data-loss");
        await db.UpAsync(RailwayConfig, "--to", "6");
        Assert.That(await db.ColumnAsync("SELECT name FROM platform.databases ORDER BY name"), Is.EqualTo(new[] { "Railway MongoDB", "Railway Redis" }));
    }

    [Test]
    public async Task Without_blackwhale_the_oldest_lancio_project_is_chosen_every_time()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await CreateProjectAsync(db, "lancio", "zzz-newer", createdAt: "now() - interval '1 day'");
        var oldest = await CreateProjectAsync(db, "lancio", "mmm-oldest", createdAt: "now() - interval '9 days'");
        await CreateProjectAsync(db, "lancio", "aaa-middle", createdAt: "now() - interval '5 days'");

        await db.UpAsync(RailwayConfig, "--to", "6");
        Assert.That(await db.ColumnAsync("SELECT DISTINCT project_id::text FROM platform.databases"), Is.EqualTo(new[] { oldest.ToString() }));
    }

    [Test]
    public async Task Rollback_refuses_without_allow_data_loss_while_platform_databases_holds_rows()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await CreateProjectAsync(db, "lancio", "blackwhale-prod");
        await db.UpAsync(RailwayConfig, "--to", "6");

        var refused = await db.RunAsync("rollback", "5");
        Assert.That(refused.ExitCode, Is.Not.EqualTo(0), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain("platform.databases").And.Contain("2 rows"), refused.ToString());
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.EqualTo(2));
    }

    // ---------------------------------------------------------------- Down

    [Test]
    public async Task Rollback_to_5_removes_everything_006_created_and_restores_the_version_5_snapshot()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "5");
        await CreateProjectAsync(db, "lancio", "blackwhale-prod");
        var at5 = await Catalog.SnapshotAsync(db);
        var counts5 = await Catalog.CountsAsync(db);

        await db.UpAsync(RailwayConfig, "--to", "6");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.databases"), Is.EqualTo(2));

        await db.RollbackAsync("5", "--allow-data-loss");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at5));
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(counts5));
        Assert.That(await Catalog.ExistsAsync(db, "platform.databases"), Is.False);
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regprocedure('platform.verify_rls_enabled()') IS NULL AND to_regprocedure('platform.decrypt_database_connection_string(uuid)') IS NULL"), Is.True);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relrowsecurity"), Is.Zero);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"), Is.EqualTo(1), "pgcrypto predates 006 (003 creates it) and stays");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.projects WHERE ref = 'blackwhale-prod'"), Is.EqualTo(1), "data outside 006 is untouched");
    }

    [Test]
    public async Task Up_down_up_yields_the_same_schema()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        var first = await Catalog.SnapshotAsync(db);

        await db.RollbackAsync("5");
        await db.UpAsync("--to", "6");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(first));
    }

    [Test]
    public async Task Rollback_refuses_and_changes_nothing_when_another_object_depends_on_platform_databases()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "6");
        await db.ExecuteAsync("CREATE VIEW public.my_databases AS SELECT id, name FROM platform.databases");
        var before = await Catalog.SnapshotAsync(db);

        var result = await db.RunAsync("rollback", "5");
        Assert.That(result.ExitCode, Is.Not.EqualTo(0), result.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "no CASCADE: the dependent view stops the rollback instead of vanishing");
        Assert.That(await Catalog.ExistsAsync(db, "public.my_databases"), Is.True);
    }

    private class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }

    private sealed class ListLogger<T> : ListLogger, ILogger<T>;
}
