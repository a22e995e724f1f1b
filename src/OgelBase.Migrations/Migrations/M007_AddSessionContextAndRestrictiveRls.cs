using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// Session context helpers and org-isolating RLS policies (docs/schema-facts.md §7), corrected in place because it was never
/// applied anywhere (§12 items 1, 2, 5, 25–33). Held back unless the operator opts in: once it is applied, every
/// role that does not bypass RLS sees no platform row until the application sets a session context in each
/// transaction.
/// <para>
/// How context works here (see docs/schema-history/mig-007.md): the setters are SECURITY DEFINER and executable
/// only by the database owner role (the operator grants them to the application's login role). They write the
/// context transaction-local together with a token: a keyed hash over the values, the backend pid and the
/// transaction start, keyed with a secret only the migration owner can read (schema <c>platform_private</c>).
/// The readers trust the settings only when the token matches, so a role that writes <c>app.*</c> itself with
/// <c>set_config</c> or <c>SET</c>, or replays a token seen in another transaction, gets no context at all.
/// </para>
/// </summary>
[Migration(Version, "Session context helpers and org-isolating RLS policies")]
[PresenceProbe(PresenceOf.Function, "platform.user_has_org_role(uuid,text)")]
[OptIn(Version, "It replaces the allow-all policies of 006 with org-isolating ones: from then on every role that does not " +
          "bypass RLS sees and changes no platform row unless the application sets a session context " +
          "(platform.set_user_context) inside each transaction, and the application does not do that yet. " +
          "Applying it now cuts the application off from its data.")]
public sealed class M007_AddSessionContextAndRestrictiveRls : Migration
{
    private const long Version = 7;

    public const string PrivateSchema = "platform_private";

    /// <summary>The 25 tables 006 put under RLS, in the spec's order; each had one permissive_all_* policy.</summary>
    public static readonly IReadOnlyList<string> RlsTables = PermissiveRls.Tables;

    /// <summary>Part A of the original, with the signatures the spec's presence probes and grants use.</summary>
    public static readonly IReadOnlyList<string> SessionHelperSignatures =
    [
        "platform.set_user_context(uuid, uuid)", "platform.set_user_id(uuid)", "platform.set_org_id(uuid)",
        "platform.clear_user_context()", "platform.get_current_user_id()", "platform.get_current_org_id()",
        "platform.set_system_user()", "platform.is_system_user()", "platform.require_user_context()",
        "platform.require_org_context()", "platform.get_session_context()",
        "platform.log_context_change(text, uuid, uuid)", "platform.test_session_helpers()",
    ];

    /// <summary>The policy helpers of part B.</summary>
    public static readonly IReadOnlyList<string> PolicyHelperSignatures =
    [
        "platform.current_user_id()", "platform.current_org_id()", "platform.user_is_org_member(uuid)",
        "platform.user_has_org_role(uuid, text)", "platform.test_rls_enforcement()",
    ];

    /// <summary>
    /// Functions that establish identity or write attributed audit rows. Nobody but the database owner role may
    /// run them; whoever may run them can act as any user.
    /// </summary>
    public static readonly IReadOnlyList<string> ContextSetterSignatures =
    [
        "platform.set_user_context(uuid, uuid)", "platform.set_user_id(uuid)", "platform.set_org_id(uuid)",
        "platform.set_system_user()", "platform.clear_user_context()", "platform.log_context_change(text, uuid, uuid)",
    ];

    // Sub-selects so the planner evaluates the context once per statement (an initplan), not once per row.
    private const string Sys = "(SELECT platform.is_system_user())";
    private const string Me = "(SELECT platform.current_user_id())";

    /// <summary>The name of the system-bypass policy on each of the 25 tables.</summary>
    public const string SystemPolicyName = "system_user_all";

    public sealed record PolicySpec(string Table, string Name, string Command, string? Using, string? Check);

    /// <summary>
    /// The 33 policies of the original (org_member_select without its direct membership subquery), one or two for
    /// each of the eight tables the original left without any policy, and on each of the 25 tables the documented
    /// system bypass: one policy for all commands that admits only the system identity. Permissive policies are
    /// OR-ed, so that is "every policy OR platform.is_system_user()", including commands no other policy covers.
    /// </summary>
    public static readonly IReadOnlyList<PolicySpec> Policies = BuildPolicies();

    public override void Up()
    {
        CreatePrivateContextStore();
        CreateFunctions(SessionHelperSignatures);
        RestrictContextSetters();

        foreach (var table in RlsTables)
        {
            Execute.Sql($"DROP POLICY permissive_all_{table} ON platform.{table};");
        }

        CreateFunctions(PolicyHelperSignatures);
        foreach (var policy in Policies)
        {
            Execute.Sql(CreatePolicySql(policy));
        }
    }

    public override void Down()
    {
        foreach (var policy in Policies.Reverse())
        {
            Execute.Sql($"DROP POLICY {policy.Name} ON platform.{policy.Table};");
        }

        // Exactly the allow-all policies of 006 part C, so the catalog is the 006 state again.
        foreach (var table in RlsTables)
        {
            Execute.Sql($"CREATE POLICY permissive_all_{table} ON platform.{table} AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);");
        }

        foreach (var signature in PolicyHelperSignatures.Reverse().Concat(SessionHelperSignatures.Reverse()))
        {
            Execute.Sql($"DROP FUNCTION {signature};");
        }

        Execute.Sql("DROP FUNCTION platform_private.verified_context();");
        Execute.Sql("DROP FUNCTION platform_private.write_context(uuid, uuid, boolean);");
        Execute.Sql("DROP FUNCTION platform_private.context_signature(text, text, text);");
        // Not in a rollback manifest on purpose: the key is no data anyone needs back (tokens live one transaction
        // and the next Up draws a new key), and listing its one row would make every rollback demand --allow-data-loss.
        Execute.Sql("DROP TABLE platform_private.session_context_key;");
        Execute.Sql(CreatedObjects.DropSchemaIfCreated(PrivateSchema, Version));
    }

    public static string CreatePolicySql(PolicySpec policy) =>
        $"CREATE POLICY {policy.Name} ON platform.{policy.Table} AS PERMISSIVE FOR {policy.Command} TO PUBLIC" +
        (policy.Using is null ? "" : $" USING ({policy.Using})") +
        (policy.Check is null ? "" : $" WITH CHECK ({policy.Check})") + ";";

    private void CreatePrivateContextStore()
    {
        Execute.Sql(CreatedObjects.CreateSchemaIfAbsent(PrivateSchema, Version));
        Execute.Sql("REVOKE ALL ON SCHEMA platform_private FROM PUBLIC;");

        // One row; readable only by its owner, which owns the SECURITY DEFINER functions that sign and verify.
        Execute.Sql("""
            CREATE TABLE platform_private.session_context_key (
              singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
              key text NOT NULL
            );
            """);
        Execute.Sql("REVOKE ALL ON TABLE platform_private.session_context_key FROM PUBLIC;");
        Execute.Sql("""
            INSERT INTO platform_private.session_context_key (key)
            VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
            """);
        Execute.Sql("COMMENT ON TABLE platform_private.session_context_key IS 'Secret that makes session context tokens unforgeable. A session that could read it could act as any user.';");

        Execute.Sql(Function("platform_private.context_signature"));
        Execute.Sql(Function("platform_private.write_context"));
        Execute.Sql(Function("platform_private.verified_context"));
        Execute.Sql("REVOKE EXECUTE ON FUNCTION platform_private.context_signature(text, text, text), platform_private.write_context(uuid, uuid, boolean), " +
                    "platform_private.verified_context() FROM PUBLIC;");
    }

    private void RestrictContextSetters()
    {
        var setters = string.Join(", ", ContextSetterSignatures);
        Execute.Sql($"REVOKE EXECUTE ON FUNCTION {setters} FROM PUBLIC;");

        // The database owner, not current_user: a superuser running the migration would otherwise be the only grantee.
        Execute.Sql($$"""
            DO $grant$
            DECLARE
              v_owner name;
            BEGIN
              SELECT pg_catalog.pg_get_userbyid(d.datdba) INTO STRICT v_owner
              FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();
              EXECUTE format('GRANT EXECUTE ON FUNCTION {{setters}} TO %I', v_owner);
            END
            $grant$;
            """);
    }

    /// <summary>Each function from its file, then each one's comment, in the order of <paramref name="signatures"/>.</summary>
    private void CreateFunctions(IReadOnlyList<string> signatures)
    {
        foreach (var signature in signatures)
        {
            Execute.Sql(Function(signature[..signature.IndexOf('(', StringComparison.Ordinal)]));
        }

        foreach (var signature in signatures)
        {
            Execute.Sql($"COMMENT ON FUNCTION {signature} IS {Platform.Literal(FunctionComments[signature])};");
        }
    }

    /// <summary>The comment on each session and policy helper, by signature.</summary>
    private static readonly Dictionary<string, string> FunctionComments = new(StringComparer.Ordinal)
    {
        ["platform.set_user_context(uuid, uuid)"] = "Sets the acting user (and optionally organization) for the current transaction only. Restricted to the database owner role; grant it to the application role that authenticates users.",
        ["platform.set_user_id(uuid)"] = "Changes the acting user for the current transaction, keeping the organization and ending any system identity.",
        ["platform.set_org_id(uuid)"] = "Changes the organization of the current transaction's context, keeping the acting user.",
        ["platform.clear_user_context()"] = "Removes user, organization and system identity from the current transaction's context.",
        ["platform.get_current_user_id()"] = "The acting user set by set_user_context in this transaction, or NULL when there is none or it was not set through the setters.",
        ["platform.get_current_org_id()"] = "The organization set by set_user_context in this transaction, or NULL.",
        ["platform.set_system_user()"] = "Acts as the platform itself for the current transaction: every org-isolating policy lets it through. For jobs and provisioning, never for user requests.",
        ["platform.is_system_user()"] = "True only when set_system_user was called in this transaction; false otherwise, never NULL.",
        ["platform.require_user_context()"] = "Fails fast when code that needs an acting user runs without one, instead of silently seeing no rows.",
        ["platform.require_org_context()"] = "Fails fast when code that needs an organization runs without one.",
        ["platform.get_session_context()"] = "The verified context of this transaction and the database roles, for diagnostics.",
        ["platform.log_context_change(text, uuid, uuid)"] = "Records a change of session context in the audit log; the system identity is stored as a NULL user with the details in metadata.",
        ["platform.test_session_helpers()"] = "Self-test of the session helpers; needs EXECUTE on the setters and leaves the context cleared.",
        ["platform.current_user_id()"] = "Acting user for RLS policies: the verified session context of this transaction, or NULL.",
        ["platform.current_org_id()"] = "Organization of the verified session context of this transaction, or NULL.",
        ["platform.user_is_org_member(uuid)"] = "Whether the acting user belongs to the organization. Runs as owner so policies work for roles without access to organization_members.",
        ["platform.user_has_org_role(uuid, text)"] = "Whether the acting user holds at least the given role in the organization (owner > admin > billing_admin > developer > member); false for an unknown role.",
        ["platform.test_rls_enforcement()"] = "Self-test of the org-isolating policies, meant to be run by a role that does not bypass RLS.",
    };

    private static List<PolicySpec> BuildPolicies()
    {
        static string Member(string org) => $"platform.user_is_org_member({org})";
        static string Role(string org, string role) => $"platform.user_has_org_role({org}, '{role}')";
        static string ViaProject(string table, Func<string, string> onOrg) =>
            $"EXISTS (SELECT 1 FROM platform.projects p WHERE p.id = {table}.project_id AND {onOrg("p.organization_id")})";

        var owner = (string org) => Role(org, "owner");
        var admin = (string org) => Role(org, "admin");
        var billing = (string org) => Role(org, "billing_admin");

        static PolicySpec Select(string table, string name, string condition) => new(table, name, "SELECT", condition, null);
        static PolicySpec Insert(string table, string name, string condition) => new(table, name, "INSERT", null, condition);
        static PolicySpec Update(string table, string name, string condition) => new(table, name, "UPDATE", condition, condition);
        static PolicySpec Delete(string table, string name, string condition) => new(table, name, "DELETE", condition, null);
        static PolicySpec All(string table, string name, string condition) => new(table, name, "ALL", condition, condition);

        List<PolicySpec> policies =
        [
            // The original 33, in its order.
            Select("organizations", "org_member_select", Member("id")),
            Update("organizations", "org_owner_update", owner("id")),
            Delete("organizations", "org_owner_delete", owner("id")),
            Insert("organizations", "org_authenticated_insert", $"{Me} IS NOT NULL"),
            Select("organization_members", "org_members_select", Member("organization_id")),
            Insert("organization_members", "org_admin_insert_members", admin("organization_id")),
            Update("organization_members", "org_admin_update_members", admin("organization_id")),
            Delete("organization_members", "org_member_delete", $"{owner("organization_id")} OR user_id = {Me}"),
            Select("projects", "project_org_member_select", Member("organization_id")),
            Insert("projects", "project_admin_insert", admin("organization_id")),
            Update("projects", "project_admin_update", admin("organization_id")),
            Delete("projects", "project_owner_delete", owner("organization_id")),
            Select("credentials", "credentials_admin_select", ViaProject("credentials", admin)),
            Insert("credentials", "credentials_owner_insert", ViaProject("credentials", owner)),
            Update("credentials", "credentials_owner_update", ViaProject("credentials", owner)),
            Delete("credentials", "credentials_owner_delete", ViaProject("credentials", owner)),
            Select("subscriptions", "subscription_billing_select", billing("organization_id")),
            Update("subscriptions", "subscription_billing_update", billing("organization_id")),
            Select("invoices", "invoice_billing_select", billing("organization_id")),
            All("payment_methods", "payment_method_billing_manage", billing("organization_id")),
            Select("usage_metrics", "usage_metrics_org_select", $"(organization_id IS NOT NULL AND {Member("organization_id")})"),
            Select("project_metrics", "project_metrics_org_select", ViaProject("project_metrics", Member)),
            Select("users", "users_self_select", $"id = {Me}"),
            Update("users", "users_self_update", $"id = {Me}"),
            All("user_sessions", "sessions_self_manage", $"user_id = {Me}"),
            Select("audit_logs", "audit_logs_org_admin_select", $"(organization_id IS NOT NULL AND {admin("organization_id")})"),
            // The original allowed any insert; an entry must at least be the acting user's own, in their own org and project.
            Insert("audit_logs", "audit_logs_system_insert",
                $"({Me} IS NOT NULL AND user_id = {Me} AND (organization_id IS NULL OR {Member("organization_id")}) " +
                $"AND (project_id IS NULL OR {ViaProject("audit_logs", Member)}))"),
            new("billing_plans", "billing_plans_public_read", "SELECT", "true", null),
            new("feature_flags", "feature_flags_public_read", "SELECT", "true", null),
            Select("project_addons", "project_addons_org_select", ViaProject("project_addons", Member)),
            All("project_addons", "project_addons_admin_manage", ViaProject("project_addons", admin)),
            Select("disk_config", "disk_config_org_member_select", ViaProject("disk_config", Member)),
            Select("compute_config", "compute_config_org_member_select", ViaProject("compute_config", Member)),

            // The eight tables the original left deny-all by accident, each modelled on its neighbours.
            // Invitations carry the acceptance token, so like membership changes they are for admins only.
            All("organization_invitations", "org_invitations_admin_manage", admin("organization_id")),
            Select("organization_feature_flags", "org_feature_flags_member_select", Member("organization_id")),
            All("organization_feature_flags", "org_feature_flags_admin_manage", admin("organization_id")),
            Select("project_members", "project_members_org_select", ViaProject("project_members", Member)),
            All("project_members", "project_members_admin_manage", ViaProject("project_members", admin)),
            All("tax_ids", "tax_ids_billing_manage", billing("organization_id")),
            All("customer_profiles", "customer_profiles_billing_manage", billing("organization_id")),
            // Credits are granted by the platform (system context); billing admins only read them, like invoices.
            Select("credits", "credits_billing_select", billing("organization_id")),
            Select("addons", "addons_org_select", ViaProject("addons", Member)),
            All("addons", "addons_admin_manage", ViaProject("addons", admin)),
            All("api_keys", "api_keys_owner_manage", $"(user_id = {Me} AND {Member("organization_id")})"),
            Select("api_keys", "api_keys_org_admin_select", admin("organization_id")),
        ];
        policies.AddRange(RlsTables.Select(table => All(table, SystemPolicyName, Sys)));
        return policies;
    }

    /// <summary>One function's CREATE statement, from <c>Migrations/M007/&lt;schema&gt;.&lt;name&gt;.sql</c>.</summary>
    private static string Function(string qualifiedName) => SqlResource.Read($"M007/{qualifiedName}.sql");
}
