using System.Data;
using FluentMigrator;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// Version 006 as documented for production: (A) the multi-database registry <c>platform.databases</c> with its
/// helpers, (B) registration of the Railway MongoDB and Redis instances for the Lancio project, and (C) row level
/// security switched on with allow-all policies on the 25 tables of 001–005. Everything runs in one transaction.
/// Objects are rebuilt as the original left them, including its weaknesses (plaintext columns next to the
/// ciphertext, a SECURITY DEFINER function without search_path, EXECUTE left to PUBLIC): later versions fix them,
/// and the catalog has to match what production holds until then.
/// </summary>
[Migration(Version, "platform.databases registry, Railway registration, permissive RLS")]
[PresenceProbe(PresenceOf.Column, "platform.databases", "connection_string_encrypted")]
public sealed class M006_AddDatabaseRegistryAndPermissiveRls(ProductionSeedOptions seeds, ILogger<M006_AddDatabaseRegistryAndPermissiveRls> logger) : Migration
{
    private const long Version = 6;

    public const string RailwayMongoName = "Railway MongoDB";
    public const string RailwayRedisName = "Railway Redis";

    // Production registered the Mongo instance against its admin database (the template said "lancio").
    public const string DefaultMongoDatabase = "admin";

    /// <summary>The 25 tables of 001–005 that get RLS and one allow-all policy each; platform.databases is not among them.</summary>
    public static readonly IReadOnlyList<string> RlsTables = PermissiveRls.Tables;

    private const string S = Platform.Schema;
    private const string Table = "databases";

    private readonly ProductionSeedOptions _seeds = seeds;
    private readonly ILogger<M006_AddDatabaseRegistryAndPermissiveRls> _logger = logger;

    // Part B's rows live in the table, so dropping the table is the whole of the data loss.

    public override void Up()
    {
        // The original checked these before touching anything; without them part C fails half-way in psql.
        Execute.Sql(PreflightSql);

        UpPartA();

        Execute.WithConnection((connection, transaction) =>
            RegisterRailwayDatabases(AsNpgsql(connection), transaction as NpgsqlTransaction, _seeds, _logger));

        UpPartC();
    }

    public override void Down()
    {
        // Part C first (it never touched platform.databases), then part A in reverse dependency order.
        // No CASCADE anywhere: an object someone else built on top of these must stop the rollback, not vanish.
        foreach (var table in RlsTables)
        {
            Execute.Sql($"DROP POLICY permissive_all_{table} ON platform.{table}");
        }

        foreach (var table in RlsTables)
        {
            Execute.Sql($"ALTER TABLE platform.{table} DISABLE ROW LEVEL SECURITY");
        }

        Execute.Sql("DROP FUNCTION platform.test_rls_policies()");
        Execute.Sql("DROP FUNCTION platform.verify_rls_enabled()");

        Execute.Sql("DROP VIEW platform.databases_with_connection_strings");
        Execute.Sql("DROP VIEW platform.databases_safe");
        Execute.Sql("DROP TRIGGER encrypt_database_connection_string_trigger ON platform.databases");
        Execute.Sql("DROP TRIGGER update_databases_updated_at ON platform.databases");
        Execute.Sql("DROP FUNCTION platform.update_database_health(uuid, text, text)");
        Execute.Sql("DROP FUNCTION platform.get_project_databases(uuid, text)");
        Execute.Sql("DROP FUNCTION platform.decrypt_database_connection_string(uuid)");
        Execute.Sql("DROP FUNCTION platform.encrypt_database_connection_string()");
        foreach (var index in SecondaryIndexes)
        {
            Execute.Sql($"DROP INDEX platform.{index}");
        }

        Execute.Sql("DROP TABLE platform.databases");
        Execute.Sql(CreatedObjects.DropExtensionIfCreated("pgcrypto", Version));
    }

    private static readonly string[] SecondaryIndexes =
    [
        "idx_databases_project_id", "idx_databases_type", "idx_databases_status", "idx_databases_project_type_status",
        "idx_databases_health_check", "idx_databases_created_at", "idx_databases_updated_at",
    ];

    private const string PreflightSql = """
        DO $preflight$
        BEGIN
          IF current_setting('server_version_num')::int < 90500 THEN
            RAISE EXCEPTION 'migration 006 needs PostgreSQL 9.5 or later for row level security (server is %)', current_setting('server_version');
          END IF;
          IF to_regclass('platform.organizations') IS NULL THEN
            RAISE EXCEPTION 'migration 006 needs platform.organizations (migration 001) to exist';
          END IF;
          IF to_regclass('platform.users') IS NULL THEN
            RAISE EXCEPTION 'migration 006 needs platform.users (migration 003) to exist';
          END IF;
        END
        $preflight$
        """;

    private void UpPartA()
    {
        Execute.Sql(CreatedObjects.CreateExtensionIfAbsent("pgcrypto", Version));

        Create.Table(Table).InSchema(S)
            .WithColumn("id").AsGuid().NotNullable().PrimaryKey("databases_pkey").WithDefaultValue(RawSql.Insert("gen_random_uuid()"))
            .WithColumn("project_id").AsGuid().NotNullable()
                .ForeignKey("databases_project_id_fkey", S, "projects", "id").OnDelete(Rule.Cascade)
            .WithColumn("name").AsCustom("text").NotNullable()
            .WithColumn("type").AsCustom("text").NotNullable()
            .WithColumn("host").AsCustom("text").NotNullable()
            .WithColumn("port").AsInt32().NotNullable()
            .WithColumn("database").AsCustom("text").Nullable()
            .WithColumn("username").AsCustom("text").Nullable()
            .WithColumn("password").AsCustom("text").Nullable()
            .WithColumn("connection_string").AsCustom("text").NotNullable()
            .WithColumn("connection_string_encrypted").AsCustom("bytea").Nullable()
            .WithColumn("ssl_enabled").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("config").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'{}'::jsonb"))
            .WithColumn("metadata").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'{}'::jsonb"))
            .WithColumn("status").AsCustom("text").NotNullable().WithDefaultValue(RawSql.Insert("'active'::text"))
            .WithColumn("health_check_status").AsCustom("text").Nullable()
            .WithColumn("last_health_check_at").AsCustom("timestamp with time zone").Nullable()
            .WithColumn("health_check_error").AsCustom("text").Nullable()
            .WithColumn("created_at").AsCustom("timestamp with time zone").NotNullable().WithDefaultValue(RawSql.Insert("now()"))
            .WithColumn("updated_at").AsCustom("timestamp with time zone").NotNullable().WithDefaultValue(RawSql.Insert("now()"));

        Execute.Sql("""
            ALTER TABLE platform.databases
              ADD CONSTRAINT databases_name_not_empty CHECK (length(trim(name)) > 0),
              ADD CONSTRAINT databases_type_check CHECK (type IN ('mongodb', 'redis', 'postgresql')),
              ADD CONSTRAINT databases_host_not_empty CHECK (length(trim(host)) > 0),
              ADD CONSTRAINT databases_port_check CHECK (port > 0 AND port < 65536),
              ADD CONSTRAINT databases_connection_string_not_empty CHECK (length(trim(connection_string)) > 0),
              ADD CONSTRAINT databases_status_check CHECK (status IN ('active', 'inactive', 'error', 'maintenance')),
              ADD CONSTRAINT databases_health_check_status_check
                CHECK (health_check_status IS NULL OR health_check_status IN ('healthy', 'unhealthy', 'unknown'))
            """);

        Create.PlatformIndex("idx_databases_project_id", Table, "project_id");
        Create.PlatformIndex("idx_databases_type", Table, "type");
        Create.PlatformIndex("idx_databases_status", Table, "status");
        Create.PlatformIndex("idx_databases_project_type_status", Table, "project_id", "type", "status");
        Execute.Sql("CREATE INDEX idx_databases_health_check ON platform.databases (health_check_status, last_health_check_at) WHERE health_check_status IS NOT NULL");
        Execute.Sql("CREATE INDEX idx_databases_created_at ON platform.databases (created_at DESC)");
        Execute.Sql("CREATE INDEX idx_databases_updated_at ON platform.databases (updated_at DESC)");

        // The key is derived from the row's own project id and a constant; production rows were encrypted with
        // exactly this derivation, so it cannot change here without re-encrypting them.
        Execute.Sql("""
            CREATE FUNCTION platform.encrypt_database_connection_string() RETURNS trigger
            LANGUAGE plpgsql AS $fn$
            DECLARE
              v_key text;
            BEGIN
              IF NEW.connection_string IS NOT NULL
                 AND (TG_OP = 'INSERT' OR NEW.connection_string IS DISTINCT FROM OLD.connection_string) THEN
                v_key := encode(digest(NEW.project_id::text || 'database_encryption_salt_v1', 'sha256'), 'hex');
                NEW.connection_string_encrypted := pgp_sym_encrypt(NEW.connection_string, v_key);
              END IF;
              RETURN NEW;
            END
            $fn$
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.decrypt_database_connection_string(p_database_id uuid) RETURNS text
            LANGUAGE plpgsql SECURITY DEFINER AS $fn$
            DECLARE
              v_ciphertext bytea;
              v_project_id uuid;
            BEGIN
              SELECT d.connection_string_encrypted, d.project_id INTO v_ciphertext, v_project_id
              FROM platform.databases d
              WHERE d.id = p_database_id;

              IF v_ciphertext IS NULL THEN
                RETURN NULL;
              END IF;

              RETURN pgp_sym_decrypt(v_ciphertext, encode(digest(v_project_id::text || 'database_encryption_salt_v1', 'sha256'), 'hex'));
            END
            $fn$
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.get_project_databases(p_project_id uuid, p_type text DEFAULT NULL)
            RETURNS TABLE(id uuid, project_id uuid, name text, type text, host text, port integer, database text,
                          ssl_enabled boolean, config jsonb, status text, health_check_status text,
                          last_health_check_at timestamp with time zone, created_at timestamp with time zone,
                          updated_at timestamp with time zone)
            LANGUAGE plpgsql STABLE AS $fn$
            BEGIN
              RETURN QUERY
              SELECT d.id, d.project_id, d.name, d.type, d.host, d.port, d.database, d.ssl_enabled, d.config, d.status,
                     d.health_check_status, d.last_health_check_at, d.created_at, d.updated_at
              FROM platform.databases d
              WHERE d.project_id = p_project_id
                AND (p_type IS NULL OR d.type = p_type)
                AND d.status <> 'inactive'
              ORDER BY d.created_at DESC;
            END
            $fn$
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.update_database_health(p_database_id uuid, p_health_status text, p_error_message text DEFAULT NULL)
            RETURNS boolean
            LANGUAGE plpgsql AS $fn$
            BEGIN
              UPDATE platform.databases
              SET health_check_status = p_health_status,
                  last_health_check_at = now(),
                  health_check_error = p_error_message,
                  updated_at = now()
              WHERE id = p_database_id;
              RETURN FOUND;
            END
            $fn$
            """);

        Execute.Sql("CREATE TRIGGER update_databases_updated_at BEFORE UPDATE ON platform.databases FOR EACH ROW EXECUTE FUNCTION platform.update_updated_at_column()");
        Execute.Sql("CREATE TRIGGER encrypt_database_connection_string_trigger BEFORE INSERT OR UPDATE ON platform.databases FOR EACH ROW EXECUTE FUNCTION platform.encrypt_database_connection_string()");

        Execute.Sql("""
            CREATE VIEW platform.databases_with_connection_strings AS
            SELECT id, project_id, name, type, host, port, database, username, password,
                   platform.decrypt_database_connection_string(id) AS connection_string_decrypted,
                   ssl_enabled, config, metadata, status, health_check_status, last_health_check_at,
                   health_check_error, created_at, updated_at
            FROM platform.databases
            """);

        Execute.Sql("""
            CREATE VIEW platform.databases_safe AS
            SELECT id, project_id, name, type, host, port, database, ssl_enabled, config, metadata, status,
                   health_check_status, last_health_check_at, created_at, updated_at,
                   CASE type
                     WHEN 'mongodb' THEN 'mongodb://' || host || ':' || port
                     WHEN 'redis' THEN 'redis://' || host || ':' || port
                     WHEN 'postgresql' THEN 'postgresql://' || host || ':' || port
                     ELSE NULL
                   END AS connection_string_masked
            FROM platform.databases
            """);

        CommentsPartA();

        // As built: the schema grant repeats 001's, and the grants to postgres restrict nothing because
        // PUBLIC keeps its default EXECUTE (see the schema history; a later version revokes it).
        Execute.Sql("GRANT USAGE ON SCHEMA platform TO PUBLIC");
        Execute.Sql("GRANT SELECT ON platform.databases_safe TO PUBLIC");
        Execute.Sql("GRANT EXECUTE ON FUNCTION platform.get_project_databases(uuid, text) TO PUBLIC");

        // Managed servers do not always have a role named postgres; there these grants have no one to go to.
        Execute.Sql("""
            DO $ogel$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postgres') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON platform.databases TO postgres;
                GRANT SELECT ON platform.databases_with_connection_strings TO postgres;
                GRANT EXECUTE ON FUNCTION platform.update_database_health(uuid, text, text) TO postgres;
                GRANT EXECUTE ON FUNCTION platform.decrypt_database_connection_string(uuid) TO postgres;
              ELSE
                RAISE NOTICE 'role postgres does not exist; the grants of migration 006 to it were skipped';
              END IF;
            END
            $ogel$
            """);
    }

    private void CommentsPartA()
    {
        Execute.Sql("COMMENT ON TABLE platform.databases IS 'Additional databases (MongoDB, Redis, PostgreSQL) a project uses, with connection details and health state.'");

        (string Column, string Text)[] columns =
        [
            ("id", "Identifier of the registered database."),
            ("project_id", "Project that owns this database; rows go with the project."),
            ("name", "Display name, unique only by convention within a project and type."),
            ("type", "Engine: mongodb, redis or postgresql."),
            ("host", "Host name the application connects to."),
            ("port", "TCP port the application connects to."),
            ("database", "Database name; for Redis the numeric database index."),
            ("username", "User name for authentication, if any."),
            ("password", "Password for authentication, stored as given."),
            ("connection_string", "Full connection URI, stored as given."),
            ("connection_string_encrypted", "pgcrypto ciphertext of connection_string, maintained by a trigger."),
            ("ssl_enabled", "Whether the connection uses TLS."),
            ("config", "Engine-specific client options (pool sizes, timeouts, key prefix, ...)."),
            ("metadata", "Free-form facts about the instance, such as provider and environment."),
            ("status", "Lifecycle state: active, inactive, error or maintenance."),
            ("health_check_status", "Result of the latest health check: healthy, unhealthy or unknown."),
            ("last_health_check_at", "When the latest health check ran."),
            ("health_check_error", "Error reported by the latest failed health check."),
        ];
        foreach (var (column, text) in columns)
        {
            Execute.Sql($"COMMENT ON COLUMN platform.databases.{column} IS '{text}'");
        }

        Execute.Sql("COMMENT ON VIEW platform.databases_with_connection_strings IS 'Registered databases with the connection string decrypted; for trusted server-side callers.'");
        Execute.Sql("COMMENT ON VIEW platform.databases_safe IS 'Registered databases without credentials; the connection string is reduced to scheme, host and port.'");
        Execute.Sql("COMMENT ON FUNCTION platform.encrypt_database_connection_string() IS 'Trigger: keeps connection_string_encrypted in step with connection_string.'");
        Execute.Sql("COMMENT ON FUNCTION platform.decrypt_database_connection_string(uuid) IS 'Returns the decrypted connection string of one registered database, or NULL.'");
        Execute.Sql("COMMENT ON FUNCTION platform.get_project_databases(uuid, text) IS 'Databases of a project that are not inactive, optionally of one type, newest first.'");
        Execute.Sql("COMMENT ON FUNCTION platform.update_database_health(uuid, text, text) IS 'Records a health check result; returns false when the database id is unknown.'");
    }

    private void UpPartC()
    {
        foreach (var table in RlsTables)
        {
            Execute.Sql($"ALTER TABLE platform.{table} ENABLE ROW LEVEL SECURITY");
        }

        foreach (var table in RlsTables)
        {
            Execute.Sql($"CREATE POLICY permissive_all_{table} ON platform.{table} AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)");
        }

        Execute.Sql("""
            CREATE FUNCTION platform.verify_rls_enabled()
            RETURNS TABLE(table_name text, rls_enabled boolean, policy_count bigint)
            LANGUAGE plpgsql AS $fn$
            BEGIN
              RETURN QUERY
              SELECT c.relname::text,
                     c.relrowsecurity,
                     (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
              FROM pg_class c
              WHERE c.relnamespace = 'platform'::regnamespace AND c.relkind IN ('r', 'p')
              ORDER BY c.relname;
            END
            $fn$
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.test_rls_policies()
            RETURNS TABLE(test_name text, test_result boolean, description text)
            LANGUAGE plpgsql AS $fn$
            DECLARE
              v_rls_tables integer;
              v_policies integer;
            BEGIN
              test_name := 'organizations_read';
              test_result := EXISTS (SELECT 1 FROM platform.organizations);
              description := 'At least one organization is visible to the current role';
              RETURN NEXT;

              test_name := 'projects_read';
              test_result := EXISTS (SELECT 1 FROM platform.projects);
              description := 'At least one project is visible to the current role';
              RETURN NEXT;

              test_name := 'users_read';
              test_result := EXISTS (SELECT 1 FROM platform.users);
              description := 'At least one user is visible to the current role';
              RETURN NEXT;

              SELECT count(*) INTO v_rls_tables
              FROM pg_class c
              WHERE c.relnamespace = 'platform'::regnamespace AND c.relkind IN ('r', 'p') AND c.relrowsecurity;
              test_name := 'rls_enabled';
              test_result := v_rls_tables >= 24;
              description := format('%s platform tables have row level security enabled (24 or more expected)', v_rls_tables);
              RETURN NEXT;

              SELECT count(*) INTO v_policies
              FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
              WHERE c.relnamespace = 'platform'::regnamespace;
              test_name := 'policies_exist';
              test_result := v_policies >= 24;
              description := format('%s policies exist on platform tables (24 or more expected)', v_policies);
              RETURN NEXT;
            END
            $fn$
            """);

        Execute.Sql("COMMENT ON FUNCTION platform.verify_rls_enabled() IS 'Lists every platform table with its row level security flag and number of policies.'");
        Execute.Sql("COMMENT ON FUNCTION platform.test_rls_policies() IS 'Self-check after enabling RLS: core tables readable, RLS and policies in place on the platform tables.'");
    }

    /// <summary>
    /// Part B: registers the Railway MongoDB and Redis instances for the Lancio project. Idempotent per
    /// (project_id, type, name); changes nothing, and says why in one line, when the passwords are not configured
    /// or there is no Lancio project. Secrets only ever travel as command parameters. Returns the rows inserted.
    /// </summary>
    public static int RegisterRailwayDatabases(NpgsqlConnection connection, NpgsqlTransaction? transaction, ProductionSeedOptions seeds, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(logger);

        var missing = ProductionSeedOptions.Unset(
            (ProductionSeedOptions.RailwayMongoPasswordVariable, seeds.RailwayMongoPassword),
            (ProductionSeedOptions.RailwayRedisPasswordVariable, seeds.RailwayRedisPassword));
        if (missing.Count > 0)
        {
            logger.LogInformation(
                "006 Railway registration skipped: {Missing} not set, so no Railway database was registered in platform.databases.",
                string.Join(" and ", missing));
            return 0;
        }

        // The original took whichever lancio project the scan returned first. The BlackWhale project (ref
        // blackwhale-prod) is the one 004 seeds and the one production registered, so it wins; otherwise the
        // oldest project, with the id as the final tie-break, so every run picks the same one.
        Guid projectId;
        string projectRef;
        using (var pick = new NpgsqlCommand("""
            SELECT p.id, p.ref
            FROM platform.projects p
            JOIN platform.organizations o ON o.id = p.organization_id
            WHERE o.slug = 'lancio'
            ORDER BY (p.ref = 'blackwhale-prod') DESC, p.created_at, p.id
            LIMIT 1
            """, connection, transaction))
        using (var reader = pick.ExecuteReader())
        {
            if (!reader.Read())
            {
                logger.LogInformation(
                    "006 Railway registration skipped: organization 'lancio' has no project (migration 004 seeds it), so no Railway database was registered in platform.databases.");
                return 0;
            }

            projectId = reader.GetGuid(0);
            projectRef = reader.GetString(1);
        }

        var mongoDatabase = seeds.RailwayMongoDatabase ?? DefaultMongoDatabase;
        var entries = new[]
        {
            new RailwayEntry(
                RailwayMongoName, "mongodb", "mongodb.railway.internal", 27017, mongoDatabase, "mongo", seeds.RailwayMongoPassword!,
                $"mongodb://mongo:{Uri.EscapeDataString(seeds.RailwayMongoPassword!)}@mongodb.railway.internal:27017/{Uri.EscapeDataString(mongoDatabase)}",
                """{"authSource": "admin", "replicaSet": null, "minPoolSize": 2, "maxPoolSize": 10, "serverSelectionTimeoutMS": 5000, "retryWrites": true, "directConnection": true}"""),
            new RailwayEntry(
                RailwayRedisName, "redis", "redis.railway.internal", 6379, "0", "default", seeds.RailwayRedisPassword!,
                $"redis://default:{Uri.EscapeDataString(seeds.RailwayRedisPassword!)}@redis.railway.internal:6379",
                """{"db": 0, "keyPrefix": "studio:", "connectTimeout": 10000, "retryStrategy": {"maxAttempts": 3, "delay": 1000}, "commandTimeout": 5000}"""),
        };
        const string metadata = """{"provider": "railway", "environment": "production", "network": "private"}""";

        var inserted = 0;
        var outcome = new List<string>();
        foreach (var entry in entries)
        {
            using var insert = new NpgsqlCommand("""
                INSERT INTO platform.databases
                  (project_id, name, type, host, port, database, username, password, connection_string,
                   ssl_enabled, config, metadata, status, health_check_status)
                SELECT @project_id, @name, @type, @host, @port, @database, @username, @password, @connection_string,
                       false, @config, @metadata, 'active', 'unknown'
                WHERE NOT EXISTS (
                  SELECT 1 FROM platform.databases d
                  WHERE d.project_id = @project_id AND d.type = @type AND d.name = @name)
                """, connection, transaction);
            insert.Parameters.Add(new NpgsqlParameter("project_id", NpgsqlDbType.Uuid) { Value = projectId });
            insert.Parameters.Add(new NpgsqlParameter("name", NpgsqlDbType.Text) { Value = entry.Name });
            insert.Parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Text) { Value = entry.Type });
            insert.Parameters.Add(new NpgsqlParameter("host", NpgsqlDbType.Text) { Value = entry.Host });
            insert.Parameters.Add(new NpgsqlParameter("port", NpgsqlDbType.Integer) { Value = entry.Port });
            insert.Parameters.Add(new NpgsqlParameter("database", NpgsqlDbType.Text) { Value = entry.Database });
            insert.Parameters.Add(new NpgsqlParameter("username", NpgsqlDbType.Text) { Value = entry.Username });
            insert.Parameters.Add(new NpgsqlParameter("password", NpgsqlDbType.Text) { Value = entry.Password });
            insert.Parameters.Add(new NpgsqlParameter("connection_string", NpgsqlDbType.Text) { Value = entry.ConnectionString });
            insert.Parameters.Add(new NpgsqlParameter("config", NpgsqlDbType.Jsonb) { Value = entry.Config });
            insert.Parameters.Add(new NpgsqlParameter("metadata", NpgsqlDbType.Jsonb) { Value = metadata });
            var rows = insert.ExecuteNonQuery();
            inserted += rows;
            outcome.Add($"{entry.Name} {(rows == 1 ? "registered" : "already present")}");
        }

        logger.LogInformation("006 Railway registration for project {ProjectRef} ({ProjectId}): {Outcome}.", projectRef, projectId, string.Join(", ", outcome));
        return inserted;
    }

    private static NpgsqlConnection AsNpgsql(IDbConnection connection) =>
        connection as NpgsqlConnection
        ?? throw new InvalidOperationException($"migration 006 needs an Npgsql connection, got {connection.GetType().Name}");

    private sealed record RailwayEntry(
        string Name, string Type, string Host, int Port, string Database, string Username, string Password, string ConnectionString, string Config);
}
