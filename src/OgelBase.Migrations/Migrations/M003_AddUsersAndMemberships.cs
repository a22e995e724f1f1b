using FluentMigrator;
using FluentMigrator.Builders.Create.Table;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// docs/schema-facts.md §3: platform users and sessions, organization and project membership, the billing-plan catalogue,
/// project add-ons and metrics, invitations, API keys, the audit log and feature flags.
/// The trigger on user_sessions is kept as production has it (docs/schema-facts.md §12.22); migration 10 repairs it.
/// </summary>
[Migration(Version, "users, memberships, plans, add-ons, metrics, invitations, API keys, audit log, feature flags")]
[PresenceProbe(PresenceOf.Table, "platform.users")]
public sealed class M003_AddUsersAndMemberships : Migration, IRollbackOverrides
{
    private const long Version = 3;
    private const string S = Platform.Schema;

    /// <summary>
    /// Table comments as this migration leaves them. Migration 005 replaces three of them; its Down writes these
    /// texts back from its own copy, since no migration calls another's code.
    /// </summary>
    public static class TableComments
    {
        public const string Users = "Accounts that can sign in to Studio; auth may be delegated to GoTrue.";
        public const string UserSessions = "Sign-in sessions of platform users with their access and refresh tokens.";
        public const string OrganizationMembers = "Which users belong to which organization, and in what role.";
        public const string ProjectMembers = "Per-project access granted to users beyond their organization role.";
        public const string BillingPlans = "Catalogue of subscription plans offered to organizations.";
        public const string ProjectAddons = "Add-ons switched on for a project, with quantity and unit price.";
        public const string ProjectMetrics = "Time series of resource usage samples per project.";
        public const string OrganizationInvitations = "Pending and accepted invitations to join an organization.";
        public const string ApiKeys = "Organization API keys; only a hash and a display prefix are kept.";
        public const string AuditLogs = "Security and activity events across organizations, projects and users.";
        public const string FeatureFlags = "Global feature switches with an optional rollout percentage.";
        public const string OrganizationFeatureFlags = "Per-organization overrides of global feature switches.";
    }

    private static readonly string[] Tables =
    [
        "users", "user_sessions", "organization_members", "project_members", "billing_plans", "project_addons",
        "project_metrics", "organization_invitations", "api_keys", "audit_logs", "feature_flags", "organization_feature_flags",
    ];

    public IReadOnlyList<RemovedObject> RollbackOverrides { get; } =
        [new RemovedObject(RemovedKind.Table, S, "billing_plans", Note: "includes the 4 catalogue rows this migration seeds; the next up seeds them again")];

    public override void Up()
    {
        Execute.Sql(CreatedObjects.CreateExtensionIfAbsent("uuid-ossp", Version));
        // gen_random_uuid() and the symmetric-encryption helpers of migration 006 come from here.
        Execute.Sql(CreatedObjects.CreateExtensionIfAbsent("pgcrypto", Version));

        CreateUsers();
        CreateUserSessions();
        CreateOrganizationMembers();
        CreateProjectMembers();
        CreateBillingPlans();
        CreateProjectAddons();
        CreateProjectMetrics();
        CreateOrganizationInvitations();
        CreateApiKeys();
        CreateAuditLogs();
        CreateFeatureFlags();

        CreateTriggers();
        CreateFunctions();
        CommentOnTables();
    }

    public override void Down()
    {
        Execute.Sql("""
            DROP FUNCTION platform.get_active_feature_flags(uuid);
            DROP FUNCTION platform.has_project_access(uuid, uuid);
            DROP FUNCTION platform.is_organization_owner(uuid, uuid);
            """);

        foreach (var (trigger, table) in TriggerTargets.Reverse())
        {
            Execute.Sql($"DROP TRIGGER {trigger} ON platform.{table};");
        }

        foreach (var table in Tables.Reverse())
        {
            Delete.Table(table).InSchema(S);
        }

        Execute.Sql(CreatedObjects.DropExtensionIfCreated("pgcrypto", Version));
        Execute.Sql(CreatedObjects.DropExtensionIfCreated("uuid-ossp", Version));
    }

    private ICreateTableColumnOptionOrWithColumnSyntax NewTable(string table) =>
        Create.Table(table).InSchema(S)
            .WithColumn("id").AsGuid().NotNullable().PrimaryKey(table + "_pkey").WithDefaultValue(RawSql.Insert("uuid_generate_v4()"));

    private static readonly RawSql Now = RawSql.Insert("now()");

    private void CreateUsers()
    {
        NewTable("users")
            .WithColumn("email").AsCustom("text").NotNullable()
            .WithColumn("username").AsCustom("text").Nullable()
            .WithColumn("first_name").AsCustom("text").Nullable()
            .WithColumn("last_name").AsCustom("text").Nullable()
            .WithColumn("avatar_url").AsCustom("text").Nullable()
            .WithColumn("phone").AsCustom("text").Nullable()
            .WithColumn("password_hash").AsCustom("text").Nullable()
            .WithColumn("mfa_enabled").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("email_confirmed_at").AsCustom("timestamptz").Nullable()
            .WithColumn("banned_until").AsCustom("timestamptz").Nullable()
            .WithColumn("deleted_at").AsCustom("timestamptz").Nullable()
            .WithColumn("metadata").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'{}'::jsonb"))
            .WithColumn("last_sign_in_at").AsCustom("timestamptz").Nullable()
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("users_email_key", "users", "email");
        Create.PlatformUnique("users_username_key", "users", "username");
        Execute.PlatformCheck("users_email_format", "users", @"email ~ '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$'");
        Execute.PlatformCheck("users_username_format", "users", "username IS NULL OR username ~ '^[a-zA-Z0-9_-]{3,50}$'");
        Execute.PlatformCheck("users_phone_format", "users", @"phone IS NULL OR phone ~ '^\+?[1-9]\d{1,14}$'");

        Execute.Sql("""
            CREATE INDEX idx_users_email ON platform.users (email) WHERE deleted_at IS NULL;
            CREATE INDEX idx_users_username ON platform.users (username) WHERE deleted_at IS NULL;
            """);
        Create.PlatformIndex("idx_users_created_at", "users", "created_at");
        Execute.Sql("CREATE INDEX idx_users_last_sign_in ON platform.users (last_sign_in_at DESC);");
    }

    private void CreateUserSessions()
    {
        NewTable("user_sessions")
            .WithColumn("user_id").AsGuid().NotNullable()
                .ForeignKey("user_sessions_user_id_fkey", S, "users", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("token").AsCustom("text").NotNullable()
            .WithColumn("refresh_token").AsCustom("text").Nullable()
            .WithColumn("ip_address").AsCustom("inet").Nullable()
            .WithColumn("user_agent").AsCustom("text").Nullable()
            .WithColumn("expires_at").AsCustom("timestamptz").NotNullable()
            .WithColumn("last_activity_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("user_sessions_token_key", "user_sessions", "token");
        Create.PlatformUnique("user_sessions_refresh_token_key", "user_sessions", "refresh_token");
        Execute.PlatformCheck("sessions_expires_valid", "user_sessions", "expires_at > created_at");

        Create.PlatformIndex("idx_user_sessions_user", "user_sessions", "user_id");
        Create.PlatformIndex("idx_user_sessions_token", "user_sessions", "token", "expires_at");
        Create.PlatformIndex("idx_user_sessions_expires", "user_sessions", "expires_at");
        Execute.Sql("CREATE INDEX idx_user_sessions_activity ON platform.user_sessions (last_activity_at DESC);");
    }

    private void CreateOrganizationMembers()
    {
        NewTable("organization_members")
            .WithColumn("organization_id").AsGuid().NotNullable()
                .ForeignKey("organization_members_organization_id_fkey", S, "organizations", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("user_id").AsGuid().NotNullable()
                .ForeignKey("organization_members_user_id_fkey", S, "users", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("role").AsCustom("text").NotNullable()
            .WithColumn("invited_at").AsCustom("timestamptz").Nullable()
            .WithColumn("invited_by").AsGuid().Nullable()
                .ForeignKey("organization_members_invited_by_fkey", S, "users", "id").OnDelete(System.Data.Rule.SetNull)
            .WithColumn("joined_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("organization_members_organization_id_user_id_key", "organization_members", "organization_id", "user_id");
        Execute.PlatformCheck("organization_members_role_check", "organization_members",
            "role = ANY (ARRAY['owner'::text, 'admin'::text, 'developer'::text, 'billing_admin'::text, 'member'::text])");

        // Production's copy of this table predates the invitation columns and was patched in place. The table
        // created just above always has them, so the guard finds nothing to do; it stays so that the Up reads
        // the same against a database whose table was created by hand from the old shape.
        Execute.Sql("""
            DO $patch$
            BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.organization_members'::regclass AND attname = 'invited_at' AND NOT attisdropped) THEN
                ALTER TABLE platform.organization_members ADD COLUMN invited_at timestamptz;
              END IF;
              IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.organization_members'::regclass AND attname = 'invited_by' AND NOT attisdropped) THEN
                ALTER TABLE platform.organization_members ADD COLUMN invited_by uuid
                  CONSTRAINT organization_members_invited_by_fkey REFERENCES platform.users (id) ON DELETE SET NULL;
              END IF;
              IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.organization_members'::regclass AND attname = 'joined_at' AND NOT attisdropped) THEN
                ALTER TABLE platform.organization_members ADD COLUMN joined_at timestamptz DEFAULT now();
              END IF;
            END
            $patch$;
            """);

        Create.PlatformIndex("idx_organization_members_org", "organization_members", "organization_id");
        Create.PlatformIndex("idx_organization_members_user", "organization_members", "user_id");
        Create.PlatformIndex("idx_organization_members_role", "organization_members", "role");
        Execute.Sql("CREATE INDEX idx_organization_members_invited ON platform.organization_members (invited_at) WHERE joined_at IS NULL;");
    }

    private void CreateProjectMembers()
    {
        NewTable("project_members")
            .WithColumn("project_id").AsGuid().NotNullable()
                .ForeignKey("project_members_project_id_fkey", S, "projects", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("user_id").AsGuid().NotNullable()
                .ForeignKey("project_members_user_id_fkey", S, "users", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("role").AsCustom("text").NotNullable()
            .WithColumn("added_by").AsGuid().Nullable()
                .ForeignKey("project_members_added_by_fkey", S, "users", "id").OnDelete(System.Data.Rule.SetNull)
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("project_members_project_id_user_id_key", "project_members", "project_id", "user_id");
        Execute.PlatformCheck("project_members_role_check", "project_members",
            "role = ANY (ARRAY['owner'::text, 'admin'::text, 'developer'::text, 'read_only'::text])");

        Create.PlatformIndex("idx_project_members_project", "project_members", "project_id");
        Create.PlatformIndex("idx_project_members_user", "project_members", "user_id");
        Create.PlatformIndex("idx_project_members_role", "project_members", "role");
    }

    private void CreateBillingPlans()
    {
        Create.Table("billing_plans").InSchema(S)
            .WithColumn("id").AsCustom("text").NotNullable().PrimaryKey("billing_plans_pkey")
            .WithColumn("name").AsCustom("text").NotNullable()
            .WithColumn("description").AsCustom("text").Nullable()
            .WithColumn("price").AsDecimal(10, 2).NotNullable()
            .WithColumn("interval").AsCustom("text").NotNullable()
            .WithColumn("features").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'[]'::jsonb"))
            .WithColumn("limits").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'{}'::jsonb"))
            .WithColumn("max_projects").AsInt32().Nullable()
            .WithColumn("max_members").AsInt32().Nullable()
            .WithColumn("active").AsBoolean().Nullable().WithDefaultValue(true)
            .WithColumn("sort_order").AsInt32().Nullable().WithDefaultValue(0)
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Execute.PlatformCheck("billing_plans_price_valid", "billing_plans", "price >= 0::numeric");
        Execute.PlatformCheck("billing_plans_interval_check", "billing_plans", "\"interval\" = ANY (ARRAY['month'::text, 'year'::text])");
        Create.PlatformIndex("idx_billing_plans_active", "billing_plans", "active", "sort_order");

        // Catalogue rows, not tenant data: an operator's later edits to a plan survive a re-run.
        Execute.Sql("""
            INSERT INTO platform.billing_plans (id, name, description, price, "interval", features, limits, max_projects, max_members, sort_order)
            VALUES
              ('tier_free', 'Free', 'For trying things out and side projects.', 0.00, 'month',
               '["500MB database", "2GB bandwidth", "1GB file storage", "50MB file uploads"]',
               '{"max_projects": 2, "max_members": 5, "disk_gb": 0.5, "bandwidth_gb": 2, "storage_gb": 1}', 2, 5, 1),
              ('tier_pro', 'Pro', 'For production apps that need room to grow.', 25.00, 'month',
               '["8GB database", "250GB bandwidth", "100GB file storage", "5GB file uploads"]',
               '{"max_projects": 10, "max_members": 25, "disk_gb": 8, "bandwidth_gb": 250, "storage_gb": 100}', 10, 25, 2),
              ('tier_team', 'Team', 'For teams running several production workloads.', 599.00, 'month',
               '["Unlimited database", "Unlimited bandwidth", "Unlimited file storage", "Priority support"]',
               '{"max_projects": -1, "max_members": 100, "disk_gb": -1, "bandwidth_gb": -1, "storage_gb": -1}', -1, 100, 3),
              ('tier_enterprise', 'Enterprise', 'Custom limits, support and terms.', 0.00, 'month',
               '["Custom database", "Custom bandwidth", "Custom file storage", "24/7 priority support", "SLA guarantees"]',
               '{"max_projects": -1, "max_members": -1, "disk_gb": -1, "bandwidth_gb": -1, "storage_gb": -1}', -1, -1, 4)
            ON CONFLICT (id) DO NOTHING;
            """);
    }

    private void CreateProjectAddons()
    {
        NewTable("project_addons")
            .WithColumn("project_id").AsGuid().NotNullable()
                .ForeignKey("project_addons_project_id_fkey", S, "projects", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("addon_id").AsCustom("text").NotNullable()
            .WithColumn("addon_variant").AsCustom("text").Nullable()
            .WithColumn("quantity").AsInt32().Nullable().WithDefaultValue(1)
            .WithColumn("price_per_unit").AsDecimal(10, 2).Nullable()
            .WithColumn("status").AsCustom("text").Nullable().WithDefaultValue("active")
            .WithColumn("activated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("deactivated_at").AsCustom("timestamptz").Nullable()
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("project_addons_project_id_addon_id_key", "project_addons", "project_id", "addon_id");
        // Production carries the same rule twice (docs/schema-facts.md §12.37); both names exist there, so both exist here.
        Execute.PlatformCheck("project_addons_quantity_check", "project_addons", "quantity > 0");
        Execute.PlatformCheck("project_addons_status_check", "project_addons",
            "status = ANY (ARRAY['active'::text, 'inactive'::text, 'pending'::text, 'cancelled'::text])");
        Execute.PlatformCheck("project_addons_quantity_valid", "project_addons", "quantity > 0");

        Create.PlatformIndex("idx_project_addons_project", "project_addons", "project_id");
        Create.PlatformIndex("idx_project_addons_status", "project_addons", "status");
        Create.PlatformIndex("idx_project_addons_addon_id", "project_addons", "addon_id");
        Execute.Sql("CREATE INDEX idx_project_addons_active ON platform.project_addons (project_id, status) WHERE status = 'active';");
    }

    private void CreateProjectMetrics()
    {
        NewTable("project_metrics")
            .WithColumn("project_id").AsGuid().NotNullable()
                .ForeignKey("project_metrics_project_id_fkey", S, "projects", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("timestamp").AsCustom("timestamptz").NotNullable().WithDefaultValue(Now)
            .WithColumn("cpu_usage").AsDecimal(5, 2).Nullable()
            .WithColumn("memory_usage").AsDecimal(5, 2).Nullable()
            .WithColumn("disk_io_budget").AsDecimal(10, 2).Nullable()
            .WithColumn("disk_usage_gb").AsDecimal(10, 2).Nullable()
            .WithColumn("network_in_bytes").AsInt64().Nullable()
            .WithColumn("network_out_bytes").AsInt64().Nullable()
            .WithColumn("active_connections").AsInt32().Nullable()
            .WithColumn("query_count").AsInt32().Nullable()
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Execute.PlatformCheck("project_metrics_cpu_usage_check", "project_metrics", "cpu_usage >= 0::numeric AND cpu_usage <= 100::numeric");
        Execute.PlatformCheck("project_metrics_memory_usage_check", "project_metrics", "memory_usage >= 0::numeric AND memory_usage <= 100::numeric");
        Execute.PlatformCheck("project_metrics_disk_usage_gb_check", "project_metrics", "disk_usage_gb >= 0::numeric");
        Execute.PlatformCheck("project_metrics_network_in_bytes_check", "project_metrics", "network_in_bytes >= 0");
        Execute.PlatformCheck("project_metrics_network_out_bytes_check", "project_metrics", "network_out_bytes >= 0");
        Execute.PlatformCheck("project_metrics_active_connections_check", "project_metrics", "active_connections >= 0");
        Execute.PlatformCheck("project_metrics_query_count_check", "project_metrics", "query_count >= 0");

        Execute.Sql("""
            CREATE INDEX idx_project_metrics_project_timestamp ON platform.project_metrics (project_id, "timestamp" DESC);
            CREATE INDEX idx_project_metrics_timestamp ON platform.project_metrics ("timestamp" DESC);
            """);
    }

    private void CreateOrganizationInvitations()
    {
        NewTable("organization_invitations")
            .WithColumn("organization_id").AsGuid().NotNullable()
                .ForeignKey("organization_invitations_organization_id_fkey", S, "organizations", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("invited_email").AsCustom("text").NotNullable()
            .WithColumn("invited_by").AsGuid().NotNullable()
                .ForeignKey("organization_invitations_invited_by_fkey", S, "users", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("role").AsCustom("text").NotNullable()
            .WithColumn("token").AsCustom("text").NotNullable()
            .WithColumn("expires_at").AsCustom("timestamptz").NotNullable()
            .WithColumn("accepted_at").AsCustom("timestamptz").Nullable()
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("organization_invitations_token_key", "organization_invitations", "token");
        Execute.PlatformCheck("organization_invitations_role_check", "organization_invitations",
            "role = ANY (ARRAY['owner'::text, 'admin'::text, 'developer'::text, 'billing_admin'::text, 'member'::text])");
        Execute.PlatformCheck("invitations_email_format", "organization_invitations", @"invited_email ~ '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$'");
        Execute.PlatformCheck("invitations_expires_valid", "organization_invitations", "expires_at > created_at");

        Create.PlatformIndex("idx_org_invitations_org", "organization_invitations", "organization_id");
        Execute.Sql("CREATE INDEX idx_org_invitations_token ON platform.organization_invitations (token) WHERE accepted_at IS NULL;");
        Create.PlatformIndex("idx_org_invitations_email", "organization_invitations", "invited_email");
        Execute.Sql("CREATE INDEX idx_org_invitations_pending ON platform.organization_invitations (organization_id, expires_at) WHERE accepted_at IS NULL;");
    }

    private void CreateApiKeys()
    {
        NewTable("api_keys")
            .WithColumn("organization_id").AsGuid().NotNullable()
                .ForeignKey("api_keys_organization_id_fkey", S, "organizations", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("user_id").AsGuid().NotNullable()
                .ForeignKey("api_keys_user_id_fkey", S, "users", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("name").AsCustom("text").NotNullable()
            .WithColumn("key_prefix").AsCustom("text").NotNullable()
            .WithColumn("key_hash").AsCustom("text").NotNullable()
            .WithColumn("scopes").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'[]'::jsonb"))
            .WithColumn("last_used_at").AsCustom("timestamptz").Nullable()
            .WithColumn("expires_at").AsCustom("timestamptz").Nullable()
            .WithColumn("revoked_at").AsCustom("timestamptz").Nullable()
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("api_keys_key_hash_key", "api_keys", "key_hash");
        Execute.PlatformCheck("api_keys_name_not_empty", "api_keys", "length(TRIM(BOTH FROM name)) > 0");

        Execute.Sql("""
            CREATE INDEX idx_api_keys_org ON platform.api_keys (organization_id) WHERE revoked_at IS NULL;
            CREATE INDEX idx_api_keys_user ON platform.api_keys (user_id) WHERE revoked_at IS NULL;
            CREATE INDEX idx_api_keys_hash ON platform.api_keys (key_hash, expires_at) WHERE revoked_at IS NULL;
            CREATE INDEX idx_api_keys_expires ON platform.api_keys (expires_at) WHERE revoked_at IS NULL;
            """);
    }

    private void CreateAuditLogs()
    {
        NewTable("audit_logs")
            .WithColumn("organization_id").AsGuid().Nullable()
                .ForeignKey("audit_logs_organization_id_fkey", S, "organizations", "id").OnDelete(System.Data.Rule.SetNull)
            .WithColumn("project_id").AsGuid().Nullable()
                .ForeignKey("audit_logs_project_id_fkey", S, "projects", "id").OnDelete(System.Data.Rule.SetNull)
            .WithColumn("user_id").AsGuid().Nullable()
                .ForeignKey("audit_logs_user_id_fkey", S, "users", "id").OnDelete(System.Data.Rule.SetNull)
            .WithColumn("event_type").AsCustom("text").NotNullable()
            .WithColumn("resource_type").AsCustom("text").Nullable()
            .WithColumn("resource_id").AsGuid().Nullable()
            .WithColumn("action").AsCustom("text").NotNullable()
            .WithColumn("ip_address").AsCustom("inet").Nullable()
            .WithColumn("user_agent").AsCustom("text").Nullable()
            .WithColumn("metadata").AsCustom("jsonb").Nullable().WithDefaultValue(RawSql.Insert("'{}'::jsonb"))
            .WithColumn("severity").AsCustom("text").Nullable().WithDefaultValue("info")
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Execute.PlatformCheck("audit_logs_severity_check", "audit_logs",
            "severity = ANY (ARRAY['info'::text, 'warning'::text, 'error'::text, 'critical'::text])");
        Execute.PlatformCheck("audit_logs_event_type_format", "audit_logs", @"event_type ~ '^[a-z_]+\.[a-z_]+$'");

        Execute.Sql("""
            CREATE INDEX idx_audit_logs_org_created ON platform.audit_logs (organization_id, created_at DESC);
            CREATE INDEX idx_audit_logs_project_created ON platform.audit_logs (project_id, created_at DESC);
            CREATE INDEX idx_audit_logs_user_created ON platform.audit_logs (user_id, created_at DESC);
            CREATE INDEX idx_audit_logs_event_type ON platform.audit_logs (event_type, created_at DESC);
            CREATE INDEX idx_audit_logs_severity ON platform.audit_logs (severity, created_at DESC) WHERE severity = ANY (ARRAY['error'::text, 'critical'::text]);
            CREATE INDEX idx_audit_logs_created ON platform.audit_logs (created_at DESC);
            """);
    }

    private void CreateFeatureFlags()
    {
        NewTable("feature_flags")
            .WithColumn("flag_key").AsCustom("text").NotNullable()
            .WithColumn("flag_name").AsCustom("text").NotNullable()
            .WithColumn("description").AsCustom("text").Nullable()
            .WithColumn("enabled").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("rollout_percentage").AsInt32().Nullable().WithDefaultValue(0)
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("feature_flags_flag_key_key", "feature_flags", "flag_key");
        Execute.PlatformCheck("feature_flags_rollout_percentage_check", "feature_flags", "rollout_percentage >= 0 AND rollout_percentage <= 100");
        Execute.PlatformCheck("feature_flags_key_format", "feature_flags", "flag_key ~ '^[a-z0-9_]+$'");
        Create.PlatformIndex("idx_feature_flags_key", "feature_flags", "flag_key");
        Create.PlatformIndex("idx_feature_flags_enabled", "feature_flags", "enabled");

        NewTable("organization_feature_flags")
            .WithColumn("organization_id").AsGuid().NotNullable()
                .ForeignKey("organization_feature_flags_organization_id_fkey", S, "organizations", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("flag_id").AsGuid().NotNullable()
                .ForeignKey("organization_feature_flags_flag_id_fkey", S, "feature_flags", "id").OnDelete(System.Data.Rule.Cascade)
            .WithColumn("enabled").AsBoolean().NotNullable()
            .WithColumn("created_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now)
            .WithColumn("updated_at").AsCustom("timestamptz").Nullable().WithDefaultValue(Now);

        Create.PlatformUnique("organization_feature_flags_organization_id_flag_id_key", "organization_feature_flags", "organization_id", "flag_id");
        Create.PlatformIndex("idx_org_feature_flags_org", "organization_feature_flags", "organization_id");
        Create.PlatformIndex("idx_org_feature_flags_flag", "organization_feature_flags", "flag_id");
    }

    /// <summary>Trigger name and table, in creation order; Down drops them in reverse.</summary>
    private static readonly (string Trigger, string Table)[] TriggerTargets =
    [
        ("update_users_updated_at", "users"),
        // Kept as production built it although user_sessions has no updated_at: every UPDATE of a session
        // fails with 42703 (docs/schema-facts.md §12.22). Repairing it is migration 10's job, so 003 stays as applied.
        ("update_user_sessions_activity", "user_sessions"),
        ("update_organization_members_updated_at", "organization_members"),
        ("update_project_members_updated_at", "project_members"),
        ("update_billing_plans_updated_at", "billing_plans"),
        ("update_project_addons_updated_at", "project_addons"),
        ("update_feature_flags_updated_at", "feature_flags"),
        ("update_org_feature_flags_updated_at", "organization_feature_flags"),
    ];

    private void CreateTriggers()
    {
        foreach (var (trigger, table) in TriggerTargets)
        {
            Execute.Sql($"CREATE TRIGGER {trigger} BEFORE UPDATE ON platform.{table} FOR EACH ROW EXECUTE FUNCTION platform.update_updated_at_column();");
        }
    }

    private void CreateFunctions()
    {
        Execute.Sql("""
            CREATE FUNCTION platform.is_organization_owner(p_user_id uuid, p_organization_id uuid)
            RETURNS boolean
            LANGUAGE plpgsql
            STABLE
            AS $fn$
            BEGIN
              RETURN EXISTS (
                SELECT 1
                FROM platform.organization_members m
                WHERE m.organization_id = p_organization_id
                  AND m.user_id = p_user_id
                  AND m.role = 'owner'
              );
            END;
            $fn$;

            COMMENT ON FUNCTION platform.is_organization_owner(uuid, uuid) IS
              'True when the user holds the owner role in the organization.';
            """);

        Execute.Sql("""
            CREATE FUNCTION platform.has_project_access(p_user_id uuid, p_project_id uuid)
            RETURNS boolean
            LANGUAGE plpgsql
            STABLE
            AS $fn$
            BEGIN
              RETURN EXISTS (
                SELECT 1
                FROM platform.project_members pm
                WHERE pm.project_id = p_project_id
                  AND pm.user_id = p_user_id
              )
              OR EXISTS (
                SELECT 1
                FROM platform.projects p
                JOIN platform.organization_members m ON m.organization_id = p.organization_id
                WHERE p.id = p_project_id
                  AND m.user_id = p_user_id
                  AND m.role IN ('owner', 'admin')
              );
            END;
            $fn$;

            COMMENT ON FUNCTION platform.has_project_access(uuid, uuid) IS
              'True when the user is a project member, or an owner or admin of the organization that owns the project.';
            """);

        // Output columns of RETURNS TABLE are variables inside the body, so every column reference is qualified.
        Execute.Sql("""
            CREATE FUNCTION platform.get_active_feature_flags(p_organization_id uuid)
            RETURNS TABLE (flag_key text, flag_name text, enabled boolean)
            LANGUAGE plpgsql
            STABLE
            AS $fn$
            BEGIN
              RETURN QUERY
              SELECT f.flag_key, f.flag_name, COALESCE(o.enabled, f.enabled)
              FROM platform.feature_flags f
              LEFT JOIN platform.organization_feature_flags o
                ON o.flag_id = f.id
               AND o.organization_id = p_organization_id
              ORDER BY f.flag_key;
            END;
            $fn$;

            COMMENT ON FUNCTION platform.get_active_feature_flags(uuid) IS
              'Every global feature flag with its effective state for one organization: the override when present, else the global value.';
            """);
    }

    private void CommentOnTables()
    {
        (string Table, string Comment)[] comments =
        [
            ("users", TableComments.Users),
            ("user_sessions", TableComments.UserSessions),
            ("organization_members", TableComments.OrganizationMembers),
            ("project_members", TableComments.ProjectMembers),
            ("billing_plans", TableComments.BillingPlans),
            ("project_addons", TableComments.ProjectAddons),
            ("project_metrics", TableComments.ProjectMetrics),
            ("organization_invitations", TableComments.OrganizationInvitations),
            ("api_keys", TableComments.ApiKeys),
            ("audit_logs", TableComments.AuditLogs),
            ("feature_flags", TableComments.FeatureFlags),
            ("organization_feature_flags", TableComments.OrganizationFeatureFlags),
        ];
        foreach (var (table, comment) in comments)
        {
            Execute.Sql($"COMMENT ON TABLE platform.{table} IS {Platform.Literal(comment)};");
        }
    }
}
