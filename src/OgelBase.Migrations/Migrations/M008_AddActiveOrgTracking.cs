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
/// CONCURRENTLY, and the backfill commits in small batches. Its DDL is plain <c>Execute.Sql</c>, so a reader and a
/// dry run see it as it runs; the runner applies the online mechanics to each statement (<see cref="OnlineDdl.Run"/>,
/// which also says why the retries are done in C# rather than in DO-block loops). Every statement can run again
/// (IF NOT EXISTS, OR REPLACE, the FK's duplicate skipped) and the data steps only fill NULLs, so a run killed
/// anywhere completes when re-run; the runner records the version only after Up returns.
/// </para>
/// <para>
/// The Down keeps every user's choice in <c>ogelbase_migrations.m008_saved_active_org</c> (outside
/// <c>platform</c>, so rolling back further never touches it) and the next Up puts each one back where the user
/// is still a member of that organization.
/// </para>
/// </summary>
[Migration(Version, TransactionBehavior.None, "active organization tracking")]
// The previous build's 8 ran the same DDL by hand inside code steps; production may have recorded that shape.
[SupersedesChecksum("3f82b186655b94d877f431d35ac2141836bbe7e4b9b420066940aeee11bceafc",
    "its DDL moved from hand-written code steps into Execute.Sql statements the runner runs online: the same DDL in the same order, leaving the same catalog and data")]
[PresenceProbe("column platform.users.active_org_id", ColumnExists)]
public sealed class M008_AddActiveOrgTracking(IOnlineSessions online, ILogger<M008_AddActiveOrgTracking> logger) : Migration, IRollbackOverrides
{
    private const long Version = 8;

    /// <summary>SQLSTATE of "user is not a member of that organization" from set_user_active_org. Implementation-defined class "OG" (OgelBase), so the app can tell it from permission (42501) or FK (23503) errors.</summary>
    public const string NotAMemberSqlState = "OG403";

    public const string SavedChoicesTable = VersionTable.Schema + ".m008_saved_active_org";

    private const string Users = "platform.users";

    private const string ColumnComment =
        "'Organization the user has currently selected in Studio (org switcher, session context). " +
        "Must be one the user is a member of; set_user_active_org enforces that, the database does not. " +
        "Cleared when the organization is deleted.'";

    private const string ColumnExists =
        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.users') AND attname = 'active_org_id' AND NOT attisdropped)";

    private readonly IOnlineSessions _online = online;
    private readonly ILogger<M008_AddActiveOrgTracking> _logger = logger;

    public IReadOnlyList<RemovedObject> RollbackOverrides { get; } =
    [
        RemovedObject.ColumnOf(Platform.Schema, "users", "active_org_id", preserved: true,
            note: $"copied to {SavedChoicesTable}; the next up restores each choice where the user is still a member of that organization"),
    ];

    // Every Execute.Sql here runs online (OnlineDdl.Run, applied by the runner to this TransactionBehavior.None
    // migration): one short transaction under a 50 ms lock_timeout, retried on 55P03, or, for CONCURRENTLY, a
    // top-level statement. Each is safe to run again after a kill; the runner records 8 only after Up returns.
    public override void Up()
    {
        Execute.Sql("ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id uuid NULL");

        // The data first, while the column has neither FK nor index: each backfilled row then costs one row
        // version, not also an RI lookup on organizations and an index insert. Measured at 1M users, that halves
        // the time each batch holds its rows, which is the time an app UPDATE of one of them can wait.
        Execute.WithConnection((connection, transaction) =>
        {
            var online = _online.Open(connection, transaction);
            RestoreSavedChoices(online);
            Backfill(online);
        }, Describe("data batched, each batch its own transaction; only NULLs filled",
            $"if {SavedChoicesTable} exists: restore each saved choice into a NULL active_org_id where the user is still a member of that organization",
            "backfill every NULL active_org_id from the membership with the earliest joined_at (NULL last, ties by organization_id)"));

        // NOT VALID: adding the FK then needs its SHARE ROW EXCLUSIVE locks only for an instant, and the scan of
        // existing rows happens in VALIDATE, whose SHARE UPDATE EXCLUSIVE lock lets reads and writes go on. On a
        // re-run PostgreSQL refuses it as a duplicate (42710), which the runner logs as already in place; the manifest check
        // below checks the definition.
        Execute.Sql("""
            ALTER TABLE platform.users ADD CONSTRAINT users_active_org_id_fkey
              FOREIGN KEY (active_org_id) REFERENCES platform.organizations (id) ON DELETE SET NULL NOT VALID
            """);

        // An organization deleted while the backfill ran (before the FK existed) left its users pointing at
        // nothing; ON DELETE SET NULL would have cleared them, so do exactly that. From here on the FK does it.
        Execute.Sql("""
            UPDATE platform.users u SET active_org_id = NULL
            WHERE u.active_org_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM platform.organizations o WHERE o.id = u.active_org_id)
            """);
        Execute.Sql("ALTER TABLE platform.users VALIDATE CONSTRAINT users_active_org_id_fkey");

        // IF NOT EXISTS alone would accept the INVALID index a failed or killed build leaves; the runner drops
        // such a leftover before every attempt.
        Execute.Sql("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_active_org ON platform.users (active_org_id) WHERE active_org_id IS NOT NULL");

        // COMMENT ON COLUMN takes SHARE UPDATE EXCLUSIVE on the table: it goes under the same lock discipline.
        Execute.Sql("COMMENT ON COLUMN platform.users.active_org_id IS " + ColumnComment);

        // Functions take no table lock (plpgsql bodies are not checked against tables at creation).
        Execute.Sql(SetUserActiveOrgSql);
        Execute.Sql(GetUserActiveOrgSql);
        Execute.Sql("COMMENT ON FUNCTION platform.set_user_active_org(uuid, uuid) IS " + SetFunctionComment);
        Execute.Sql("COMMENT ON FUNCTION platform.get_user_active_org(uuid) IS " + GetFunctionComment);
        Execute.Sql(PrivilegesSql);

        Execute.WithConnection((connection, transaction) => Report(_online.Open(connection, transaction)),
            Describe("report", "log the counts of users, of users with an active organization and of users without any membership"));

        // Only now is the side table no longer needed. A capture trigger can only be left here by a rollback that
        // was killed and then bypassed; it writes to the side table, so it has to go before the table. Looked up
        // first, so the ordinary run takes no lock on users for it.
        Execute.Sql("""
            DO $m008$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('platform.users') AND tgname = 'm008_capture_active_org' AND NOT tgisinternal) THEN
                DROP TRIGGER m008_capture_active_org ON platform.users;
                DROP FUNCTION IF EXISTS ogelbase_migrations.m008_capture_active_org();
                RAISE NOTICE 'dropped the leftover rollback trigger m008_capture_active_org';
              END IF;
            END
            $m008$
            """);
        Execute.Sql("DROP TABLE IF EXISTS ogelbase_migrations.m008_saved_active_org");
    }

    public override void Down()
    {
        // The side table survives this Down on purpose (see the next Up); it lives in the tool's own schema.
        Execute.Sql("CREATE TABLE IF NOT EXISTS ogelbase_migrations.m008_saved_active_org (user_id uuid PRIMARY KEY, active_org_id uuid, saved_at timestamptz NOT NULL DEFAULT now())");

        // Lossless under concurrent writes: the trigger first, so every change from here on is upserted into the
        // side table; then the bulk copy with ON CONFLICT DO NOTHING, so a value the trigger wrote (newer than what
        // the copy read) wins. Skipped once the column is gone: the trigger is defined on it.
        Execute.Sql(SqlResource.Read("M008/install_capture_trigger.sql"));

        Execute.WithConnection((connection, transaction) =>
        {
            var online = _online.Open(connection, transaction);
            if (online.Scalar<bool>($"SELECT {ColumnExists}"))
            {
                online.Backfill("save active_org_id", online.Scalar<long>($"SELECT count(*) FROM {Users}"), hasAfter => $"""
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
        }, Describe("skipped once the column is gone",
            $"batched: INSERT INTO {SavedChoicesTable} SELECT id, active_org_id FROM {Users} WHERE active_org_id IS NOT NULL ON CONFLICT (user_id) DO NOTHING"));

        Execute.Sql("DROP FUNCTION IF EXISTS platform.get_user_active_org(uuid)");
        Execute.Sql("DROP FUNCTION IF EXISTS platform.set_user_active_org(uuid, uuid)");
        Execute.Sql("DROP INDEX CONCURRENTLY IF EXISTS platform.idx_users_active_org");
        Execute.Sql("ALTER TABLE platform.users DROP CONSTRAINT IF EXISTS users_active_org_id_fkey");

        // One transaction: the column never goes while the trigger that saves its changes could miss one.
        Execute.Sql("""
            DROP TRIGGER IF EXISTS m008_capture_active_org ON platform.users;
            DROP FUNCTION IF EXISTS ogelbase_migrations.m008_capture_active_org();
            ALTER TABLE platform.users DROP COLUMN IF EXISTS active_org_id
            """);

        Execute.WithConnection((connection, transaction) =>
        {
            var saved = _online.Open(connection, transaction).Scalar<long>($"SELECT count(*) FROM {SavedChoicesTable} WHERE active_org_id IS NOT NULL");
            _logger.LogInformation(saved == 0
                ? "no user had an active organization; nothing saved"
                : $"saved {saved} users' active organization in {SavedChoicesTable}; the next up restores them");
        }, Describe("report", "count the saved choices"));

        // Nothing to give back: leave no trace in the tool's schema.
        Execute.Sql("""
            DO $m008$
            BEGIN
              IF NOT EXISTS (SELECT 1 FROM ogelbase_migrations.m008_saved_active_org WHERE active_org_id IS NOT NULL) THEN
                DROP TABLE ogelbase_migrations.m008_saved_active_org;
              END IF;
            END
            $m008$
            """);
    }

    private static void RestoreSavedChoices(IOnlineSession online)
    {
        if (!online.Scalar<bool>($"SELECT to_regclass('{SavedChoicesTable}') IS NOT NULL"))
        {
            return;
        }

        // Only into a NULL column (whatever the user chose since the column came back wins) and only where the
        // user is still a member of that organization; everyone else gets the backfill rule next.
        online.Backfill("restore saved active_org_id", online.Scalar<long>($"SELECT count(*) FROM {SavedChoicesTable}"), hasAfter => $"""
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
    private static void Backfill(IOnlineSession online) =>
        online.Backfill("backfill active_org_id", online.Scalar<long>($"SELECT count(*) FROM {Users}"), hasAfter => $"""
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

    private void Report(IOnlineSession online)
    {
        var users = online.Scalar<long>($"SELECT count(*) FROM {Users}");
        var withActive = online.Scalar<long>($"SELECT count(*) FROM {Users} WHERE active_org_id IS NOT NULL");
        var withoutMembership = online.Scalar<long>($"SELECT count(*) FROM {Users} u WHERE NOT EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = u.id)");
        _logger.LogInformation($"backfilled: users: {users}, with active org: {withActive}, without any membership: {withoutMembership}");
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
}
