using System.Data;
using FluentMigrator;
using Microsoft.Extensions.Logging;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// 009 (issue #13): every GoTrue sign-up becomes a platform user, so Studio's request authentication (which
/// looks the GoTrue id up in <c>platform.users</c>) finds them; docs/schema-facts.md §9, with the defects of §12.35 fixed.
/// <para>
/// A trigger on <c>auth.users</c> mirrors inserts, updates, soft and hard deletes. It can never fail GoTrue's
/// write: a user that cannot be mirrored (no address, an address <c>platform.users</c> rejects or another
/// platform user already has) is listed with the reason in <see cref="FailuresTable"/> and mirrored by the
/// next write that makes it possible. Each newly mirrored user gets one default organization they own, which
/// becomes their active one (008). Existing GoTrue users are mirrored by an online, batched backfill, so the
/// migration runs outside one transaction (like 008) and every step is idempotent.
/// </para>
/// <para>
/// Production may carry the original 009 applied by hand (public functions, triggers <c>on_auth_user_change</c>
/// and <c>on_platform_user_created</c>); the Up replaces them in one short transaction. The Down removes the
/// trigger and functions only: mirrored users and their organizations stay. Docs: docs/gotrue-sync.md.
/// </para>
/// </summary>
[Migration(Version, TransactionBehavior.None, "mirror GoTrue sign-ups into platform users")]
// The original 009 applied by hand: baseline reports it (ReplacesHandApplied) and never records 9.
[PresenceProbe("trigger function public.sync_auth_user_to_platform()", "to_regprocedure('public.sync_auth_user_to_platform()') IS NOT NULL")]
[OptIn(Version, "It needs GoTrue's auth.users in this database and mirrors every GoTrue user into platform.users, giving each " +
          "new one a default organization; apply it where GoTrue runs against this database.")]
[Precondition(AuthUsersReady, "009 needs GoTrue's table auth.users (with " + AuthUsersColumnList + ") in this database; GoTrue creates it on its first start")]
[Precondition(MigrationRoleMayUseAuthUsers, "009 needs the migration role to have USAGE on schema auth and SELECT and TRIGGER on auth.users (GoTrue's role owns them); " +
                                            "as their owner run: GRANT USAGE ON SCHEMA auth TO <role>; GRANT SELECT, TRIGGER ON auth.users TO <role>")]
[ReplacesHandApplied("the original 009 applied by hand is replaced, not adopted: run 'migrate up --include 9', which swaps its triggers and public functions for the corrected ones without duplicating users or organizations")]
public sealed class M009_MirrorGoTrueUsers(IOnlineSessions online, ILogger<M009_MirrorGoTrueUsers> logger) : Migration, IRollbackOverrides
{
    private const long Version = 9;

    public const string FailuresTable = "platform.auth_user_sync_failures";
    public const string Trigger = "platform_mirror_user";
    public const string TriggerFunction = "platform.gotrue_sync_trigger()";

    /// <summary>Every function 9 creates; all hardened (search_path pinned, no EXECUTE for PUBLIC).</summary>
    public static readonly IReadOnlyList<string> Functions =
    [
        "platform.gotrue_org_slug(text, uuid, integer)",
        "platform.gotrue_apply_user(uuid, text, timestamptz, timestamptz, timestamptz, jsonb, timestamptz, timestamptz, boolean)",
        "platform.gotrue_sync_user(uuid, text, timestamptz, timestamptz, timestamptz, jsonb, timestamptz, timestamptz, boolean)",
        "platform.gotrue_sync_user_by_id(uuid)",
        TriggerFunction,
    ];

    /// <summary>The original's triggers (docs/schema-facts.md §9); M009/replace_original.sql replaces them and their functions.</summary>
    public const string OriginalAuthTrigger = "on_auth_user_change";
    public const string OriginalPlatformTrigger = "on_platform_user_created";

    private const string AuthUsersColumnList = "id, email, email_confirmed_at, last_sign_in_at, created_at, raw_user_meta_data, banned_until, deleted_at";

    // Catalog joins, not to_regclass('auth.users'): resolving that name needs USAGE on schema auth, which the
    // migration role may lack (the next precondition says so).
    private const string AuthUsersRelation =
        "SELECT c.oid, n.oid AS nsp FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
        "WHERE n.nspname = 'auth' AND c.relname = 'users' AND c.relkind IN ('r', 'p')";

    public const string AuthUsersReady =
        "(SELECT count(*) FROM (" + AuthUsersRelation + ") u JOIN pg_catalog.pg_attribute a ON a.attrelid = u.oid AND NOT a.attisdropped " +
        "AND a.attname = ANY (string_to_array(replace('" + AuthUsersColumnList + "', ' ', ''), ','))) = 8";

    // True when auth.users is missing: that is AuthUsersReady's message to give.
    public const string MigrationRoleMayUseAuthUsers =
        "NOT EXISTS (" + AuthUsersRelation + " AND NOT (pg_catalog.has_schema_privilege(n.oid, 'USAGE') " +
        "AND pg_catalog.has_table_privilege(c.oid, 'SELECT') AND pg_catalog.has_table_privilege(c.oid, 'TRIGGER')))";

    private const string OurTriggerExists =
        $"EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass('auth.users') AND t.tgname = '{Trigger}' AND NOT t.tgisinternal)";

    private const string OriginalTriggersExist =
        $"(EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass('auth.users') AND t.tgname = '{OriginalAuthTrigger}') " +
        $"OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass('platform.users') AND t.tgname = '{OriginalPlatformTrigger}'))";

    private readonly IOnlineSessions _online = online;
    private readonly ILogger<M009_MirrorGoTrueUsers> _logger = logger;

    public IReadOnlyList<RemovedObject> RollbackOverrides { get; } =
    [
        new(RemovedKind.Table, Platform.Schema, "auth_user_sync_failures", Preserved: true,
            Note: "derived from auth.users, not data of its own: the next --include 9 lists again every GoTrue user it cannot mirror"),
    ];

    public override void Up()
    {
        // No table lock beyond creating a new table and functions: each statement commits on its own.
        Execute.Sql(SqlResource.Read("M009/failures_table.sql"));
        Execute.Sql($"REVOKE ALL ON TABLE {FailuresTable} FROM PUBLIC");
        foreach (var file in new[] { "org_slug.sql", "apply_user.sql", "sync_user.sql", "sync_user_by_id.sql", "sync_trigger.sql" })
        {
            Execute.Sql(SqlResource.Read("M009/" + file));
        }

        Execute.Sql(string.Join(";\n", Functions.Select(f => $"REVOKE ALL ON FUNCTION {f} FROM PUBLIC")));

        Execute.Sql(SqlResource.Read("M009/replace_original.sql"));

        Execute.WithConnection((connection, transaction) =>
        {
            var online = _online.Open(connection, transaction);
            Backfill(online);
            Verify(online);
        }, "009: batched backfill: platform.gotrue_sync_user_by_id(id) for every auth.users row, each batch its own transaction; verify");
    }

    public override void Down()
    {
        // GoTrue's table may be gone by now; the Down must still work.
        Execute.Sql($"""
            DO $m009$
            BEGIN
              IF {OurTriggerExists} THEN
                DROP TRIGGER {Trigger} ON auth.users;
              END IF;
            END
            $m009$
            """);

        Execute.WithConnection((connection, transaction) =>
        {
            var online = _online.Open(connection, transaction);
            var mirrored = online.Scalar<bool>("SELECT to_regclass('auth.users') IS NULL") ? 0
                : online.Scalar<long>("SELECT count(*) FROM platform.users u WHERE EXISTS (SELECT 1 FROM auth.users a WHERE a.id = u.id)");
            _logger.LogInformation($"GoTrue users are no longer mirrored; the {mirrored} platform users mirrored from auth.users and their organizations stay, " +
                                   "and GoTrue's own writes keep working. 'migrate up --include 9' mirrors again from where things are.");
        }, "009 down: report");

        foreach (var function in Functions.Reverse())
        {
            Execute.Sql($"DROP FUNCTION IF EXISTS {function}");
        }

        Execute.Sql($"DROP TABLE IF EXISTS {FailuresTable}");
    }

    /// <summary>
    /// Every GoTrue user, keyset batches by id, each batch its own transaction. Re-running after a kill repeats only
    /// idempotent work: a user already mirrored is updated in place (only if something differs), never created again.
    /// A batch holds each of its users (row locks, the per-user lock) until it commits, and a GoTrue write of such a
    /// user waits for that. One mirrored user costs far more than one 008 row (user, organization, membership, active
    /// organization, their indexes, a subtransaction), so a batch starts at a tenth of the backfill's batch size: 100
    /// users, ~160 ms at the ~630 users/s measured at 100k on the shared 2-core machine (docs/benchmarks.md). The
    /// steering then shrinks it toward its target batch duration (docs/backfill-steering.md), and so shortens the
    /// longest wait of a GoTrue write of one of its users; a fixed --batch-size of N makes it N/10.
    /// </summary>
    private static void Backfill(IOnlineSession online) =>
        online.Backfill("mirror existing GoTrue users", online.Scalar<long>("SELECT count(*) FROM auth.users"), hasAfter => $"""
            WITH batch AS (
              SELECT a.id FROM auth.users a {(hasAfter ? "WHERE a.id > @after" : "")} ORDER BY a.id LIMIT @batch_size
            ), synced AS (
              SELECT platform.gotrue_sync_user_by_id(b.id) AS outcome FROM batch b
            )
            SELECT (SELECT b.id FROM batch b ORDER BY b.id DESC LIMIT 1), (SELECT count(*) FROM synced),
                   (SELECT count(*) FROM synced s WHERE s.outcome IN ('created', 'updated', 'deleted'))
            """, batchShare: 0.1);

    private void Verify(IOnlineSession ddl)
    {
        var problems = new List<string>();
        if (!ddl.Scalar<bool>($"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = 'auth.users'::regclass AND t.tgname = '{Trigger}' AND t.tgenabled = 'O' AND t.tgfoid = '{TriggerFunction}'::regprocedure)"))
        {
            problems.Add($"trigger {Trigger} on auth.users is missing, disabled or calls another function");
        }

        if (ddl.Scalar<bool>($"SELECT {OriginalTriggersExist}"))
        {
            problems.Add("a trigger of the original 009 is still there");
        }

        problems.AddRange(Functions.Where(f => !ddl.Scalar<bool>($"SELECT to_regprocedure('{f}') IS NOT NULL")).Select(f => $"function {f} is missing"));
        if (problems.Count > 0)
        {
            throw new InvalidOperationException($"verification of 009 failed: {string.Join("; ", problems)}. The version is not recorded; re-run migrate up --include 9.");
        }

        var gotrue = ddl.Scalar<long>("SELECT count(*) FROM auth.users");
        var mirrored = ddl.Scalar<long>("SELECT count(*) FROM platform.users u WHERE EXISTS (SELECT 1 FROM auth.users a WHERE a.id = u.id)");
        var failures = ddl.Scalar<long>($"SELECT count(*) FROM {FailuresTable}");
        _logger.LogInformation($"verified: GoTrue users: {gotrue}, mirrored in platform.users: {mirrored}, " +
                               $"not mirrored (listed with the reason in {FailuresTable}): {failures}");
    }
}
