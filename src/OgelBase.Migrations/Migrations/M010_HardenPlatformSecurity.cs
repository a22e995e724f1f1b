using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// Issue #9: closes the security holes that versions 1–6 and 8 left in the <c>platform</c> schema as built
/// (docs/schema-facts.md §12 items 1–4, 6, 7, 9, 12) and repairs two defects with wrong results (§12.22, §12.23). Versions 1–6
/// stay as production built them; production gets these fixes only through this forward migration, so it has to
/// work on a database built by our migrations and on one adopted with <c>baseline</c>, with or without 7.
/// <para>
/// Everything is decided from the live catalog, not assumed: a function is pinned only when it has no
/// search_path yet, an ACL is changed only when PUBLIC really holds the privilege, 7's functions are touched only
/// if they exist. Before changing an object the Up records its previous state (ACL, function definition,
/// view definition and options, trigger definition, RLS flag) in <see cref="SavedStateTable"/>, and the Down
/// puts exactly that back, so <c>rollback 8</c> restores the catalog of version 8 including the order of ACL
/// entries. Docs: docs/security.md. Each step is one file in <c>Migrations/M010/</c>.
/// </para>
/// </summary>
[Migration(Version, "harden platform security (search_path, grants, invoker views, RLS on databases, two fixes)")]
[PresenceProbe(PresenceOf.Function, "platform.update_last_activity_at_column()")]
public sealed class M010_HardenPlatformSecurity : Migration
{
    private const long Version = 10;

    /// <summary>What the Up changed and how it was before; read and dropped by the Down. Outside platform on purpose.</summary>
    public const string SavedStateTable = VersionTable.Schema + ".m010_saved_state";

    public const string SessionTrigger = "update_user_sessions_activity";

    /// <summary>
    /// 7's read-only policy helpers. RLS policies call them with the privileges of whoever runs the query, so they
    /// must stay executable by PUBLIC or every role that does not bypass RLS would fail on every platform table.
    /// They only answer questions about the caller's own context. They still get a pinned search_path.
    /// The same list is written out in M010/harden_functions.sql and M010/verify.sql.
    /// </summary>
    public static readonly IReadOnlyList<string> PolicyHelpers =
    [
        "platform.current_user_id()",
        "platform.current_org_id()",
        "platform.user_is_org_member(uuid)",
        "platform.user_has_org_role(uuid, text)",
        "platform.is_system_user()",
    ];

    public override void Up() => Steps(
        "preconditions.sql",
        "create_saved_state.sql",
        "harden_functions.sql",
        "restrict_relations.sql",
        "save_view_options.sql",
        "fix_billing_overview.sql",
        "invoker_views.sql",
        "fix_session_trigger.sql",
        "databases_rls.sql",
        "verify.sql");

    public override void Down()
    {
        Steps(
            "down_preconditions.sql",
            "down_databases_rls.sql",
            "down_session_trigger.sql",
            "down_views.sql",
            // One ACL rebuild for relations, columns and functions; it lives only inside this Down's transaction.
            "rebuild_acl.sql",
            "down_relations.sql",
            "down_functions.sql");
        Execute.Sql($"DROP FUNCTION {RebuildAclFunction};");
        Execute.Sql($"DROP TABLE {SavedStateTable};");
    }

    private const string RebuildAclFunction = VersionTable.Schema + ".m010_rebuild_acl(text, text, aclitem[], aclitem[])";

    /// <summary>Runs each file of <c>Migrations/M010/</c> as one statement, in the order given.</summary>
    private void Steps(params string[] files)
    {
        foreach (var file in files)
        {
            Execute.Sql(SqlResource.Read("M010/" + file));
        }
    }
}
