using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Migrations;
using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Schema;

public sealed class M003_AddUsersAndMembershipsTests
{
    private static readonly PlatformCounts After003 = new(25, 5, 12, 20, 123, 0, 0, 68, 31);

    internal static readonly string[] Tables =
    [
        "users", "user_sessions", "organization_members", "project_members", "billing_plans", "project_addons",
        "project_metrics", "organization_invitations", "api_keys", "audit_logs", "feature_flags", "organization_feature_flags",
    ];

    private const string Id = "id uuid NN = uuid_generate_v4()";
    private const string CreatedAt = "created_at timestamp with time zone = now()";
    private const string UpdatedAt = "updated_at timestamp with time zone = now()";

    // docs/schema-facts.md §3.1–3.11, in column order: "name type [NN] [= default]".
    private static readonly Dictionary<string, string[]> ExpectedColumns = new()
    {
        ["users"] =
        [
            Id, "email text NN", "username text", "first_name text", "last_name text", "avatar_url text", "phone text",
            "password_hash text", "mfa_enabled boolean = false", "email_confirmed_at timestamp with time zone",
            "banned_until timestamp with time zone", "deleted_at timestamp with time zone", "metadata jsonb = '{}'::jsonb",
            "last_sign_in_at timestamp with time zone", CreatedAt, UpdatedAt,
        ],
        ["user_sessions"] =
        [
            Id, "user_id uuid NN", "token text NN", "refresh_token text", "ip_address inet", "user_agent text",
            "expires_at timestamp with time zone NN", "last_activity_at timestamp with time zone = now()", CreatedAt,
        ],
        ["organization_members"] =
        [
            Id, "organization_id uuid NN", "user_id uuid NN", "role text NN", "invited_at timestamp with time zone", "invited_by uuid",
            "joined_at timestamp with time zone = now()", CreatedAt, UpdatedAt,
        ],
        ["project_members"] = [Id, "project_id uuid NN", "user_id uuid NN", "role text NN", "added_by uuid", CreatedAt, UpdatedAt],
        ["billing_plans"] =
        [
            "id text NN", "name text NN", "description text", "price numeric(10,2) NN", "interval text NN", "features jsonb = '[]'::jsonb",
            "limits jsonb = '{}'::jsonb", "max_projects integer", "max_members integer", "active boolean = true", "sort_order integer = 0",
            CreatedAt, UpdatedAt,
        ],
        ["project_addons"] =
        [
            Id, "project_id uuid NN", "addon_id text NN", "addon_variant text", "quantity integer = 1", "price_per_unit numeric(10,2)",
            "status text = 'active'::text", "activated_at timestamp with time zone = now()", "deactivated_at timestamp with time zone",
            CreatedAt, UpdatedAt,
        ],
        ["project_metrics"] =
        [
            Id, "project_id uuid NN", "timestamp timestamp with time zone NN = now()", "cpu_usage numeric(5,2)", "memory_usage numeric(5,2)",
            "disk_io_budget numeric(10,2)", "disk_usage_gb numeric(10,2)", "network_in_bytes bigint", "network_out_bytes bigint",
            "active_connections integer", "query_count integer", CreatedAt,
        ],
        ["organization_invitations"] =
        [
            Id, "organization_id uuid NN", "invited_email text NN", "invited_by uuid NN", "role text NN", "token text NN",
            "expires_at timestamp with time zone NN", "accepted_at timestamp with time zone", CreatedAt,
        ],
        ["api_keys"] =
        [
            Id, "organization_id uuid NN", "user_id uuid NN", "name text NN", "key_prefix text NN", "key_hash text NN",
            "scopes jsonb = '[]'::jsonb", "last_used_at timestamp with time zone", "expires_at timestamp with time zone",
            "revoked_at timestamp with time zone", CreatedAt,
        ],
        ["audit_logs"] =
        [
            Id, "organization_id uuid", "project_id uuid", "user_id uuid", "event_type text NN", "resource_type text", "resource_id uuid",
            "action text NN", "ip_address inet", "user_agent text", "metadata jsonb = '{}'::jsonb", "severity text = 'info'::text", CreatedAt,
        ],
        ["feature_flags"] =
        [
            Id, "flag_key text NN", "flag_name text NN", "description text", "enabled boolean = false", "rollout_percentage integer = 0",
            CreatedAt, UpdatedAt,
        ],
        ["organization_feature_flags"] = [Id, "organization_id uuid NN", "flag_id uuid NN", "enabled boolean NN", CreatedAt, UpdatedAt],
    };

    private static string Fk(string column, string target, string onDelete) =>
        $"FOREIGN KEY ({column}) REFERENCES platform.{target}(id) ON DELETE {onDelete}";

    private const string OrgRoles = "'owner'::text, 'admin'::text, 'developer'::text, 'billing_admin'::text, 'member'::text";
    private const string EmailRegex = @"'^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$'::text";

    private static readonly Dictionary<string, Dictionary<string, string>> ExpectedConstraints = new()
    {
        ["users"] = new()
        {
            ["users_pkey"] = "PRIMARY KEY (id)",
            ["users_email_key"] = "UNIQUE (email)",
            ["users_username_key"] = "UNIQUE (username)",
            ["users_email_format"] = $"CHECK ((email ~ {EmailRegex}))",
            ["users_username_format"] = "CHECK (((username IS NULL) OR (username ~ '^[a-zA-Z0-9_-]{3,50}$'::text)))",
            ["users_phone_format"] = @"CHECK (((phone IS NULL) OR (phone ~ '^\+?[1-9]\d{1,14}$'::text)))",
        },
        ["user_sessions"] = new()
        {
            ["user_sessions_pkey"] = "PRIMARY KEY (id)",
            ["user_sessions_user_id_fkey"] = Fk("user_id", "users", "CASCADE"),
            ["user_sessions_token_key"] = "UNIQUE (token)",
            ["user_sessions_refresh_token_key"] = "UNIQUE (refresh_token)",
            ["sessions_expires_valid"] = "CHECK ((expires_at > created_at))",
        },
        ["organization_members"] = new()
        {
            ["organization_members_pkey"] = "PRIMARY KEY (id)",
            ["organization_members_organization_id_fkey"] = Fk("organization_id", "organizations", "CASCADE"),
            ["organization_members_user_id_fkey"] = Fk("user_id", "users", "CASCADE"),
            ["organization_members_invited_by_fkey"] = Fk("invited_by", "users", "SET NULL"),
            ["organization_members_organization_id_user_id_key"] = "UNIQUE (organization_id, user_id)",
            ["organization_members_role_check"] = $"CHECK ((role = ANY (ARRAY[{OrgRoles}])))",
        },
        ["project_members"] = new()
        {
            ["project_members_pkey"] = "PRIMARY KEY (id)",
            ["project_members_project_id_fkey"] = Fk("project_id", "projects", "CASCADE"),
            ["project_members_user_id_fkey"] = Fk("user_id", "users", "CASCADE"),
            ["project_members_added_by_fkey"] = Fk("added_by", "users", "SET NULL"),
            ["project_members_project_id_user_id_key"] = "UNIQUE (project_id, user_id)",
            ["project_members_role_check"] = "CHECK ((role = ANY (ARRAY['owner'::text, 'admin'::text, 'developer'::text, 'read_only'::text])))",
        },
        ["billing_plans"] = new()
        {
            ["billing_plans_pkey"] = "PRIMARY KEY (id)",
            ["billing_plans_price_valid"] = "CHECK ((price >= (0)::numeric))",
            ["billing_plans_interval_check"] = "CHECK ((\"interval\" = ANY (ARRAY['month'::text, 'year'::text])))",
        },
        ["project_addons"] = new()
        {
            ["project_addons_pkey"] = "PRIMARY KEY (id)",
            ["project_addons_project_id_fkey"] = Fk("project_id", "projects", "CASCADE"),
            ["project_addons_project_id_addon_id_key"] = "UNIQUE (project_id, addon_id)",
            ["project_addons_quantity_check"] = "CHECK ((quantity > 0))",
            ["project_addons_quantity_valid"] = "CHECK ((quantity > 0))",
            ["project_addons_status_check"] = "CHECK ((status = ANY (ARRAY['active'::text, 'inactive'::text, 'pending'::text, 'cancelled'::text])))",
        },
        ["project_metrics"] = new()
        {
            ["project_metrics_pkey"] = "PRIMARY KEY (id)",
            ["project_metrics_project_id_fkey"] = Fk("project_id", "projects", "CASCADE"),
            ["project_metrics_cpu_usage_check"] = "CHECK (((cpu_usage >= (0)::numeric) AND (cpu_usage <= (100)::numeric)))",
            ["project_metrics_memory_usage_check"] = "CHECK (((memory_usage >= (0)::numeric) AND (memory_usage <= (100)::numeric)))",
            ["project_metrics_disk_usage_gb_check"] = "CHECK ((disk_usage_gb >= (0)::numeric))",
            ["project_metrics_network_in_bytes_check"] = "CHECK ((network_in_bytes >= 0))",
            ["project_metrics_network_out_bytes_check"] = "CHECK ((network_out_bytes >= 0))",
            ["project_metrics_active_connections_check"] = "CHECK ((active_connections >= 0))",
            ["project_metrics_query_count_check"] = "CHECK ((query_count >= 0))",
        },
        ["organization_invitations"] = new()
        {
            ["organization_invitations_pkey"] = "PRIMARY KEY (id)",
            ["organization_invitations_organization_id_fkey"] = Fk("organization_id", "organizations", "CASCADE"),
            ["organization_invitations_invited_by_fkey"] = Fk("invited_by", "users", "CASCADE"),
            ["organization_invitations_token_key"] = "UNIQUE (token)",
            ["organization_invitations_role_check"] = $"CHECK ((role = ANY (ARRAY[{OrgRoles}])))",
            ["invitations_email_format"] = $"CHECK ((invited_email ~ {EmailRegex}))",
            ["invitations_expires_valid"] = "CHECK ((expires_at > created_at))",
        },
        ["api_keys"] = new()
        {
            ["api_keys_pkey"] = "PRIMARY KEY (id)",
            ["api_keys_organization_id_fkey"] = Fk("organization_id", "organizations", "CASCADE"),
            ["api_keys_user_id_fkey"] = Fk("user_id", "users", "CASCADE"),
            ["api_keys_key_hash_key"] = "UNIQUE (key_hash)",
            ["api_keys_name_not_empty"] = "CHECK ((length(TRIM(BOTH FROM name)) > 0))",
        },
        ["audit_logs"] = new()
        {
            ["audit_logs_pkey"] = "PRIMARY KEY (id)",
            ["audit_logs_organization_id_fkey"] = Fk("organization_id", "organizations", "SET NULL"),
            ["audit_logs_project_id_fkey"] = Fk("project_id", "projects", "SET NULL"),
            ["audit_logs_user_id_fkey"] = Fk("user_id", "users", "SET NULL"),
            ["audit_logs_event_type_format"] = @"CHECK ((event_type ~ '^[a-z_]+\.[a-z_]+$'::text))",
            ["audit_logs_severity_check"] = "CHECK ((severity = ANY (ARRAY['info'::text, 'warning'::text, 'error'::text, 'critical'::text])))",
        },
        ["feature_flags"] = new()
        {
            ["feature_flags_pkey"] = "PRIMARY KEY (id)",
            ["feature_flags_flag_key_key"] = "UNIQUE (flag_key)",
            ["feature_flags_key_format"] = "CHECK ((flag_key ~ '^[a-z0-9_]+$'::text))",
            ["feature_flags_rollout_percentage_check"] = "CHECK (((rollout_percentage >= 0) AND (rollout_percentage <= 100)))",
        },
        ["organization_feature_flags"] = new()
        {
            ["organization_feature_flags_pkey"] = "PRIMARY KEY (id)",
            ["organization_feature_flags_organization_id_fkey"] = Fk("organization_id", "organizations", "CASCADE"),
            ["organization_feature_flags_flag_id_fkey"] = Fk("flag_id", "feature_flags", "CASCADE"),
            ["organization_feature_flags_organization_id_flag_id_key"] = "UNIQUE (organization_id, flag_id)",
        },
    };

    // Index name -> "[UNIQUE ]table (columns)[ WHERE predicate]", the parts of pg_get_indexdef that carry meaning.
    private static readonly Dictionary<string, string> ExpectedIndexes = new()
    {
        ["users_pkey"] = "UNIQUE users (id)",
        ["users_email_key"] = "UNIQUE users (email)",
        ["users_username_key"] = "UNIQUE users (username)",
        ["idx_users_email"] = "users (email) WHERE (deleted_at IS NULL)",
        ["idx_users_username"] = "users (username) WHERE (deleted_at IS NULL)",
        ["idx_users_created_at"] = "users (created_at)",
        ["idx_users_last_sign_in"] = "users (last_sign_in_at DESC)",

        ["user_sessions_pkey"] = "UNIQUE user_sessions (id)",
        ["user_sessions_token_key"] = "UNIQUE user_sessions (token)",
        ["user_sessions_refresh_token_key"] = "UNIQUE user_sessions (refresh_token)",
        ["idx_user_sessions_user"] = "user_sessions (user_id)",
        ["idx_user_sessions_token"] = "user_sessions (token, expires_at)",
        ["idx_user_sessions_expires"] = "user_sessions (expires_at)",
        ["idx_user_sessions_activity"] = "user_sessions (last_activity_at DESC)",

        ["organization_members_pkey"] = "UNIQUE organization_members (id)",
        ["organization_members_organization_id_user_id_key"] = "UNIQUE organization_members (organization_id, user_id)",
        ["idx_organization_members_org"] = "organization_members (organization_id)",
        ["idx_organization_members_user"] = "organization_members (user_id)",
        ["idx_organization_members_role"] = "organization_members (role)",
        ["idx_organization_members_invited"] = "organization_members (invited_at) WHERE (joined_at IS NULL)",

        ["project_members_pkey"] = "UNIQUE project_members (id)",
        ["project_members_project_id_user_id_key"] = "UNIQUE project_members (project_id, user_id)",
        ["idx_project_members_project"] = "project_members (project_id)",
        ["idx_project_members_user"] = "project_members (user_id)",
        ["idx_project_members_role"] = "project_members (role)",

        ["billing_plans_pkey"] = "UNIQUE billing_plans (id)",
        ["idx_billing_plans_active"] = "billing_plans (active, sort_order)",

        ["project_addons_pkey"] = "UNIQUE project_addons (id)",
        ["project_addons_project_id_addon_id_key"] = "UNIQUE project_addons (project_id, addon_id)",
        ["idx_project_addons_project"] = "project_addons (project_id)",
        ["idx_project_addons_status"] = "project_addons (status)",
        ["idx_project_addons_addon_id"] = "project_addons (addon_id)",
        ["idx_project_addons_active"] = "project_addons (project_id, status) WHERE (status = 'active'::text)",

        ["project_metrics_pkey"] = "UNIQUE project_metrics (id)",
        ["idx_project_metrics_project_timestamp"] = "project_metrics (project_id, \"timestamp\" DESC)",
        ["idx_project_metrics_timestamp"] = "project_metrics (\"timestamp\" DESC)",

        ["organization_invitations_pkey"] = "UNIQUE organization_invitations (id)",
        ["organization_invitations_token_key"] = "UNIQUE organization_invitations (token)",
        ["idx_org_invitations_org"] = "organization_invitations (organization_id)",
        ["idx_org_invitations_token"] = "organization_invitations (token) WHERE (accepted_at IS NULL)",
        ["idx_org_invitations_email"] = "organization_invitations (invited_email)",
        ["idx_org_invitations_pending"] = "organization_invitations (organization_id, expires_at) WHERE (accepted_at IS NULL)",

        ["api_keys_pkey"] = "UNIQUE api_keys (id)",
        ["api_keys_key_hash_key"] = "UNIQUE api_keys (key_hash)",
        ["idx_api_keys_org"] = "api_keys (organization_id) WHERE (revoked_at IS NULL)",
        ["idx_api_keys_user"] = "api_keys (user_id) WHERE (revoked_at IS NULL)",
        ["idx_api_keys_hash"] = "api_keys (key_hash, expires_at) WHERE (revoked_at IS NULL)",
        ["idx_api_keys_expires"] = "api_keys (expires_at) WHERE (revoked_at IS NULL)",

        ["audit_logs_pkey"] = "UNIQUE audit_logs (id)",
        ["idx_audit_logs_org_created"] = "audit_logs (organization_id, created_at DESC)",
        ["idx_audit_logs_project_created"] = "audit_logs (project_id, created_at DESC)",
        ["idx_audit_logs_user_created"] = "audit_logs (user_id, created_at DESC)",
        ["idx_audit_logs_event_type"] = "audit_logs (event_type, created_at DESC)",
        ["idx_audit_logs_severity"] = "audit_logs (severity, created_at DESC) WHERE (severity = ANY (ARRAY['error'::text, 'critical'::text]))",
        ["idx_audit_logs_created"] = "audit_logs (created_at DESC)",

        ["feature_flags_pkey"] = "UNIQUE feature_flags (id)",
        ["feature_flags_flag_key_key"] = "UNIQUE feature_flags (flag_key)",
        ["idx_feature_flags_key"] = "feature_flags (flag_key)",
        ["idx_feature_flags_enabled"] = "feature_flags (enabled)",

        ["organization_feature_flags_pkey"] = "UNIQUE organization_feature_flags (id)",
        ["organization_feature_flags_organization_id_flag_id_key"] = "UNIQUE organization_feature_flags (organization_id, flag_id)",
        ["idx_org_feature_flags_org"] = "organization_feature_flags (organization_id)",
        ["idx_org_feature_flags_flag"] = "organization_feature_flags (flag_id)",
    };

    private static readonly Dictionary<string, string> ExpectedTriggers = new()
    {
        ["update_users_updated_at"] = "users",
        ["update_user_sessions_activity"] = "user_sessions",
        ["update_organization_members_updated_at"] = "organization_members",
        ["update_project_members_updated_at"] = "project_members",
        ["update_billing_plans_updated_at"] = "billing_plans",
        ["update_project_addons_updated_at"] = "project_addons",
        ["update_feature_flags_updated_at"] = "feature_flags",
        ["update_org_feature_flags_updated_at"] = "organization_feature_flags",
    };

    internal static string Describe(ColumnFacts c) =>
        $"{c.Name} {c.Type}{(c.NotNull ? " NN" : "")}{(c.Default is null ? "" : " = " + c.Default)}";

    internal static string ShortIndexDef(string definition)
    {
        // "CREATE [UNIQUE ]INDEX name ON platform.table USING btree (cols)[ WHERE (...)]" -> "[UNIQUE ]table (cols)[ WHERE (...)]"
        var unique = definition.StartsWith("CREATE UNIQUE", StringComparison.Ordinal) ? "UNIQUE " : "";
        var on = definition.IndexOf(" ON platform.", StringComparison.Ordinal) + " ON platform.".Length;
        return unique + definition[on..].Replace(" USING btree", "", StringComparison.Ordinal);
    }

    internal static async Task<TestDatabase> MigratedToAsync(int version, IDictionary<string, string?>? environment = null)
    {
        return await TestDatabase.MigratedAsync(environment ?? new Dictionary<string, string?>(), "--to", version.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Test]
    public async Task Migrate_up_to_3_reaches_the_spec_counts_for_version_3()
    {
        await using var db = await MigratedToAsync(3);
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(After003));
    }

    [Test]
    public async Task Migrate_up_to_3_creates_the_twelve_tables_with_the_spec_columns_types_defaults_and_nullability()
    {
        await using var db = await MigratedToAsync(3);
        foreach (var table in Tables)
        {
            var columns = (await Catalog.ColumnsAsync(db, $"platform.{table}")).Select(Describe).ToList();
            Assert.That(columns, Is.EqualTo(ExpectedColumns[table]), table);
        }
    }

    [Test]
    public async Task Migrate_up_to_3_creates_every_constraint_with_its_spec_name_and_definition()
    {
        await using var db = await MigratedToAsync(3);
        foreach (var table in Tables)
        {
            var actual = await Catalog.ConstraintsAsync(db, $"platform.{table}");
            Assert.That(Lines(actual), Is.EqualTo(Lines(ExpectedConstraints[table])), table);
        }
    }

    [Test]
    public async Task Migrate_up_to_3_creates_every_index_including_the_partial_and_descending_ones()
    {
        await using var db = await MigratedToAsync(3);
        var actual = new Dictionary<string, string>();
        foreach (var table in Tables)
        {
            foreach (var (name, definition) in await Catalog.IndexesAsync(db, $"platform.{table}"))
            {
                actual[name] = ShortIndexDef(definition);
            }
        }

        Assert.That(Lines(actual), Is.EqualTo(Lines(ExpectedIndexes)));
    }

    [Test]
    public async Task Migrate_up_to_3_creates_the_eight_before_update_triggers_on_update_updated_at_column()
    {
        await using var db = await MigratedToAsync(3);
        foreach (var (trigger, table) in ExpectedTriggers)
        {
            var triggers = await Catalog.TriggersAsync(db, $"platform.{table}");
            Assert.That(triggers.Keys, Is.EquivalentTo(Rows.Of(trigger)), table);
            Assert.That(triggers[trigger], Is.EqualTo(
                $"CREATE TRIGGER {trigger} BEFORE UPDATE ON platform.{table} FOR EACH ROW EXECUTE FUNCTION platform.update_updated_at_column()"));
        }
    }

    [Test]
    public async Task Migrate_up_to_3_creates_the_three_stable_invoker_plpgsql_functions_with_comments()
    {
        await using var db = await MigratedToAsync(3);
        Assert.That(await Catalog.FunctionAsync(db, "platform.is_organization_owner(uuid,uuid)"),
            Is.EqualTo("lang=plpgsql volatility=s secdef=f config= returns=boolean"));
        Assert.That(await Catalog.FunctionAsync(db, "platform.has_project_access(uuid,uuid)"),
            Is.EqualTo("lang=plpgsql volatility=s secdef=f config= returns=boolean"));
        Assert.That(await Catalog.FunctionAsync(db, "platform.get_active_feature_flags(uuid)"),
            Is.EqualTo("lang=plpgsql volatility=s secdef=f config= returns=TABLE(flag_key text, flag_name text, enabled boolean)"));

        var argumentNames = await db.ColumnAsync("""
            SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ')' FROM pg_proc p
            WHERE p.oid IN ('platform.is_organization_owner(uuid,uuid)'::regprocedure, 'platform.has_project_access(uuid,uuid)'::regprocedure)
            ORDER BY 1
            """);
        Assert.That(argumentNames, Is.EqualTo(Rows.Of(
            "has_project_access(p_user_id uuid, p_project_id uuid)",
            "is_organization_owner(p_user_id uuid, p_organization_id uuid)")));

        var uncommented = await db.ColumnAsync("""
            SELECT p.proname FROM pg_proc p
            WHERE p.proname IN ('is_organization_owner', 'has_project_access', 'get_active_feature_flags')
              AND p.pronamespace = 'platform'::regnamespace AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''
            """);
        Assert.That(uncommented, Is.Empty);
    }

    [Test]
    public async Task Migrate_up_to_3_comments_every_table_it_creates_and_enables_both_extensions()
    {
        await using var db = await MigratedToAsync(3);
        foreach (var table in Tables)
        {
            var comment = await db.ScalarAsync<string?>($"SELECT obj_description('platform.{table}'::regclass, 'pg_class')");
            Assert.That(comment, Is.Not.Null.And.Not.Empty, table);
        }

        Assert.That(await db.ColumnAsync("SELECT extname FROM pg_extension WHERE extname IN ('uuid-ossp', 'pgcrypto') ORDER BY 1"),
            Is.EqualTo(Rows.Of("pgcrypto", "uuid-ossp")));
    }

    [Test]
    public async Task Migrate_up_to_3_seeds_the_four_billing_plans_with_the_spec_prices_features_and_limits()
    {
        await using var db = await MigratedToAsync(3);
        var rows = await db.ColumnAsync("""
            SELECT concat_ws(' | ', id, name, price, "interval", jsonb_array_length(features), features->>0, limits::text,
                             max_projects, max_members, active, sort_order, description IS NOT NULL)
            FROM platform.billing_plans ORDER BY sort_order
            """);
        Assert.That(rows, Is.EqualTo(Rows.Of(
            """tier_free | Free | 0.00 | month | 4 | 500MB database | {"disk_gb": 0.5, "storage_gb": 1, "max_members": 5, "bandwidth_gb": 2, "max_projects": 2} | 2 | 5 | t | 1 | t""",
            """tier_pro | Pro | 25.00 | month | 4 | 8GB database | {"disk_gb": 8, "storage_gb": 100, "max_members": 25, "bandwidth_gb": 250, "max_projects": 10} | 10 | 25 | t | 2 | t""",
            """tier_team | Team | 599.00 | month | 4 | Unlimited database | {"disk_gb": -1, "storage_gb": -1, "max_members": 100, "bandwidth_gb": -1, "max_projects": -1} | -1 | 100 | t | 3 | t""",
            """tier_enterprise | Enterprise | 0.00 | month | 5 | Custom database | {"disk_gb": -1, "storage_gb": -1, "max_members": -1, "bandwidth_gb": -1, "max_projects": -1} | -1 | -1 | t | 4 | t""")));
        Assert.That(await db.ScalarAsync<string>("SELECT features::text FROM platform.billing_plans WHERE id = 'tier_enterprise'"),
            Is.EqualTo("""["Custom database", "Custom bandwidth", "Custom file storage", "24/7 priority support", "SLA guarantees"]"""));
    }

    [Test]
    public async Task Is_organization_owner_is_true_only_for_an_owner_membership_of_that_organization()
    {
        await using var db = await MigratedToAsync(3);
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES
              ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a'), ('00000000-0000-0000-0000-0000000000a2', 'Org B', 'org-b');
            INSERT INTO platform.users (id, email) VALUES
              ('00000000-0000-0000-0000-0000000000b1', 'owner@example.com'), ('00000000-0000-0000-0000-0000000000b2', 'admin@example.com');
            INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1', 'owner'),
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b2', 'admin');
            """);
        Task<bool> IsOwner(string user, string organization) =>
            db.ScalarAsync<bool>($"SELECT platform.is_organization_owner('{user}', '{organization}')");
        Assert.That(await IsOwner("00000000-0000-0000-0000-0000000000b1", "00000000-0000-0000-0000-0000000000a1"), Is.True);
        Assert.That(await IsOwner("00000000-0000-0000-0000-0000000000b2", "00000000-0000-0000-0000-0000000000a1"), Is.False, "admin is not owner");
        Assert.That(await IsOwner("00000000-0000-0000-0000-0000000000b1", "00000000-0000-0000-0000-0000000000a2"), Is.False, "other org");
    }

    [Test]
    public async Task Has_project_access_allows_project_members_and_org_owners_or_admins_but_not_other_org_roles()
    {
        await using var db = await MigratedToAsync(3);
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a');
            INSERT INTO platform.projects (id, organization_id, name, slug, ref, database_host, database_name, database_user,
                                           database_password, postgres_meta_url, supabase_url)
            VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1', 'P', 'p', 'p-ref',
                    'h', 'd', 'u', 'x', 'http://meta', 'http://kong');
            INSERT INTO platform.users (id, email) VALUES
              ('00000000-0000-0000-0000-0000000000b1', 'owner@example.com'), ('00000000-0000-0000-0000-0000000000b2', 'admin@example.com'),
              ('00000000-0000-0000-0000-0000000000b3', 'dev@example.com'), ('00000000-0000-0000-0000-0000000000b4', 'member@example.com'),
              ('00000000-0000-0000-0000-0000000000b5', 'outsider@example.com');
            INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1', 'owner'),
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b2', 'admin'),
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b3', 'developer'),
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b4', 'member');
            INSERT INTO platform.project_members (project_id, user_id, role) VALUES
              ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b4', 'read_only');
            """);
        var access = await db.ColumnAsync("""
            SELECT u.email || '=' || platform.has_project_access(u.id, '00000000-0000-0000-0000-0000000000c1')
            FROM platform.users u ORDER BY u.email
            """);
        Assert.That(access, Is.EqualTo(Rows.Of(
            "admin@example.com=true", "dev@example.com=false", "member@example.com=true", "outsider@example.com=false", "owner@example.com=true")));
    }

    [Test]
    public async Task Get_active_feature_flags_returns_every_global_flag_with_the_org_override_winning_ordered_by_key()
    {
        await using var db = await MigratedToAsync(3);
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES
              ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a'), ('00000000-0000-0000-0000-0000000000a2', 'Org B', 'org-b');
            INSERT INTO platform.feature_flags (id, flag_key, flag_name, enabled, rollout_percentage) VALUES
              ('00000000-0000-0000-0000-0000000000f1', 'zeta_flag', 'Zeta', true, 0),
              ('00000000-0000-0000-0000-0000000000f2', 'alpha_flag', 'Alpha', false, 100),
              ('00000000-0000-0000-0000-0000000000f3', 'mid_flag', 'Mid', true, 50);
            INSERT INTO platform.organization_feature_flags (organization_id, flag_id, enabled) VALUES
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000f1', false),
              ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000f2', true),
              ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-0000000000f3', false);
            """);
        Task<List<string>> Flags(string organization) =>
            db.ColumnAsync($"SELECT flag_key || ':' || flag_name || ':' || enabled FROM platform.get_active_feature_flags('{organization}')");
        Assert.That(await Flags("00000000-0000-0000-0000-0000000000a1"),
            Is.EqualTo(Rows.Of("alpha_flag:Alpha:true", "mid_flag:Mid:true", "zeta_flag:Zeta:false")), "org A overrides alpha and zeta");
        Assert.That(await Flags("00000000-0000-0000-0000-0000000000a2"),
            Is.EqualTo(Rows.Of("alpha_flag:Alpha:false", "mid_flag:Mid:false", "zeta_flag:Zeta:true")), "org B overrides mid only");
    }

    [Test]
    public async Task Updating_a_user_session_fails_with_42703_because_the_trigger_is_kept_as_built()
    {
        await using var db = await MigratedToAsync(3);
        await db.ExecuteAsync("""
            INSERT INTO platform.users (id, email) VALUES ('00000000-0000-0000-0000-0000000000b1', 'someone@example.com');
            INSERT INTO platform.user_sessions (user_id, token, expires_at) VALUES ('00000000-0000-0000-0000-0000000000b1', 'tok', now() + interval '1 hour');
            """);
        var error = Assert.ThrowsAsync<PostgresException>(async () =>
            await db.ExecuteAsync("UPDATE platform.user_sessions SET last_activity_at = now()"));
        Assert.That(error!.SqlState, Is.EqualTo(PostgresErrorCodes.UndefinedColumn), error.Message);
        Assert.That(error.MessageText, Does.Contain("updated_at"));

        // Tables that do have updated_at are maintained by the same function.
        await db.ExecuteAsync("UPDATE platform.users SET updated_at = '2000-01-01', first_name = 'x'");
        Assert.That(await db.ScalarAsync<bool>("SELECT updated_at > '2001-01-01' FROM platform.users"), Is.True);
    }

    [Test]
    public async Task Rollback_to_2_is_refused_without_allow_data_loss_because_of_the_seeded_billing_plans()
    {
        await using var db = await MigratedToAsync(3);
        var refused = await db.RunAsync("rollback", "2");
        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain("table platform.billing_plans: 4 rows"));
        Assert.That(await Catalog.ExistsAsync(db, "platform.users"), Is.True, "nothing was changed");
    }

    [Test]
    public async Task Rollback_to_2_restores_the_exact_version_2_schema_and_up_again_rebuilds_the_same_version_3()
    {
        await using var reference = await MigratedToAsync(2);
        var at2 = await Catalog.SnapshotAsync(reference);

        await using var db = await MigratedToAsync(3);
        var at3 = await Catalog.SnapshotAsync(db);
        var down = await db.RunAsync("rollback", "2", "--allow-data-loss");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at2));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.created_objects WHERE version = 3"), Is.Zero);

        var up = await db.RunAsync("migrate", "up", "--to", "3");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at3));
    }

    [Test]
    public async Task Rollback_to_2_keeps_a_pgcrypto_that_existed_before_version_3()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE EXTENSION pgcrypto");
        Assert.That((await db.RunAsync("migrate", "up", "--to", "3")).ExitCode, Is.EqualTo(0));
        var down = await db.RunAsync("rollback", "2", "--allow-data-loss");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto')"), Is.True);
        Assert.That(await Catalog.ExistsAsync(db, "platform.users"), Is.False);
    }

    private static List<string> Lines(IDictionary<string, string> pairs) =>
        pairs.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}").ToList();
}

/// <summary>Expected rows for collection assertions in the schema tests (keeps constant arrays out of call sites).</summary>
internal static class Rows
{
    public static List<string> Of(params string[] rows) => [.. rows];
}
