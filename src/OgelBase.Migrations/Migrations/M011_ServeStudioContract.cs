using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// 011 (issue #14): what the Studio app's own SQL needs from the <c>platform</c> schema and 1–10 never gave it:
/// 005's audit-log columns that 003's definition shadowed, the app's names for two existing facts (add-on kind,
/// Stripe payment method id), membership acceptance, the project list's and usage page's project columns, disk
/// auto-scale settings, subscription payment method type, and the 'deleted' project status of the app's soft delete.
/// Every statement the app sends, and the two it sends that no schema should satisfy, are in docs/studio-contract.md.
/// <para>
/// Online (<c>TransactionBehavior.None</c>), like 008: audit_logs, projects and organization_members can be large in
/// production. Its DDL is plain <c>Execute.Sql</c>, which the runner runs online (the runner's online executor): each
/// statement one short transaction under a 50 ms lock_timeout, retried on 55P03, the index built CONCURRENTLY.
/// Every added column is nullable without a default (catalog-only, no rewrite, no scan), CHECKs are added NOT VALID
/// and validated under SHARE UPDATE EXCLUSIVE, and the three backfills commit in keyset batches. Every statement can
/// run again (IF [NOT] EXISTS, OR REPLACE, a duplicate CHECK skipped) and the backfills fill only NULLs, so a run
/// killed anywhere completes when re-run; the runner records the version only after Up returns.
/// </para>
/// <para>
/// Down returns to 10's catalog exactly (the status CHECK is swapped back the same online way). The added columns'
/// data is not kept: <see cref="RollbackOverrides"/> lets <c>rollback</c> count it and refuse without
/// <c>--allow-data-loss</c>, and soft-deleted projects (status 'deleted', which 10's CHECK forbids) are deleted.
/// The two alias columns are marked preserved: they always equal a column that stays. accepted_at counts only where
/// it differs from joined_at: the next up's backfill derives every other value again.
/// </para>
/// </summary>
[Migration(Version, TransactionBehavior.None, "the Studio app's SQL: audit entity columns, member acceptance, project list and usage columns, add-on and payment method names, deleted status")]
// The previous build's 11 ran the same DDL by hand inside code steps; a database may have recorded that shape.
[SupersedesChecksum("4dc951175ce13307412a68726c141550d7deab0eaf7d174a7b0a1a6fbe3b06ec",
    "its DDL moved from hand-written code steps into Execute.Sql statements the runner runs online, and a final check of its constraints, triggers and index was added: the same DDL in the same order, leaving the same catalog and data")]
[PresenceProbe(PresenceOf.Column, "platform.organization_members", "accepted_at")]
public sealed class M011_ServeStudioContract(IOnlineSessions online) : Migration, IRollbackOverrides, ICodeStepStatements
{
    public const string StatusCheck = "projects_status_valid";

    private const long Version = 11;

    private readonly IOnlineSessions _online = online;

    public IReadOnlyList<RemovedObject> RollbackOverrides { get; } =
    [
        RemovedObject.ColumnOf(Platform.Schema, "project_addons", "addon_type", preserved: true, note: "always equal to addon_id, which stays"),
        RemovedObject.ColumnOf(Platform.Schema, "payment_methods", "payment_method_id", preserved: true, note: "always equal to stripe_payment_method_id, which stays"),
        new(RemovedKind.Column, Platform.Schema, "organization_members", "accepted_at", RowFilter: "accepted_at IS DISTINCT FROM joined_at",
            Note: "counted where it differs from joined_at; the next up derives the others again"),
        RemovedObject.RowsOf(Platform.Schema, "projects", "status = 'deleted'",
            note: "projects the app soft-deleted; 10's status CHECK has no 'deleted', so they are deleted (with their credentials, databases, members)"),
    ];

    // Every Execute.Sql here runs online (the runner's online executor, applied to this TransactionBehavior.None
    // migration): one short transaction under a 50 ms lock_timeout, retried on 55P03, or, for CONCURRENTLY, a
    // top-level statement. Each is safe to run again after a kill; the runner records 11 only after Up returns.
    public override void Up()
    {
        // Nullable and without a default: catalog-only, no rewrite and no scan. "user" is a reserved word.
        Execute.Sql("""
            ALTER TABLE platform.projects
              ADD COLUMN IF NOT EXISTS cloud_provider text,
              ADD COLUMN IF NOT EXISTS region text,
              ADD COLUMN IF NOT EXISTS infra_compute_size text,
              ADD COLUMN IF NOT EXISTS db_dns text,
              ADD COLUMN IF NOT EXISTS resturl text,
              ADD COLUMN IF NOT EXISTS connectionstring text,
              ADD COLUMN IF NOT EXISTS db_size_bytes bigint,
              ADD COLUMN IF NOT EXISTS storage_size_bytes bigint,
              ADD COLUMN IF NOT EXISTS egress_bytes bigint,
              ADD COLUMN IF NOT EXISTS monthly_active_users bigint,
              ADD COLUMN IF NOT EXISTS disk_auto_scale_enabled boolean,
              ADD COLUMN IF NOT EXISTS disk_auto_scale_limit_gb integer
            """);
        Execute.Sql("ALTER TABLE platform.organization_members ADD COLUMN IF NOT EXISTS accepted_at timestamptz");
        Execute.Sql("""
            ALTER TABLE platform.audit_logs
              ADD COLUMN IF NOT EXISTS entity_type text,
              ADD COLUMN IF NOT EXISTS entity_id text,
              ADD COLUMN IF NOT EXISTS changes jsonb
            """);
        Execute.Sql("ALTER TABLE platform.payment_methods ADD COLUMN IF NOT EXISTS payment_method_id text");
        Execute.Sql("ALTER TABLE platform.subscriptions ADD COLUMN IF NOT EXISTS payment_method_type text");
        Execute.Sql("ALTER TABLE platform.project_addons ADD COLUMN IF NOT EXISTS addon_type text");
        Execute.Sql("""
            ALTER TABLE platform.databases
              ADD COLUMN IF NOT EXISTS identifier text,
              ADD COLUMN IF NOT EXISTS region text,
              ADD COLUMN IF NOT EXISTS infra_compute_size text,
              ADD COLUMN IF NOT EXISTS "user" text
            """);

        // New members are accepted when added (members.ts:165 writes NOW(); other writers omit it), as joined_at
        // defaults to now(). Set after the ADD, so existing rows are not stamped with this moment: the backfill
        // below gives them joined_at.
        Execute.Sql("ALTER TABLE platform.organization_members ALTER COLUMN accepted_at SET DEFAULT now()");

        // Studio's payment form only adds cards and its INSERT names no type; 'card' is a catalog-only default.
        Execute.Sql("ALTER TABLE platform.payment_methods ALTER COLUMN type SET DEFAULT 'card'");

        // ADD CONSTRAINT CHECK takes ACCESS EXCLUSIVE: NOT VALID makes that an instant (no scan); VALIDATE scans
        // under SHARE UPDATE EXCLUSIVE, which lets the app's reads and writes go on.
        // The usage page sums them; sizes and counts are never negative (NULL: not measured yet).
        Execute.Sql("""
            ALTER TABLE platform.projects ADD CONSTRAINT projects_usage_not_negative
              CHECK (db_size_bytes >= 0 AND storage_size_bytes >= 0 AND egress_bytes >= 0 AND monthly_active_users >= 0) NOT VALID
            """);
        Execute.Sql("ALTER TABLE platform.projects VALIDATE CONSTRAINT projects_usage_not_negative");

        // custom-config.ts accepts 8..16384 GB and nothing else.
        Execute.Sql("""
            ALTER TABLE platform.projects ADD CONSTRAINT projects_disk_auto_scale_limit_gb_valid
              CHECK (disk_auto_scale_limit_gb BETWEEN 8 AND 16384) NOT VALID
            """);
        Execute.Sql("ALTER TABLE platform.projects VALIDATE CONSTRAINT projects_disk_auto_scale_limit_gb_valid");

        // The app's AuditEntityType, which is 005's CHECK (docs/schema-facts.md §5.1). Older rows keep NULL.
        Execute.Sql("""
            ALTER TABLE platform.audit_logs ADD CONSTRAINT audit_logs_entity_type_valid
              CHECK (entity_type IN ('project', 'organization', 'user', 'addon', 'billing')) NOT VALID
            """);
        Execute.Sql("ALTER TABLE platform.audit_logs VALIDATE CONSTRAINT audit_logs_entity_type_valid");

        // The app soft-deletes with status 'deleted'. The wider CHECK comes in under a temporary name and then
        // takes the old one's place in one transaction, so no moment exists without a status CHECK.
        Execute.Sql("""
            ALTER TABLE platform.projects ADD CONSTRAINT projects_status_valid_11
              CHECK (status = ANY (ARRAY['ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY', 'COMING_UP', 'GOING_DOWN', 'INACTIVE', 'PAUSED', 'RESTORING', 'UPGRADING', 'deleted'])) NOT VALID
            """);
        Execute.Sql("ALTER TABLE platform.projects VALIDATE CONSTRAINT projects_status_valid_11");
        Execute.Sql("""
            ALTER TABLE platform.projects DROP CONSTRAINT IF EXISTS projects_status_valid;
            ALTER TABLE platform.projects RENAME CONSTRAINT projects_status_valid_11 TO projects_status_valid
            """);

        // The app's audit entries and its names for addon_id and stripe_payment_method_id (each file says why).
        // Functions take no table lock; CREATE TRIGGER takes SHARE ROW EXCLUSIVE on the table, for an instant.
        Execute.Sql(SqlResource.Read("M011/audit_log_event_type.sql"));
        Execute.Sql("REVOKE ALL ON FUNCTION platform.fill_audit_log_event_type() FROM PUBLIC");
        Execute.Sql("""
            CREATE OR REPLACE TRIGGER fill_audit_log_event_type BEFORE INSERT ON platform.audit_logs
              FOR EACH ROW EXECUTE FUNCTION platform.fill_audit_log_event_type()
            """);
        Execute.Sql(SqlResource.Read("M011/project_addon_type.sql"));
        Execute.Sql("REVOKE ALL ON FUNCTION platform.sync_project_addon_type() FROM PUBLIC");
        Execute.Sql("""
            CREATE OR REPLACE TRIGGER sync_project_addon_type BEFORE INSERT OR UPDATE ON platform.project_addons
              FOR EACH ROW EXECUTE FUNCTION platform.sync_project_addon_type()
            """);
        Execute.Sql(SqlResource.Read("M011/payment_method_id.sql"));
        Execute.Sql("REVOKE ALL ON FUNCTION platform.sync_payment_method_id() FROM PUBLIC");
        Execute.Sql("""
            CREATE OR REPLACE TRIGGER sync_payment_method_id BEFORE INSERT OR UPDATE ON platform.payment_methods
              FOR EACH ROW EXECUTE FUNCTION platform.sync_payment_method_id()
            """);

        // Backfills after the triggers, so rows written meanwhile are already right and are skipped.
        Execute.WithConnection((connection, transaction) =>
        {
            var online = _online.Open(connection, transaction);
            foreach (var backfill in Backfills)
            {
                online.Backfill(backfill.Step, online.Scalar<long>($"SELECT count(*) FROM platform.{backfill.Table}"), backfill.Sql);
            }
        }, Describe("data batched, each batch its own transaction; only NULLs filled",
            string.Join(", ", Backfills.Select(b => b.Step))));

        // audit.ts filters by entity_type and entity_id and orders by created_at (005's idx_audit_logs_entity, which
        // never got built). IF NOT EXISTS alone would accept the INVALID index a killed build leaves; the runner
        // drops such a leftover before every attempt.
        Execute.Sql("""
            CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audit_logs_entity ON platform.audit_logs
              (entity_type, entity_id, created_at DESC) WHERE entity_type IS NOT NULL
            """);
    }

    public override void Down()
    {
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS platform.idx_audit_logs_entity");

        Execute.Sql("DROP TRIGGER IF EXISTS fill_audit_log_event_type ON platform.audit_logs");
        Execute.Sql("DROP FUNCTION IF EXISTS platform.fill_audit_log_event_type()");
        Execute.Sql("DROP TRIGGER IF EXISTS sync_project_addon_type ON platform.project_addons");
        Execute.Sql("DROP FUNCTION IF EXISTS platform.sync_project_addon_type()");
        Execute.Sql("DROP TRIGGER IF EXISTS sync_payment_method_id ON platform.payment_methods");
        Execute.Sql("DROP FUNCTION IF EXISTS platform.sync_payment_method_id()");

        // The runner's data-loss guard has counted these and was overridden; 10's CHECK cannot hold them.
        Execute.WithConnection((connection, transaction) =>
        {
            var online = _online.Open(connection, transaction);
            online.Backfill("delete soft-deleted projects", online.Scalar<long>("SELECT count(*) FROM platform.projects WHERE status = 'deleted'"), DeleteSoftDeletedSql);
        }, Describe("batched, each batch its own transaction", "delete projects with status 'deleted'"));

        // 10's CHECK back, the same way it was replaced.
        Execute.Sql("""
            ALTER TABLE platform.projects ADD CONSTRAINT projects_status_valid_10
              CHECK (status = ANY (ARRAY['ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY', 'COMING_UP', 'GOING_DOWN', 'INACTIVE', 'PAUSED', 'RESTORING', 'UPGRADING'])) NOT VALID
            """);
        Execute.Sql("ALTER TABLE platform.projects VALIDATE CONSTRAINT projects_status_valid_10");
        Execute.Sql("""
            ALTER TABLE platform.projects DROP CONSTRAINT IF EXISTS projects_status_valid;
            ALTER TABLE platform.projects RENAME CONSTRAINT projects_status_valid_10 TO projects_status_valid
            """);

        Execute.Sql("ALTER TABLE platform.payment_methods ALTER COLUMN type DROP DEFAULT");

        // Dropping a column drops its CHECKs with it; catalog-only (no rewrite), an instant under ACCESS EXCLUSIVE.
        Execute.Sql("""
            ALTER TABLE platform.projects
              DROP COLUMN IF EXISTS cloud_provider,
              DROP COLUMN IF EXISTS region,
              DROP COLUMN IF EXISTS infra_compute_size,
              DROP COLUMN IF EXISTS db_dns,
              DROP COLUMN IF EXISTS resturl,
              DROP COLUMN IF EXISTS connectionstring,
              DROP COLUMN IF EXISTS db_size_bytes,
              DROP COLUMN IF EXISTS storage_size_bytes,
              DROP COLUMN IF EXISTS egress_bytes,
              DROP COLUMN IF EXISTS monthly_active_users,
              DROP COLUMN IF EXISTS disk_auto_scale_enabled,
              DROP COLUMN IF EXISTS disk_auto_scale_limit_gb
            """);
        Execute.Sql("ALTER TABLE platform.organization_members DROP COLUMN IF EXISTS accepted_at");
        Execute.Sql("""
            ALTER TABLE platform.audit_logs
              DROP COLUMN IF EXISTS entity_type,
              DROP COLUMN IF EXISTS entity_id,
              DROP COLUMN IF EXISTS changes
            """);
        Execute.Sql("ALTER TABLE platform.payment_methods DROP COLUMN IF EXISTS payment_method_id");
        Execute.Sql("ALTER TABLE platform.subscriptions DROP COLUMN IF EXISTS payment_method_type");
        Execute.Sql("ALTER TABLE platform.project_addons DROP COLUMN IF EXISTS addon_type");
        Execute.Sql("""
            ALTER TABLE platform.databases
              DROP COLUMN IF EXISTS identifier,
              DROP COLUMN IF EXISTS region,
              DROP COLUMN IF EXISTS infra_compute_size,
              DROP COLUMN IF EXISTS "user"
            """);
    }

    /// <inheritdoc />
    public IEnumerable<string> CodeStepStatements =>
    [
        .. Backfills.SelectMany(b => new[] { b.Sql(false), b.Sql(true) }),
        DeleteSoftDeletedSql(false),
        DeleteSoftDeletedSql(true),
    ];

    /// <summary>Keyset batches over the table's uuid key, each its own short transaction; only rows matching the filter change.</summary>
    private static readonly (string Step, string Table, Func<bool, string> Sql)[] Backfills =
    [
        Backfill("organization_members", "accepted_at = t.joined_at", "t.accepted_at IS NULL AND t.joined_at IS NOT NULL"),
        Backfill("project_addons", "addon_type = t.addon_id", "t.addon_type IS NULL"),
        Backfill("payment_methods", "payment_method_id = t.stripe_payment_method_id", "t.payment_method_id IS NULL"),
    ];

    private static (string Step, string Table, Func<bool, string> Sql) Backfill(string table, string set, string where) =>
        ($"backfill platform.{table}: {set}", table, hasAfter => $"""
            WITH batch AS (
              SELECT k.id FROM platform.{table} k {(hasAfter ? "WHERE k.id > @after" : "")} ORDER BY k.id LIMIT @batch_size
            ), last AS (
              SELECT b.id FROM batch b ORDER BY b.id DESC LIMIT 1
            ), filled AS (
              UPDATE platform.{table} t SET {set}
              FROM batch b
              WHERE t.id = b.id AND {where}
                {(hasAfter ? "AND t.id > @after " : "")}AND t.id <= (SELECT l.id FROM last l)
              RETURNING 1
            )
            SELECT (SELECT l.id FROM last l), (SELECT count(*) FROM batch), (SELECT count(*) FROM filled)
            """);

    private static string DeleteSoftDeletedSql(bool hasAfter) => $"""
        WITH batch AS (
          SELECT p.id FROM platform.projects p WHERE p.status = 'deleted' {(hasAfter ? "AND p.id > @after" : "")} ORDER BY p.id LIMIT @batch_size
        ), gone AS (
          DELETE FROM platform.projects p USING batch b WHERE p.id = b.id AND p.status = 'deleted' RETURNING 1
        )
        SELECT (SELECT b.id FROM batch b ORDER BY b.id DESC LIMIT 1), (SELECT count(*) FROM batch), (SELECT count(*) FROM gone)
        """;

    // FluentMigrator prints this for the step in --dry-run and --verbose, where the code itself is not shown.
    private static string Describe(string how, params string[] steps) => $"011, {how}: {string.Join("; ", steps)}";
}
