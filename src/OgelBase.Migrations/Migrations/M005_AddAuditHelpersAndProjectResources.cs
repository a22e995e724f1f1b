using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// docs/schema-facts.md §5.2: what the original "audit logs" script actually changed on top of 003, and nothing else.
/// Its table definitions were shadowed by 003, and the statements that failed in production (indexes and
/// comments on columns that do not exist, a duplicate index name, the sample-data block) are left out;
/// docs/schema-history lists each one.
/// The three functions are kept as built: SECURITY DEFINER without a pinned search_path (migration 10 pins
/// it), and log_audit_event writes to the entity columns of the shadowed table, so it fails on every call.
/// </summary>
[Migration(Version, "audit helpers, extra indexes and project resource columns")]
[PresenceProbe(PresenceOf.Column, "platform.projects", "instance_size")]
public sealed class M005_AddAuditHelpersAndProjectResources : Migration
{
    private const long Version = 5;
    private const string S = Platform.Schema;

    public override void Up()
    {
        Create.PlatformIndex("idx_audit_logs_user_id", "audit_logs", "user_id");
        Create.PlatformIndex("idx_audit_logs_action", "audit_logs", "action");
        // Same definition as 003's idx_audit_logs_created (docs/schema-facts.md §12.38); production has both.
        Execute.Sql("CREATE INDEX idx_audit_logs_created_at ON platform.audit_logs (created_at DESC);");
        Execute.Sql("""
            COMMENT ON TABLE platform.audit_logs IS 'Who did what to which project, organization, user, add-on or billing record.';
            COMMENT ON COLUMN platform.audit_logs.action IS 'Verb of the event, e.g. created, updated, deleted.';
            """);

        // Duplicates 003's idx_project_addons_project, as in production.
        Create.PlatformIndex("idx_project_addons_project_id", "project_addons", "project_id");
        Execute.Sql("""
            COMMENT ON TABLE platform.project_addons IS 'Paid extras attached to a project, such as PITR, a custom domain or a larger instance.';
            COMMENT ON COLUMN platform.project_addons.addon_variant IS 'Which size or tier of the add-on was chosen.';
            """);

        // Duplicates 003's idx_project_metrics_project_timestamp, as in production.
        Execute.Sql("CREATE INDEX idx_project_metrics_project_time ON platform.project_metrics (project_id, \"timestamp\" DESC);");
        Execute.Sql("""
            COMMENT ON TABLE platform.project_metrics IS 'Periodic resource usage samples, one row per project and sampling time.';
            COMMENT ON COLUMN platform.project_metrics.cpu_usage IS 'CPU use in percent (0-100).';
            COMMENT ON COLUMN platform.project_metrics.memory_usage IS 'Memory use in percent (0-100).';
            COMMENT ON COLUMN platform.project_metrics.disk_io_budget IS 'Remaining disk IO budget at sampling time.';
            """);

        Alter.Table("projects").InSchema(S)
            .AddColumn("instance_size").AsCustom("text").Nullable().WithDefaultValue("micro")
            .AddColumn("disk_size_gb").AsInt32().Nullable().WithDefaultValue(8)
            .AddColumn("disk_io_budget").AsInt32().Nullable().WithDefaultValue(2400);
        Execute.Sql("""
            COMMENT ON COLUMN platform.projects.instance_size IS 'Compute size the project runs on (nano to 16xlarge).';
            COMMENT ON COLUMN platform.projects.disk_size_gb IS 'Provisioned disk in GB.';
            COMMENT ON COLUMN platform.projects.disk_io_budget IS 'Provisioned disk IOPS.';
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.log_audit_event(
              p_user_id uuid,
              p_entity_type text,
              p_entity_id text,
              p_action text,
              p_changes jsonb DEFAULT NULL,
              p_ip_address inet DEFAULT NULL,
              p_user_agent text DEFAULT NULL)
            RETURNS uuid
            LANGUAGE plpgsql
            SECURITY DEFINER
            AS $fn$
            DECLARE
              v_id uuid;
            BEGIN
              INSERT INTO platform.audit_logs (user_id, entity_type, entity_id, action, changes, ip_address, user_agent)
              VALUES (p_user_id, p_entity_type, p_entity_id, p_action, p_changes, p_ip_address, p_user_agent)
              RETURNING id INTO v_id;
              RETURN v_id;
            END;
            $fn$;
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.clean_old_audit_logs(days_to_keep integer DEFAULT 90)
            RETURNS integer
            LANGUAGE plpgsql
            SECURITY DEFINER
            AS $fn$
            DECLARE
              v_deleted integer;
            BEGIN
              DELETE FROM platform.audit_logs
              WHERE created_at < now() - make_interval(days => days_to_keep);
              GET DIAGNOSTICS v_deleted = ROW_COUNT;
              RETURN v_deleted;
            END;
            $fn$;
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.clean_old_metrics(days_to_keep integer DEFAULT 30)
            RETURNS integer
            LANGUAGE plpgsql
            SECURITY DEFINER
            AS $fn$
            DECLARE
              v_deleted integer;
            BEGIN
              DELETE FROM platform.project_metrics
              WHERE "timestamp" < now() - make_interval(days => days_to_keep);
              GET DIAGNOSTICS v_deleted = ROW_COUNT;
              RETURN v_deleted;
            END;
            $fn$;
            """);
    }

    public override void Down()
    {
        Execute.Sql("""
            DROP FUNCTION platform.clean_old_metrics(integer);
            DROP FUNCTION platform.clean_old_audit_logs(integer);
            DROP FUNCTION platform.log_audit_event(uuid, text, text, text, jsonb, inet, text);
            """);

        Delete.Column("disk_io_budget").Column("disk_size_gb").Column("instance_size").FromTable("projects").InSchema(S);

        Delete.Index("idx_project_metrics_project_time").OnTable("project_metrics").InSchema(S);
        Delete.Index("idx_project_addons_project_id").OnTable("project_addons").InSchema(S);
        Delete.Index("idx_audit_logs_created_at").OnTable("audit_logs").InSchema(S);
        Delete.Index("idx_audit_logs_action").OnTable("audit_logs").InSchema(S);
        Delete.Index("idx_audit_logs_user_id").OnTable("audit_logs").InSchema(S);

        // The table comments as 003 set them.
        Execute.Sql("""
            COMMENT ON TABLE platform.audit_logs IS 'Security and activity events across organizations, projects and users.';
            COMMENT ON COLUMN platform.audit_logs.action IS NULL;
            COMMENT ON TABLE platform.project_addons IS 'Add-ons switched on for a project, with quantity and unit price.';
            COMMENT ON COLUMN platform.project_addons.addon_variant IS NULL;
            COMMENT ON TABLE platform.project_metrics IS 'Time series of resource usage samples per project.';
            COMMENT ON COLUMN platform.project_metrics.cpu_usage IS NULL;
            COMMENT ON COLUMN platform.project_metrics.memory_usage IS NULL;
            COMMENT ON COLUMN platform.project_metrics.disk_io_budget IS NULL;
            """);
    }
}
