using System.Data;
using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// docs/schema-facts.md §1: schema <c>platform</c> with organizations, projects and credentials, the lookup helpers,
/// two views and the one-shot grants, rebuilt as they exist in production.
/// </summary>
[Migration(Version, "platform schema core")]
[PresenceProbe(PresenceOf.Table, "platform.credentials")]
public sealed class M001_CreatePlatformSchema : Migration
{
    private const long Version = 1;
    private const string S = Platform.Schema;

    // The runner's session search_path resolves this to the extension's schema, so the catalog shows it unqualified, as in production.
    private static readonly RawSql NewUuid = RawSql.Insert("uuid_generate_v4()");
    private static readonly RawSql Now = RawSql.Insert("now()");

    public override void Up()
    {
        Execute.Sql(CreatedObjects.CreateExtensionIfAbsent("uuid-ossp", Version));
        Execute.Sql(CreatedObjects.CreateSchemaIfAbsent(S, Version));

        CreateOrganizations();
        CreateProjects();
        CreateCredentials();
        CreateFunctions();
        CreateTriggers();
        CreateViews();
        Grant();
    }

    public override void Down()
    {
        Execute.Sql("""
            DROP VIEW platform.organizations_with_stats;
            DROP VIEW platform.projects_with_credentials;
            DROP FUNCTION platform.get_credentials_by_project_ref(text);
            DROP FUNCTION platform.get_project_by_ref(text);
            DROP FUNCTION platform.get_organization_by_slug(text);
            DROP FUNCTION platform.generate_slug(text);
            DROP TRIGGER update_credentials_updated_at ON platform.credentials;
            DROP TRIGGER update_projects_updated_at ON platform.projects;
            DROP TRIGGER update_organizations_updated_at ON platform.organizations;
            """);
        Delete.Table("credentials").InSchema(S);
        Delete.Table("projects").InSchema(S);
        Delete.Table("organizations").InSchema(S);

        // No CASCADE: if a later version's trigger still used it, failing here is better than silently dropping that trigger.
        Execute.Sql("DROP FUNCTION platform.update_updated_at_column();");
        Execute.Sql(CreatedObjects.DropSchemaIfCreated(S, Version));
        Execute.Sql(CreatedObjects.DropExtensionIfCreated("uuid-ossp", Version));
    }

    private void CreateOrganizations()
    {
        Create.Table("organizations").InSchema(S)
            .WithColumn("id").AsGuid().NotNullable().WithDefaultValue(NewUuid).PrimaryKey("organizations_pkey")
            .WithColumn("name").AsString().NotNullable()
            .WithColumn("slug").AsString().NotNullable()
            .WithColumn("billing_email").AsString().Nullable()
            .WithColumn("created_at").AsDateTimeOffset().NotNullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsDateTimeOffset().NotNullable().WithDefaultValue(Now);

        Create.PlatformUnique("organizations_slug_key", "organizations", "slug");

        Execute.Sql("""
            ALTER TABLE platform.organizations
              ADD CONSTRAINT organizations_name_not_empty CHECK (length(trim(name)) > 0),
              ADD CONSTRAINT organizations_slug_not_empty CHECK (length(trim(slug)) > 0),
              ADD CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]*[a-z0-9]$');
            """);

        Create.PlatformIndex("idx_organizations_slug", "organizations", "slug");
        Create.PlatformIndex("idx_organizations_created_at", "organizations", "created_at");
    }

    private void CreateProjects()
    {
        Create.Table("projects").InSchema(S)
            .WithColumn("id").AsGuid().NotNullable().WithDefaultValue(NewUuid).PrimaryKey("projects_pkey")
            .WithColumn("organization_id").AsGuid().NotNullable()
                .ForeignKey("projects_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("name").AsString().NotNullable()
            .WithColumn("slug").AsString().NotNullable()
            .WithColumn("ref").AsString().NotNullable()
            .WithColumn("database_host").AsString().NotNullable()
            .WithColumn("database_port").AsInt32().NotNullable().WithDefaultValue(5432)
            .WithColumn("database_name").AsString().NotNullable()
            .WithColumn("database_user").AsString().NotNullable()
            .WithColumn("database_password").AsString().NotNullable()
            .WithColumn("postgres_meta_url").AsString().NotNullable()
            .WithColumn("supabase_url").AsString().NotNullable()
            .WithColumn("status").AsString().NotNullable().WithDefaultValue("ACTIVE_HEALTHY")
            .WithColumn("created_at").AsDateTimeOffset().NotNullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsDateTimeOffset().NotNullable().WithDefaultValue(Now);

        Create.PlatformUnique("projects_ref_key", "projects", "ref");

        Execute.Sql("""
            ALTER TABLE platform.projects
              ADD CONSTRAINT projects_name_not_empty CHECK (length(trim(name)) > 0),
              ADD CONSTRAINT projects_slug_not_empty CHECK (length(trim(slug)) > 0),
              ADD CONSTRAINT projects_ref_not_empty CHECK (length(trim(ref)) > 0),
              ADD CONSTRAINT projects_ref_format CHECK (ref ~ '^[a-z0-9][a-z0-9-]*[a-z0-9]$'),
              ADD CONSTRAINT projects_port_valid CHECK (database_port > 0 AND database_port < 65536),
              ADD CONSTRAINT projects_status_valid CHECK (status IN (
                'ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY', 'COMING_UP', 'GOING_DOWN', 'INACTIVE', 'PAUSED', 'RESTORING', 'UPGRADING'));
            """);

        Create.PlatformIndex("idx_projects_organization_id", "projects", "organization_id");
        Create.PlatformIndex("idx_projects_ref", "projects", "ref");
        Create.PlatformIndex("idx_projects_slug", "projects", "slug");
        Create.PlatformIndex("idx_projects_status", "projects", "status");
        Create.PlatformIndex("idx_projects_created_at", "projects", "created_at");
        Create.PlatformIndex("idx_projects_org_status", "projects", "organization_id", "status");
    }

    private void CreateCredentials()
    {
        Create.Table("credentials").InSchema(S)
            .WithColumn("id").AsGuid().NotNullable().WithDefaultValue(NewUuid).PrimaryKey("credentials_pkey")
            .WithColumn("project_id").AsGuid().NotNullable()
                .ForeignKey("credentials_project_id_fkey", S, "projects", "id").OnDelete(Rule.Cascade)
            .WithColumn("anon_key").AsString().NotNullable()
            .WithColumn("service_role_key").AsString().NotNullable()
            .WithColumn("jwt_secret").AsString().NotNullable()
            .WithColumn("created_at").AsDateTimeOffset().NotNullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsDateTimeOffset().NotNullable().WithDefaultValue(Now);

        Create.PlatformUnique("credentials_project_id_key", "credentials", "project_id");

        Execute.Sql("""
            ALTER TABLE platform.credentials
              ADD CONSTRAINT credentials_anon_key_not_empty CHECK (length(trim(anon_key)) > 0),
              ADD CONSTRAINT credentials_service_role_key_not_empty CHECK (length(trim(service_role_key)) > 0),
              ADD CONSTRAINT credentials_jwt_secret_not_empty CHECK (length(trim(jwt_secret)) > 0);
            """);

        Create.PlatformIndex("idx_credentials_project_id", "credentials", "project_id");
    }

    private void CreateFunctions()
    {
        Execute.Sql("""
            CREATE FUNCTION platform.update_updated_at_column() RETURNS trigger
            LANGUAGE plpgsql
            AS $fn$
            BEGIN
              NEW.updated_at = now();
              RETURN NEW;
            END;
            $fn$;
            """);

        // Reproduces the original's looseness on purpose (docs/schema-facts.md §12.36): the result can break organizations_slug_format.
        Execute.Sql("""
            CREATE FUNCTION platform.generate_slug(input_text text) RETURNS text
            LANGUAGE plpgsql IMMUTABLE
            AS $fn$
            BEGIN
              RETURN lower(
                regexp_replace(
                  regexp_replace(trim(input_text), '[^a-zA-Z0-9\s-]', '', 'g'),
                  '\s+', '-', 'g'));
            END;
            $fn$;
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.get_organization_by_slug(org_slug text) RETURNS platform.organizations
            LANGUAGE sql STABLE
            AS $fn$
              SELECT * FROM platform.organizations WHERE slug = org_slug;
            $fn$;

            CREATE FUNCTION platform.get_project_by_ref(project_ref text) RETURNS platform.projects
            LANGUAGE sql STABLE
            AS $fn$
              SELECT * FROM platform.projects WHERE ref = project_ref;
            $fn$;

            CREATE FUNCTION platform.get_credentials_by_project_ref(project_ref text) RETURNS platform.credentials
            LANGUAGE sql STABLE
            AS $fn$
              SELECT c.*
              FROM platform.credentials c
              JOIN platform.projects p ON p.id = c.project_id
              WHERE p.ref = project_ref;
            $fn$;
            """);
    }

    private void CreateTriggers()
    {
        foreach (var table in new[] { "organizations", "projects", "credentials" })
        {
            Execute.Sql($"""
                CREATE TRIGGER update_{table}_updated_at
                  BEFORE UPDATE ON platform.{table}
                  FOR EACH ROW EXECUTE FUNCTION platform.update_updated_at_column();
                """);
        }
    }

    private void CreateViews()
    {
        Execute.Sql("""
            CREATE VIEW platform.projects_with_credentials AS
            SELECT p.id, p.organization_id, p.name, p.slug, p.ref,
                   p.database_host, p.database_port, p.database_name, p.database_user, p.database_password,
                   p.postgres_meta_url, p.supabase_url, p.status, p.created_at, p.updated_at,
                   c.anon_key, c.service_role_key, c.jwt_secret
            FROM platform.projects p
            LEFT JOIN platform.credentials c ON c.project_id = p.id;

            CREATE VIEW platform.organizations_with_stats AS
            SELECT o.id, o.name, o.slug, o.billing_email, o.created_at, o.updated_at,
                   count(p.id) AS project_count,
                   count(p.id) FILTER (WHERE p.status = 'ACTIVE_HEALTHY') AS active_project_count
            FROM platform.organizations o
            LEFT JOIN platform.projects p ON p.organization_id = o.id
            GROUP BY o.id, o.name, o.slug, o.billing_email, o.created_at, o.updated_at;
            """);
    }

    private void Grant()
    {
        // The original granted on ALL objects IN SCHEMA; naming them gives the same result on the new schema and leaves
        // anything that already lived in a pre-existing platform schema untouched, so Down stays exact.
        const string relations = "platform.organizations, platform.projects, platform.credentials, platform.projects_with_credentials, platform.organizations_with_stats";
        const string functions =
            "platform.update_updated_at_column(), platform.generate_slug(text), platform.get_organization_by_slug(text), " +
            "platform.get_project_by_ref(text), platform.get_credentials_by_project_ref(text)";

        Execute.Sql($"""
            GRANT USAGE ON SCHEMA platform TO PUBLIC;
            GRANT SELECT ON {relations} TO PUBLIC;
            """);

        // Managed servers do not always have a role named postgres; there the grant has no one to go to.
        Execute.Sql($"""
            DO $ogel$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postgres') THEN
                GRANT ALL ON {relations} TO postgres;
                GRANT ALL ON FUNCTION {functions} TO postgres;
              ELSE
                RAISE NOTICE 'role postgres does not exist; its grants on schema platform were skipped';
              END IF;
            END
            $ogel$;
            """);
    }

}
