using System.Data;
using FluentMigrator;
using Microsoft.Extensions.Logging;
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
/// production. Every added column is nullable without a default (catalog-only, no rewrite, no scan), each strong
/// lock is taken under a 50 ms lock_timeout and retried (<see cref="OnlineDdl"/>), CHECKs are added NOT VALID and
/// validated under SHARE UPDATE EXCLUSIVE, the audit index is built CONCURRENTLY and the three backfills commit in
/// keyset batches. Each step checks the catalog or fills only NULLs, so a run killed anywhere completes when re-run;
/// the runner records the version only after Up returns.
/// </para>
/// <para>
/// Down returns to 10's catalog exactly (the status CHECK is swapped back the same online way). The added columns'
/// data is not kept: <see cref="RemovedByDown"/> lets <c>rollback</c> count it and refuse without
/// <c>--allow-data-loss</c>, and soft-deleted projects (status 'deleted', which 10's CHECK forbids) are deleted.
/// The two alias columns are marked preserved: they always equal a column that stays. accepted_at counts only where
/// it differs from joined_at: the next up's backfill derives every other value again.
/// </para>
/// </summary>
[Migration(11, TransactionBehavior.None, "the Studio app's SQL: audit entity columns, member acceptance, project list and usage columns, add-on and payment method names, deleted status")]
[PresenceProbe("column platform.organization_members.accepted_at", "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.organization_members') AND attname = 'accepted_at' AND NOT attisdropped)")]
public sealed class M011_ServeStudioContract : Migration, IRollbackManifest
{
    public const string StatusCheck = "projects_status_valid";
    public const string AuditEntityIndex = "idx_audit_logs_entity";

    private const string StatusCheckOf11 = "projects_status_valid_11";
    private const string StatusCheckOf10 = "projects_status_valid_10";

    private const string Statuses10 = "'ACTIVE_HEALTHY', 'ACTIVE_UNHEALTHY', 'COMING_UP', 'GOING_DOWN', 'INACTIVE', 'PAUSED', 'RESTORING', 'UPGRADING'";
    private const string Statuses11 = Statuses10 + ", 'deleted'";

    /// <summary>Columns added per table, with their types; all nullable and added without a default (accepted_at gets one right after).</summary>
    public static readonly IReadOnlyList<(string Table, string Column, string Type)> AddedColumns =
    [
        ("projects", "cloud_provider", "text"),
        ("projects", "region", "text"),
        ("projects", "infra_compute_size", "text"),
        ("projects", "db_dns", "text"),
        ("projects", "resturl", "text"),
        ("projects", "connectionstring", "text"),
        ("projects", "db_size_bytes", "bigint"),
        ("projects", "storage_size_bytes", "bigint"),
        ("projects", "egress_bytes", "bigint"),
        ("projects", "monthly_active_users", "bigint"),
        ("projects", "disk_auto_scale_enabled", "boolean"),
        ("projects", "disk_auto_scale_limit_gb", "integer"),
        ("organization_members", "accepted_at", "timestamptz"),
        ("audit_logs", "entity_type", "text"),
        ("audit_logs", "entity_id", "text"),
        ("audit_logs", "changes", "jsonb"),
        ("payment_methods", "payment_method_id", "text"),
        ("subscriptions", "payment_method_type", "text"),
        ("project_addons", "addon_type", "text"),
        ("databases", "identifier", "text"),
        ("databases", "region", "text"),
        ("databases", "infra_compute_size", "text"),
        ("databases", "user", "text"),
    ];

    /// <summary>CHECKs added NOT VALID and then validated: table, name, expression.</summary>
    private static readonly (string Table, string Name, string Expression)[] Checks =
    [
        // The usage page sums them; sizes and counts are never negative (NULL: not measured yet).
        ("projects", "projects_usage_not_negative",
            "db_size_bytes >= 0 AND storage_size_bytes >= 0 AND egress_bytes >= 0 AND monthly_active_users >= 0"),
        // custom-config.ts accepts 8..16384 GB and nothing else.
        ("projects", "projects_disk_auto_scale_limit_gb_valid", "disk_auto_scale_limit_gb BETWEEN 8 AND 16384"),
        // The app's AuditEntityType, which is 005's CHECK (docs/schema-facts.md §5.1). Older rows keep NULL.
        ("audit_logs", "audit_logs_entity_type_valid", "entity_type IN ('project', 'organization', 'user', 'addon', 'billing')"),
    ];

    /// <summary>Trigger name, table, function, embedded SQL file, timing.</summary>
    private static readonly (string Trigger, string Table, string Function, string File, string When)[] Triggers =
    [
        ("fill_audit_log_event_type", "audit_logs", "platform.fill_audit_log_event_type", "audit_log_event_type.sql", "BEFORE INSERT"),
        ("sync_project_addon_type", "project_addons", "platform.sync_project_addon_type", "project_addon_type.sql", "BEFORE INSERT OR UPDATE"),
        ("sync_payment_method_id", "payment_methods", "platform.sync_payment_method_id", "payment_method_id.sql", "BEFORE INSERT OR UPDATE"),
    ];

    private const string CreateIndexSql =
        $"CREATE INDEX CONCURRENTLY IF NOT EXISTS {AuditEntityIndex} ON platform.audit_logs (entity_type, entity_id, created_at DESC) WHERE entity_type IS NOT NULL";
    private const string DropIndexSql = $"DROP INDEX CONCURRENTLY IF EXISTS platform.{AuditEntityIndex}";

    private readonly OnlineDdlOptions _options;
    private readonly ILogger<M011_ServeStudioContract> _logger;

    public M011_ServeStudioContract(OnlineDdlOptions options, ILogger<M011_ServeStudioContract> logger)
    {
        _options = options;
        _logger = logger;
    }

    public IReadOnlyList<RemovedObject> RemovedByDown { get; } =
    [
        .. AddedColumns.Select(c => Removed(c.Table, c.Column)),
        RemovedObject.RowsOf(Platform.Schema, "projects", "status = 'deleted'",
            note: "projects the app soft-deleted; 10's status CHECK has no 'deleted', so they are deleted (with their credentials, databases, members)"),
    ];

    /// <summary>What losing an added column costs: the two aliases nothing, accepted_at only where it is not joined_at.</summary>
    private static RemovedObject Removed(string table, string column) => (table, column) switch
    {
        ("project_addons", "addon_type") =>
            RemovedObject.ColumnOf(Platform.Schema, table, column, preserved: true, note: "always equal to addon_id, which stays"),
        ("payment_methods", "payment_method_id") =>
            RemovedObject.ColumnOf(Platform.Schema, table, column, preserved: true, note: "always equal to stripe_payment_method_id, which stays"),
        ("organization_members", "accepted_at") =>
            new RemovedObject(RemovedKind.Column, Platform.Schema, table, column, RowFilter: "accepted_at IS DISTINCT FROM joined_at",
                Note: "counted where it differs from joined_at; the next up derives the others again"),
        _ => RemovedObject.ColumnOf(Platform.Schema, table, column),
    };

    public override void Up()
    {
        Execute.WithConnection((connection, transaction) =>
        {
            var ddl = Online(connection, transaction);
            foreach (var table in AddedColumns.Select(c => c.Table).Distinct())
            {
                var columns = AddedColumns.Where(c => c.Table == table).ToList();
                ddl.LockedStep($"add {string.Join(", ", columns.Select(c => c.Column))} to platform.{table}",
                    string.Join(" AND ", columns.Select(c => ColumnExists(table, c.Column))),
                    AddColumnsSql(table, columns));
            }

            // New members are accepted when added (members.ts:165 writes NOW(); other writers omit it), as joined_at
            // defaults to now(). Set after the ADD, so existing rows are not stamped with this moment: the backfill
            // below gives them joined_at.
            ddl.LockedStep("default now() for platform.organization_members.accepted_at",
                "pg_get_expr((SELECT adbin FROM pg_attrdef WHERE adrelid = 'platform.organization_members'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'platform.organization_members'::regclass AND attname = 'accepted_at')), 'platform.organization_members'::regclass) IS NOT NULL",
                "ALTER TABLE platform.organization_members ALTER COLUMN accepted_at SET DEFAULT now()");

            // Studio's payment form only adds cards and its INSERT names no type; 'card' is a catalog-only default.
            ddl.LockedStep("default 'card' for platform.payment_methods.type",
                "pg_get_expr((SELECT adbin FROM pg_attrdef WHERE adrelid = 'platform.payment_methods'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'platform.payment_methods'::regclass AND attname = 'type')), 'platform.payment_methods'::regclass) IS NOT NULL",
                "ALTER TABLE platform.payment_methods ALTER COLUMN type SET DEFAULT 'card'");

            foreach (var (table, name, expression) in Checks)
            {
                AddValidatedCheck(ddl, table, name, expression);
            }

            // The app soft-deletes with status 'deleted'. The wider CHECK comes in under a temporary name and then
            // takes the old one's place, so no moment exists without a status CHECK.
            SwapStatusCheck(ddl, from: StatusCheckOf11, Statuses11, mustContainDeleted: true);

            foreach (var trigger in Triggers)
            {
                ddl.Execute(ReadSql(trigger.File));
                ddl.Execute($"REVOKE ALL ON FUNCTION {trigger.Function}() FROM PUBLIC");
                ddl.LockedStep($"trigger {trigger.Trigger} on platform.{trigger.Table}", TriggerExists(trigger.Table, trigger.Trigger),
                    $"CREATE TRIGGER {trigger.Trigger} {trigger.When} ON platform.{trigger.Table} FOR EACH ROW EXECUTE FUNCTION {trigger.Function}()");
            }

            // Backfills after the triggers, so rows written meanwhile are already right and are skipped.
            Backfill(ddl, "organization_members", "accepted_at = t.joined_at", "t.accepted_at IS NULL AND t.joined_at IS NOT NULL");
            Backfill(ddl, "project_addons", "addon_type = t.addon_id", "t.addon_type IS NULL");
            Backfill(ddl, "payment_methods", "payment_method_id = t.stripe_payment_method_id", "t.payment_method_id IS NULL");

            // audit.ts filters by entity_type and entity_id and orders by created_at (005's idx_audit_logs_entity, which never got built).
            ddl.ConcurrentStep($"build index {AuditEntityIndex} (CONCURRENTLY)",
                $"EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('platform.{AuditEntityIndex}') AND indisvalid)",
                CreateIndexSql);
        }, Describe("each skipped when already in place; strong locks under a short lock_timeout, retried on 55P03; backfills batched",
            "ADD COLUMN (nullable, no default) per table: " + string.Join(", ", AddedColumns.Select(c => $"{c.Table}.{c.Column} {c.Type}")),
            "ALTER TABLE platform.organization_members ALTER COLUMN accepted_at SET DEFAULT now()",
            "ALTER TABLE platform.payment_methods ALTER COLUMN type SET DEFAULT 'card'",
            "ADD CONSTRAINT ... NOT VALID then VALIDATE: " + string.Join(", ", Checks.Select(c => c.Name)),
            $"{StatusCheck}: add {StatusCheckOf11} CHECK (status IN ({Statuses11})) NOT VALID, VALIDATE, drop {StatusCheck}, rename",
            "trigger functions and triggers: " + string.Join(", ", Triggers.Select(t => t.Trigger)),
            "backfill organization_members.accepted_at = joined_at, project_addons.addon_type = addon_id, payment_methods.payment_method_id = stripe_payment_method_id",
            CreateIndexSql));
    }

    public override void Down()
    {
        Execute.WithConnection((connection, transaction) =>
        {
            var ddl = Online(connection, transaction);
            ddl.ConcurrentStep($"drop index {AuditEntityIndex} (CONCURRENTLY)",
                $"to_regclass('platform.{AuditEntityIndex}') IS NULL", DropIndexSql);

            foreach (var trigger in Triggers)
            {
                ddl.LockedStep($"drop trigger {trigger.Trigger}", $"NOT {TriggerExists(trigger.Table, trigger.Trigger)}",
                    $"DROP TRIGGER IF EXISTS {trigger.Trigger} ON platform.{trigger.Table}");
                ddl.Execute($"DROP FUNCTION IF EXISTS {trigger.Function}()");
            }

            // The runner's data-loss guard has counted these and was overridden; 10's CHECK cannot hold them.
            ddl.Batches("delete soft-deleted projects", ddl.Scalar<long>("SELECT count(*) FROM platform.projects WHERE status = 'deleted'"), hasAfter => $"""
                WITH batch AS (
                  SELECT p.id FROM platform.projects p WHERE p.status = 'deleted' {(hasAfter ? "AND p.id > @after" : "")} ORDER BY p.id LIMIT @batch_size
                ), gone AS (
                  DELETE FROM platform.projects p USING batch b WHERE p.id = b.id AND p.status = 'deleted' RETURNING 1
                )
                SELECT (SELECT b.id FROM batch b ORDER BY b.id DESC LIMIT 1), (SELECT count(*) FROM batch), (SELECT count(*) FROM gone)
                """);
            SwapStatusCheck(ddl, from: StatusCheckOf10, Statuses10, mustContainDeleted: false);

            ddl.LockedStep("drop default of platform.payment_methods.type", null,
                "ALTER TABLE platform.payment_methods ALTER COLUMN type DROP DEFAULT");

            // Dropping a column drops its CHECKs with it; catalog-only (no rewrite), an instant under ACCESS EXCLUSIVE.
            foreach (var table in AddedColumns.Select(c => c.Table).Distinct())
            {
                var columns = AddedColumns.Where(c => c.Table == table).ToList();
                ddl.LockedStep($"drop {string.Join(", ", columns.Select(c => c.Column))} from platform.{table}",
                    string.Join(" AND ", columns.Select(c => "NOT " + ColumnExists(table, c.Column))),
                    $"ALTER TABLE platform.{table} " + string.Join(", ", columns.Select(c => $"DROP COLUMN IF EXISTS {Quote(c.Column)}")));
            }
        }, Describe("each skipped when already done; strong locks under a short lock_timeout, retried on 55P03",
            DropIndexSql, "drop the three triggers and their functions", "delete projects with status 'deleted' (batched)",
            $"{StatusCheck}: add {StatusCheckOf10} CHECK (status IN ({Statuses10})) NOT VALID, VALIDATE, drop {StatusCheck}, rename",
            "ALTER TABLE platform.payment_methods ALTER COLUMN type DROP DEFAULT",
            "DROP COLUMN per table: " + string.Join(", ", AddedColumns.Select(c => $"{c.Table}.{c.Column}"))));
    }

    private OnlineDdl Online(IDbConnection connection, IDbTransaction? transaction) => new(connection, transaction, _options, _logger);

    private static string AddColumnsSql(string table, IEnumerable<(string Table, string Column, string Type)> columns) =>
        $"ALTER TABLE platform.{table} " + string.Join(", ", columns.Select(c => $"ADD COLUMN IF NOT EXISTS {Quote(c.Column)} {c.Type}"));

    private static void AddValidatedCheck(OnlineDdl ddl, string table, string name, string expression)
    {
        // ADD CONSTRAINT CHECK takes ACCESS EXCLUSIVE: NOT VALID makes that an instant (no scan); VALIDATE scans
        // under SHARE UPDATE EXCLUSIVE, which lets the app's reads and writes go on.
        ddl.LockedStep($"add check {name} (NOT VALID)", ConstraintExists(table, name),
            $"ALTER TABLE platform.{table} ADD CONSTRAINT {name} CHECK ({expression}) NOT VALID");
        ddl.LockedStep($"validate check {name}", ConstraintExists(table, name) + " AND " + ConstraintValidated(table, name),
            $"ALTER TABLE platform.{table} VALIDATE CONSTRAINT {name}");
    }

    /// <summary>Replaces projects_status_valid by a CHECK over <paramref name="statuses"/>, via a temporary name.</summary>
    private static void SwapStatusCheck(OnlineDdl ddl, string from, string statuses, bool mustContainDeleted)
    {
        var done = $"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'platform.projects'::regclass AND conname = '{StatusCheck}' AND convalidated " +
                   $"AND {(mustContainDeleted ? "" : "NOT ")}(pg_get_constraintdef(oid) LIKE '%''deleted''%'))";
        if (ddl.Scalar<bool>($"SELECT {done} AND NOT {ConstraintExists("projects", from)}"))
        {
            return;
        }

        AddValidatedCheck(ddl, "projects", from, $"status = ANY (ARRAY[{statuses}])");
        ddl.LockedStep($"replace {StatusCheck} by {from}", done,
            $"ALTER TABLE platform.projects DROP CONSTRAINT IF EXISTS {StatusCheck}",
            $"ALTER TABLE platform.projects RENAME CONSTRAINT {from} TO {StatusCheck}");
    }

    /// <summary>Keyset batches over the table's uuid key, each its own short transaction; only rows matching <paramref name="where"/> change.</summary>
    private static void Backfill(OnlineDdl ddl, string table, string set, string where) =>
        ddl.Batches($"backfill platform.{table}: {set}", ddl.Scalar<long>($"SELECT count(*) FROM platform.{table}"), hasAfter => $"""
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

    private static string ColumnExists(string table, string column) =>
        $"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.{table}') AND attname = '{column}' AND NOT attisdropped)";

    private static string ConstraintExists(string table, string name) =>
        $"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('platform.{table}') AND conname = '{name}')";

    private static string ConstraintValidated(string table, string name) =>
        $"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('platform.{table}') AND conname = '{name}' AND convalidated)";

    private static string TriggerExists(string table, string trigger) =>
        $"EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('platform.{table}') AND tgname = '{trigger}' AND NOT tgisinternal)";

    // "user" is a reserved word; the others are plain lower-case names and quoting leaves them as they are.
    private static string Quote(string identifier) => "\"" + identifier + "\"";

    private static string ReadSql(string file) => SqlResource.Read("M011/" + file);

    // FluentMigrator prints this for the step in --dry-run and --verbose, where the code itself is not shown.
    private static string Describe(string how, params string[] steps) => $"011, {how}: {string.Join("; ", steps)}";
}
