namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// The tables 006 put under row level security with one allow-all policy each (<c>permissive_all_&lt;table&gt;</c>),
/// and whose allow-all policies 007 replaces. One list, so the two migrations cannot disagree about which they are.
/// </summary>
public static class PermissiveRls
{
    /// <summary>The 25 tables of 001–005, in the spec's order; platform.databases is not among them.</summary>
    public static readonly IReadOnlyList<string> Tables =
    [
        "organizations", "organization_members", "organization_invitations", "organization_feature_flags",
        "projects", "project_members", "project_addons", "project_metrics",
        "subscriptions", "invoices", "payment_methods", "tax_ids", "customer_profiles", "credits",
        "disk_config", "compute_config", "addons", "usage_metrics",
        "users", "user_sessions", "api_keys", "audit_logs", "feature_flags", "billing_plans", "credentials",
    ];
}
