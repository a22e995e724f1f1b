using System.Data;
using FluentMigrator;
using Microsoft.Extensions.Logging;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// 008: each user's currently selected organization (<c>platform.users.active_org_id</c>), the two functions the
/// Studio org switcher calls, and a backfill from the earliest membership. docs/schema-facts.md §8.
/// <para>
/// Unlike the original, which did all of it in one transaction, this runs online (TransactionBehavior.None) so
/// it can be applied to a users table with a million rows while Studio serves traffic: every strong lock is taken
/// with a 50 ms lock_timeout and retried, the FK is added NOT VALID and validated separately, the index is built
/// CONCURRENTLY, and the backfill commits in small batches. Every step checks the catalog or only fills NULLs,
/// so a run killed anywhere completes when re-run; the runner records the version only after Up returns.
/// The lock-timeout retries are done in C# (<see cref="OnlineDdl"/>, which says why) rather than in DO-block loops.
/// </para>
/// <para>
/// The Down keeps every user's choice in <c>ogelbase_migrations.m008_saved_active_org</c> (outside
/// <c>platform</c>, so rolling back further never touches it) and the next Up puts each one back where the user
/// is still a member of that organization.
/// </para>
/// </summary>
[Migration(Version, TransactionBehavior.None, "active organization tracking")]
[PresenceProbe("column platform.users.active_org_id", "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.users') AND attname = 'active_org_id' AND NOT attisdropped)")]
public sealed class M008_AddActiveOrgTracking : Migration, IRollbackManifest
{
    private const long Version = 8;

    /// <summary>SQLSTATE of "user is not a member of that organization" from set_user_active_org. Implementation-defined class "OG" (OgelBase), so the app can tell it from permission (42501) or FK (23503) errors.</summary>
    public const string NotAMemberSqlState = "OG403";

    public const string SavedChoicesTable = VersionTable.Schema + ".m008_saved_active_org";
    public const string CaptureFunction = VersionTable.Schema + ".m008_capture_active_org";
    public const string CaptureTrigger = "m008_capture_active_org";

    private const string Users = "platform.users";
    private const string ForeignKey = "users_active_org_id_fkey";
    private const string Index = "idx_users_active_org";

    // Written as an SQL literal (no quotes inside), so the same text serves the statement and the "already done" check.
    private const string ColumnCommentLiteral =
        "'Organization the user has currently selected in Studio (org switcher, session context). " +
        "Must be one the user is a member of; set_user_active_org enforces that, the database does not. " +
        "Cleared when the organization is deleted.'";

    private const string ColumnExists =
        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.users') AND attname = 'active_org_id' AND NOT attisdropped)";

    private const string ForeignKeyExists =
        $"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('platform.users') AND conname = '{ForeignKey}')";

    private const string CaptureTriggerExists =
        $"EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('platform.users') AND tgname = '{CaptureTrigger}' AND NOT tgisinternal)";

    private const string AddColumnSql = $"ALTER TABLE {Users} ADD COLUMN IF NOT EXISTS active_org_id uuid NULL";
    private const string AddForeignKeySql =
        $"ALTER TABLE {Users} ADD CONSTRAINT {ForeignKey} FOREIGN KEY (active_org_id) REFERENCES platform.organizations (id) ON DELETE SET NULL NOT VALID";
    private const string ValidateForeignKeySql = $"ALTER TABLE {Users} VALIDATE CONSTRAINT {ForeignKey}";
    private const string ClearDeletedOrganizationsSql =
        $"UPDATE {Users} u SET active_org_id = NULL WHERE u.active_org_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM platform.organizations o WHERE o.id = u.active_org_id)";
    private const string CreateIndexSql = $"CREATE INDEX CONCURRENTLY IF NOT EXISTS {Index} ON {Users} (active_org_id) WHERE active_org_id IS NOT NULL";
    private const string DropIndexSql = $"DROP INDEX CONCURRENTLY IF EXISTS platform.{Index}";
    private const string CommentColumnSql = $"COMMENT ON COLUMN {Users}.active_org_id IS {ColumnCommentLiteral}";
    private const string RevokeCaptureFunctionSql = $"REVOKE ALL ON FUNCTION {CaptureFunction}() FROM PUBLIC";
    private const string CreateCaptureTriggerSql =
        $"CREATE TRIGGER {CaptureTrigger} AFTER INSERT OR UPDATE OF active_org_id ON {Users} FOR EACH ROW EXECUTE FUNCTION {CaptureFunction}()";
    private const string DropForeignKeySql = $"ALTER TABLE {Users} DROP CONSTRAINT IF EXISTS {ForeignKey}";
    private const string DropCaptureTriggerSql = $"DROP TRIGGER IF EXISTS {CaptureTrigger} ON {Users}";
    private const string DropCaptureFunctionSql = $"DROP FUNCTION IF EXISTS {CaptureFunction}()";
    private const string DropColumnSql = $"ALTER TABLE {Users} DROP COLUMN IF EXISTS active_org_id";

    private readonly OnlineDdlOptions _options;
    private readonly ILogger<M008_AddActiveOrgTracking> _logger;

    public M008_AddActiveOrgTracking(OnlineDdlOptions options, ILogger<M008_AddActiveOrgTracking> logger)
    {
        _options = options;
        _logger = logger;
    }

    public IReadOnlyList<RemovedObject> RemovedByDown { get; } =
    [
        RemovedObject.ColumnOf(Platform.Schema, "users", "active_org_id", preserved: true,
            note: $"copied to {SavedChoicesTable}; the next up restores each choice where the user is still a member of that organization"),
    ];

    public override void Up()
    {
        Execute.WithConnection((connection, transaction) =>
        {
            var ddl = Online(connection, transaction);
            ddl.LockedStep("add column platform.users.active_org_id", ColumnExists,
                AddColumnSql);

            // The data first, while the column has neither FK nor index: each backfilled row then costs one row
            // version, not also an RI lookup on organizations and an index insert. Measured at 1M users, that halves
            // the time each batch holds its rows, which is the time an app UPDATE of one of them can wait.
            RestoreSavedChoices(ddl);
            Backfill(ddl);

            // NOT VALID: adding the FK then needs its SHARE ROW EXCLUSIVE locks only for an instant, and the scan of
            // existing rows happens in VALIDATE, whose SHARE UPDATE EXCLUSIVE lock lets reads and writes go on.
            ddl.LockedStep($"add foreign key {ForeignKey} (NOT VALID)", ForeignKeyExists,
                AddForeignKeySql);

            // An organization deleted while the backfill ran (before the FK existed) left its users pointing at
            // nothing; ON DELETE SET NULL would have cleared them, so do exactly that. From here on the FK does it.
            ddl.Execute(ClearDeletedOrganizationsSql);
            ddl.LockedStep($"validate foreign key {ForeignKey}",
                $"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('platform.users') AND conname = '{ForeignKey}' AND convalidated)",
                ValidateForeignKeySql);

            // A CONCURRENTLY build that failed or was killed leaves an INVALID index under the name, which
            // IF NOT EXISTS would then accept as done; such a leftover is dropped before every attempt.
            ddl.ConcurrentStep($"build index {Index} (CONCURRENTLY)",
                $"EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('platform.{Index}') AND indisvalid)",
                CreateIndexSql,
                beforeEachAttempt: () =>
                {
                    if (ddl.Scalar<bool>($"SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('platform.{Index}') AND NOT indisvalid)"))
                    {
                        _logger.LogInformation($"dropping the INVALID index {Index} left by an earlier attempt");
                        ddl.Execute(DropIndexSql);
                    }
                });

            // COMMENT ON COLUMN takes SHARE UPDATE EXCLUSIVE on the table, so it goes under the same lock discipline.
            ddl.LockedStep("comment on platform.users.active_org_id",
                $"col_description('platform.users'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'platform.users'::regclass AND attname = 'active_org_id')) IS NOT DISTINCT FROM {ColumnCommentLiteral}",
                CommentColumnSql);
        }, Describe("each skipped when already in place; strong locks under a short lock_timeout, retried on 55P03; data batched, each batch its own transaction",
            AddColumnSql,
            $"if {SavedChoicesTable} exists: restore each saved choice into a NULL active_org_id where the user is still a member of that organization",
            "backfill every NULL active_org_id from the membership with the earliest joined_at (NULL last, ties by organization_id)",
            AddForeignKeySql, ClearDeletedOrganizationsSql, ValidateForeignKeySql,
            "(an INVALID leftover index is dropped first) " + CreateIndexSql, CommentColumnSql));

        // Functions take no table lock (plpgsql bodies are not checked against tables at creation).
        Execute.Sql(SetUserActiveOrgSql);
        Execute.Sql(GetUserActiveOrgSql);
        Execute.Sql("COMMENT ON FUNCTION platform.set_user_active_org(uuid, uuid) IS " + SetFunctionComment);
        Execute.Sql("COMMENT ON FUNCTION platform.get_user_active_org(uuid) IS " + GetFunctionComment);
        Execute.Sql(PrivilegesSql);

        Execute.WithConnection((connection, transaction) =>
        {
            var ddl = Online(connection, transaction);
            Verify(ddl);

            // Only now is the side table no longer needed. A capture trigger can only be left here by a rollback
            // that was killed and then bypassed; it writes to the side table, so it has to go before the table.
            if (ddl.Scalar<bool>($"SELECT {CaptureTriggerExists}"))
            {
                ddl.LockedStep($"drop leftover rollback trigger {CaptureTrigger}", $"NOT {CaptureTriggerExists}",
                    DropCaptureTriggerSql, DropCaptureFunctionSql);
            }

            ddl.Execute($"DROP TABLE IF EXISTS {SavedChoicesTable}");
        }, Describe("checks, then cleanup",
            "verify column, validated foreign key, valid partial index and both functions",
            $"DROP TABLE IF EXISTS {SavedChoicesTable}"));
    }

    public override void Down()
    {
        // The side table survives this Down on purpose (see the next Up); it lives in the tool's own schema.
        Execute.Sql($"CREATE TABLE IF NOT EXISTS {SavedChoicesTable} (user_id uuid PRIMARY KEY, active_org_id uuid, saved_at timestamptz NOT NULL DEFAULT now())");

        Execute.WithConnection((connection, transaction) =>
        {
            var ddl = Online(connection, transaction);

            // Lossless under concurrent writes: the trigger first, so every change from here on is upserted into
            // the side table; then the bulk copy with ON CONFLICT DO NOTHING, so a value the trigger wrote (newer
            // than what the copy read) wins. The column goes only together with the trigger, in one transaction.
            ddl.LockedStep($"install capture trigger {CaptureTrigger}", $"NOT {ColumnExists} OR {CaptureTriggerExists}",
                CaptureFunctionSql, RevokeCaptureFunctionSql, CreateCaptureTriggerSql);

            if (ddl.Scalar<bool>($"SELECT {ColumnExists}"))
            {
                ddl.Batches("save active_org_id", ddl.Scalar<long>($"SELECT count(*) FROM {Users}"), hasAfter => $"""
                    WITH batch AS (
                      SELECT u.id, u.active_org_id FROM {Users} u {(hasAfter ? "WHERE u.id > @after" : "")} ORDER BY u.id LIMIT @batch_size
                    ), saved AS (
                      INSERT INTO {SavedChoicesTable} (user_id, active_org_id, saved_at)
                      SELECT b.id, b.active_org_id, now() FROM batch b WHERE b.active_org_id IS NOT NULL
                      ON CONFLICT (user_id) DO NOTHING
                      RETURNING 1
                    )
                    SELECT (SELECT b.id FROM batch b ORDER BY b.id DESC LIMIT 1), (SELECT count(*) FROM batch), (SELECT count(*) FROM saved)
                    """);
            }
        }, Describe("skipped once the column is gone; the trigger under a short lock_timeout, retried on 55P03",
            $"CREATE OR REPLACE FUNCTION {CaptureFunction}() (upserts NEW.id, NEW.active_org_id into {SavedChoicesTable})",
            RevokeCaptureFunctionSql, CreateCaptureTriggerSql,
            $"batched: INSERT INTO {SavedChoicesTable} SELECT id, active_org_id FROM {Users} WHERE active_org_id IS NOT NULL ON CONFLICT (user_id) DO NOTHING"));

        Execute.Sql("DROP FUNCTION IF EXISTS platform.get_user_active_org(uuid)");
        Execute.Sql("DROP FUNCTION IF EXISTS platform.set_user_active_org(uuid, uuid)");

        Execute.WithConnection((connection, transaction) =>
        {
            var ddl = Online(connection, transaction);
            ddl.ConcurrentStep($"drop index {Index} (CONCURRENTLY)", $"to_regclass('platform.{Index}') IS NULL", DropIndexSql);
            ddl.LockedStep($"drop foreign key {ForeignKey}", $"NOT {ForeignKeyExists}", DropForeignKeySql);
            ddl.LockedStep("drop capture trigger and column platform.users.active_org_id",
                $"NOT {ColumnExists} AND NOT {CaptureTriggerExists} AND to_regprocedure('{CaptureFunction}()') IS NULL",
                DropCaptureTriggerSql, DropCaptureFunctionSql, DropColumnSql);

            var saved = ddl.Scalar<long>($"SELECT count(*) FROM {SavedChoicesTable} WHERE active_org_id IS NOT NULL");
            if (saved == 0)
            {
                // Nothing to give back: leave no trace in the tool's schema.
                ddl.Execute($"DROP TABLE IF EXISTS {SavedChoicesTable}");
            }

            _logger.LogInformation(saved == 0
                ? "no user had an active organization; nothing saved"
                : $"saved {saved} users' active organization in {SavedChoicesTable}; the next up restores them");
        }, Describe("each skipped when already done; strong locks under a short lock_timeout, retried on 55P03",
            DropIndexSql, DropForeignKeySql, $"in one transaction: {DropCaptureTriggerSql}; {DropCaptureFunctionSql}; {DropColumnSql}",
            $"DROP TABLE {SavedChoicesTable} if it holds no saved choice"));
    }

    private OnlineDdl Online(IDbConnection connection, IDbTransaction? transaction) => new(connection, transaction, _options, _logger);

    private static void RestoreSavedChoices(OnlineDdl ddl)
    {
        if (!ddl.Scalar<bool>($"SELECT to_regclass('{SavedChoicesTable}') IS NOT NULL"))
        {
            return;
        }

        // Only into a NULL column (whatever the user chose since the column came back wins) and only where the
        // user is still a member of that organization; everyone else gets the backfill rule next.
        ddl.Batches("restore saved active_org_id", ddl.Scalar<long>($"SELECT count(*) FROM {SavedChoicesTable}"), hasAfter => $"""
            WITH batch AS (
              SELECT s.user_id, s.active_org_id FROM {SavedChoicesTable} s {(hasAfter ? "WHERE s.user_id > @after" : "")} ORDER BY s.user_id LIMIT @batch_size
            ), last AS (
              SELECT b.user_id AS id FROM batch b ORDER BY b.user_id DESC LIMIT 1
            ), restored AS (
              UPDATE {Users} u SET active_org_id = b.active_org_id
              FROM batch b
              WHERE u.id = b.user_id AND b.active_org_id IS NOT NULL AND u.active_org_id IS NULL
                AND EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = b.user_id AND m.organization_id = b.active_org_id)
                {KeyRange("u.id", hasAfter)}
              RETURNING 1
            )
            SELECT (SELECT l.id FROM last l), (SELECT count(*) FROM batch), (SELECT count(*) FROM restored)
            """);
    }

    /// <summary>
    /// docs/schema-facts.md §8.3, with a deterministic tie-break: the membership with the earliest joined_at (NULL last), ties by
    /// organization_id. Users already set are skipped, re-checked at update time, so a choice the app writes while
    /// this runs is never overwritten.
    /// </summary>
    private static void Backfill(OnlineDdl ddl) =>
        ddl.Batches("backfill active_org_id", ddl.Scalar<long>($"SELECT count(*) FROM {Users}"), hasAfter => $"""
            WITH batch AS (
              SELECT u.id FROM {Users} u {(hasAfter ? "WHERE u.id > @after" : "")} ORDER BY u.id LIMIT @batch_size
            ), last AS (
              SELECT b.id FROM batch b ORDER BY b.id DESC LIMIT 1
            ), earliest AS (
              SELECT DISTINCT ON (m.user_id) m.user_id, m.organization_id
              FROM platform.organization_members m JOIN batch b ON b.id = m.user_id
              ORDER BY m.user_id, m.joined_at ASC NULLS LAST, m.organization_id
            ), filled AS (
              UPDATE {Users} u SET active_org_id = e.organization_id
              FROM earliest e
              WHERE u.id = e.user_id AND u.active_org_id IS NULL
                {KeyRange("u.id", hasAfter)}
              RETURNING 1
            )
            SELECT (SELECT l.id FROM last l), (SELECT count(*) FROM batch), (SELECT count(*) FROM filled)
            """);

    // The id range of the batch, repeated on the updated table: without it the planner joins the batch to a
    // sequential scan of all users, which makes every batch as slow as the whole table.
    private static string KeyRange(string column, bool hasAfter) =>
        $"{(hasAfter ? $"AND {column} > @after " : "")}AND {column} <= (SELECT l.id FROM last l)";

    private void Verify(OnlineDdl ddl)
    {
        var failures = new List<string>();
        void Check(bool ok, string what)
        {
            if (!ok)
            {
                failures.Add(what);
            }
        }

        Check(ddl.Scalar<bool>($"SELECT {ColumnExists}"), "column platform.users.active_org_id is missing");
        Check(ddl.Scalar<bool>($"SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'platform.users'::regclass AND conname = '{ForeignKey}' AND contype = 'f' AND convalidated AND confdeltype = 'n' AND confrelid = 'platform.organizations'::regclass)"),
            $"foreign key {ForeignKey} (ON DELETE SET NULL, validated) is missing or not validated");
        Check(ddl.Scalar<bool>($"SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('platform.{Index}') AND indisvalid AND indpred IS NOT NULL)"),
            $"partial index {Index} is missing or not valid");
        Check(ddl.Scalar<bool>("SELECT to_regprocedure('platform.set_user_active_org(uuid,uuid)') IS NOT NULL"), "function platform.set_user_active_org(uuid, uuid) is missing");
        Check(ddl.Scalar<bool>("SELECT to_regprocedure('platform.get_user_active_org(uuid)') IS NOT NULL"), "function platform.get_user_active_org(uuid) is missing");
        if (failures.Count > 0)
        {
            throw new InvalidOperationException($"verification of 008 failed: {string.Join("; ", failures)}. The version is not recorded; re-run migrate up.");
        }

        var users = ddl.Scalar<long>($"SELECT count(*) FROM {Users}");
        var withActive = ddl.Scalar<long>($"SELECT count(*) FROM {Users} WHERE active_org_id IS NOT NULL");
        var withoutMembership = ddl.Scalar<long>($"SELECT count(*) FROM {Users} u WHERE NOT EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = u.id)");
        _logger.LogInformation($"verified: users: {users}, with active org: {withActive}, without any membership: {withoutMembership}");
    }

    // FluentMigrator prints this for the step in --dry-run and --verbose, where the code itself is not shown.
    private static string Describe(string how, params string[] steps) => $"008, {how}: {string.Join("; ", steps)}";

    // Pinned search_path: as SECURITY DEFINER it runs with its owner's rights, so no caller-controlled schema
    // may shadow the tables or operators it uses. The membership error is raised with its own SQLSTATE and is
    // not caught: the app can tell "not a member" apart from anything else (docs/schema-facts.md §12.34).
    private const string SetUserActiveOrgSql = $$"""
        CREATE OR REPLACE FUNCTION platform.set_user_active_org(p_user_id uuid, p_org_id uuid)
        RETURNS boolean
        LANGUAGE plpgsql
        VOLATILE
        SECURITY DEFINER
        SET search_path = pg_catalog, platform
        AS $function$
        DECLARE
          v_slug text;
        BEGIN
          IF NOT EXISTS (
            SELECT 1 FROM platform.organization_members m
            WHERE m.user_id = p_user_id AND m.organization_id = p_org_id
          ) THEN
            SELECT o.slug INTO v_slug FROM platform.organizations o WHERE o.id = p_org_id;
            RAISE EXCEPTION 'user % is not a member of organization %',
                p_user_id, coalesce(p_org_id::text, 'NULL') || coalesce(' (' || v_slug || ')', '')
              USING ERRCODE = '{{NotAMemberSqlState}}',
                    HINT = 'Add a membership in platform.organization_members first, or pick one of the user''s organizations.';
          END IF;

          UPDATE platform.users
          SET active_org_id = p_org_id, updated_at = now()
          WHERE id = p_user_id;

          RETURN true;
        END
        $function$
        """;

    private const string GetUserActiveOrgSql = """
        CREATE OR REPLACE FUNCTION platform.get_user_active_org(p_user_id uuid)
        RETURNS TABLE (organization_id uuid, organization_slug text, organization_name text, user_role text)
        LANGUAGE plpgsql
        STABLE
        SET search_path = pg_catalog, platform
        AS $function$
        BEGIN
          RETURN QUERY
          SELECT o.id, o.slug, o.name, m.role
          FROM platform.users u
          JOIN platform.organizations o ON o.id = u.active_org_id
          JOIN platform.organization_members m ON m.organization_id = o.id AND m.user_id = u.id
          WHERE u.id = p_user_id;
        END
        $function$
        """;

    private const string SetFunctionComment =
        "'Makes p_org_id the active organization of user p_user_id and returns true. Raises SQLSTATE " + NotAMemberSqlState +
        " naming the organization when the user is not a member of it. Runs as its owner; EXECUTE is granted only to the " +
        "database owner role, so grant it explicitly to any other app role that should call it.'";

    private const string GetFunctionComment =
        "'The active organization of user p_user_id (id, slug, name) and the role the user has in it; no row when none is set " +
        "or the user is no longer a member of it.'";

    // PUBLIC keeps no EXECUTE (docs/schema-facts.md §12.2, §12.4): the database owner role is the one Studio connects as. Another app
    // role is enabled with: GRANT EXECUTE ON FUNCTION platform.set_user_active_org(uuid, uuid) TO <role>; (same for
    // get_user_active_org(uuid); that one runs with the caller's rights, so the role also needs SELECT on the tables).
    private const string PrivilegesSql = """
        DO $privileges$
        DECLARE
          v_owner text;
        BEGIN
          SELECT pg_catalog.pg_get_userbyid(d.datdba) INTO v_owner
          FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();

          REVOKE ALL ON FUNCTION platform.set_user_active_org(uuid, uuid) FROM PUBLIC;
          REVOKE ALL ON FUNCTION platform.get_user_active_org(uuid) FROM PUBLIC;
          EXECUTE format('GRANT EXECUTE ON FUNCTION platform.set_user_active_org(uuid, uuid) TO %I', v_owner);
          EXECUTE format('GRANT EXECUTE ON FUNCTION platform.get_user_active_org(uuid) TO %I', v_owner);
        END
        $privileges$
        """;

    // SECURITY DEFINER so the app role whose UPDATE fires it needs no rights on the tool's schema; the trigger
    // exists only for the few seconds of a rollback.
    private const string CaptureFunctionSql = $$"""
        CREATE OR REPLACE FUNCTION {{CaptureFunction}}()
        RETURNS trigger
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = pg_catalog
        AS $function$
        BEGIN
          INSERT INTO {{SavedChoicesTable}} (user_id, active_org_id, saved_at)
          VALUES (NEW.id, NEW.active_org_id, now())
          ON CONFLICT (user_id) DO UPDATE SET active_org_id = EXCLUDED.active_org_id, saved_at = EXCLUDED.saved_at;
          RETURN NULL;
        END
        $function$
        """;
}
