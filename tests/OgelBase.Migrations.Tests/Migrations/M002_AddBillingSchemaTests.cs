using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Migrations;
using OgelBase.Migrations.Tests.Support;
using static OgelBase.Migrations.Tests.Schema.M001_CreatePlatformSchemaTests;

namespace OgelBase.Migrations.Tests.Schema;

public sealed class M002_AddBillingSchemaTests
{
    private const string Tz = "timestamp with time zone";
    private const string OrgA = "00000000-0000-0000-0000-0000000000a1";
    private const string OrgB = "00000000-0000-0000-0000-0000000000b2";

    private static readonly ColumnFacts Id = new("id", "uuid", true, "uuid_generate_v4()");
    private static readonly ColumnFacts CreatedAt = new("created_at", Tz, false, "now()");
    private static readonly ColumnFacts UpdatedAt = new("updated_at", Tz, false, "now()");

    private static readonly string[] Tables =
    [
        "subscriptions", "invoices", "payment_methods", "tax_ids", "usage_metrics", "addons", "customer_profiles", "credits", "disk_config", "compute_config",
    ];

    private static readonly Dictionary<string, List<ColumnFacts>> ExpectedColumns = new()
    {
        ["subscriptions"] =
        [
            Id,
            new("organization_id", "uuid", true, null),
            new("plan_id", "text", true, null),
            new("plan_name", "text", true, null),
            new("status", "text", true, "'active'::text"),
            new("billing_cycle_anchor", "bigint", false, null),
            new("current_period_start", "bigint", false, null),
            new("current_period_end", "bigint", false, null),
            new("next_invoice_at", "bigint", false, null),
            new("usage_billing_enabled", "boolean", false, "true"),
            new("spend_cap_enabled", "boolean", false, "false"),
            new("spend_cap_amount", "numeric(10,2)", false, null),
            new("customer_balance", "numeric(10,2)", false, "0"),
            new("billing_via_partner", "boolean", false, "false"),
            new("billing_partner", "text", false, null),
            new("cached_egress_enabled", "boolean", false, "false"),
            new("stripe_customer_id", "text", false, null),
            new("stripe_subscription_id", "text", false, null),
            CreatedAt, UpdatedAt,
        ],
        ["invoices"] =
        [
            Id,
            new("organization_id", "uuid", true, null),
            new("stripe_invoice_id", "text", false, null),
            new("invoice_number", "text", false, null),
            new("amount_due", "numeric(10,2)", true, null),
            new("amount_paid", "numeric(10,2)", false, "0"),
            new("amount_remaining", "numeric(10,2)", false, null),
            new("currency", "text", false, "'usd'::text"),
            new("status", "text", true, null),
            new("period_start", "bigint", false, null),
            new("period_end", "bigint", false, null),
            new("due_date", "bigint", false, null),
            new("paid_at", "bigint", false, null),
            new("invoice_pdf", "text", false, null),
            new("hosted_invoice_url", "text", false, null),
            CreatedAt, UpdatedAt,
        ],
        ["payment_methods"] =
        [
            Id,
            new("organization_id", "uuid", true, null),
            new("stripe_payment_method_id", "text", true, null),
            new("type", "text", true, null),
            new("is_default", "boolean", false, "false"),
            new("card_brand", "text", false, null),
            new("card_last4", "text", false, null),
            new("card_exp_month", "integer", false, null),
            new("card_exp_year", "integer", false, null),
            new("billing_details", "jsonb", false, null),
            CreatedAt, UpdatedAt,
        ],
        ["tax_ids"] =
        [
            Id,
            new("organization_id", "uuid", true, null),
            new("type", "text", true, null),
            new("value", "text", true, null),
            new("country", "text", false, null),
            new("status", "text", false, "'active'::text"),
            CreatedAt, UpdatedAt,
        ],
        ["usage_metrics"] =
        [
            Id,
            new("organization_id", "uuid", false, null),
            new("project_id", "uuid", false, null),
            new("metric_type", "text", true, null),
            new("metric_value", "numeric", true, null),
            new("metric_unit", "text", true, null),
            new("period_start", Tz, true, null),
            new("period_end", Tz, true, null),
            new("cost", "numeric(10,2)", false, null),
            new("metadata", "jsonb", false, null),
            CreatedAt,
        ],
        ["addons"] =
        [
            Id,
            new("project_id", "uuid", true, null),
            new("addon_type", "text", true, null),
            new("addon_variant", "text", true, null),
            new("quantity", "integer", false, "1"),
            new("price_per_unit", "numeric(10,2)", false, null),
            new("metadata", "jsonb", false, null),
            new("status", "text", false, "'active'::text"),
            new("activated_at", Tz, false, "now()"),
            new("deactivated_at", Tz, false, null),
            CreatedAt, UpdatedAt,
        ],
        ["customer_profiles"] =
        [
            Id,
            new("organization_id", "uuid", true, null),
            new("company_name", "text", false, null),
            new("address_line1", "text", false, null),
            new("address_line2", "text", false, null),
            new("city", "text", false, null),
            new("state", "text", false, null),
            new("postal_code", "text", false, null),
            new("country", "text", false, null),
            new("tax_id", "text", false, null),
            CreatedAt, UpdatedAt,
        ],
        ["credits"] =
        [
            Id,
            new("organization_id", "uuid", true, null),
            new("amount", "numeric(10,2)", true, null),
            new("remaining", "numeric(10,2)", true, null),
            new("description", "text", false, null),
            new("status", "text", true, "'active'::text"),
            new("expires_at", Tz, false, null),
            CreatedAt, UpdatedAt,
        ],
        ["disk_config"] =
        [
            Id,
            new("project_id", "uuid", true, null),
            new("size_gb", "integer", true, "8"),
            new("io_budget", "integer", true, "2400"),
            new("autoscale_enabled", "boolean", false, "false"),
            new("autoscale_limit_gb", "integer", false, null),
            new("status", "text", false, "'active'::text"),
            CreatedAt, UpdatedAt,
        ],
        ["compute_config"] =
        [
            Id,
            new("project_id", "uuid", true, null),
            new("instance_size", "text", true, "'micro'::text"),
            new("cpu_cores", "numeric(3,1)", false, null),
            new("memory_gb", "numeric(4,1)", false, null),
            new("architecture", "text", false, null),
            new("is_dedicated", "boolean", false, "false"),
            new("status", "text", false, "'active'::text"),
            CreatedAt, UpdatedAt,
        ],
    };

    private const string OrgFk = "FOREIGN KEY (organization_id) REFERENCES platform.organizations(id) ON DELETE CASCADE";

    private const string ProjectFk = "FOREIGN KEY (project_id) REFERENCES platform.projects(id) ON DELETE CASCADE";

    private static string Any(string column, params string[] values) =>
        $"CHECK (({column} = ANY (ARRAY[{string.Join(", ", values.Select(v => $"'{v}'::text"))}])))";

    private static readonly Dictionary<string, Dictionary<string, string>> ExpectedConstraints = new()
    {
        ["subscriptions"] = new()
        {
            ["subscriptions_pkey"] = "PRIMARY KEY (id)",
            ["subscriptions_organization_id_fkey"] = OrgFk,
            ["subscriptions_organization_id_key"] = "UNIQUE (organization_id)",
            ["subscriptions_plan_id_valid"] = Any("plan_id", "tier_free", "tier_pro", "tier_team", "tier_enterprise"),
            ["subscriptions_status_valid"] = Any("status", "active", "canceled", "past_due", "trialing", "unpaid", "incomplete"),
            ["subscriptions_spend_cap_valid"] = "CHECK (((NOT spend_cap_enabled) OR (spend_cap_amount > (0)::numeric)))",
        },
        ["invoices"] = new()
        {
            ["invoices_pkey"] = "PRIMARY KEY (id)",
            ["invoices_organization_id_fkey"] = OrgFk,
            ["invoices_stripe_invoice_id_key"] = "UNIQUE (stripe_invoice_id)",
            ["invoices_amount_valid"] = "CHECK ((amount_due >= (0)::numeric))",
            ["invoices_currency_valid"] = "CHECK ((currency ~ '^[a-z]{3}$'::text))",
            ["invoices_status_valid"] = Any("status", "draft", "open", "paid", "void", "uncollectible"),
        },
        ["payment_methods"] = new()
        {
            ["payment_methods_pkey"] = "PRIMARY KEY (id)",
            ["payment_methods_organization_id_fkey"] = OrgFk,
            ["payment_methods_stripe_payment_method_id_key"] = "UNIQUE (stripe_payment_method_id)",
            ["payment_methods_type_valid"] = Any("type", "card", "bank_account", "sepa_debit", "us_bank_account"),
            ["payment_methods_card_exp_month_valid"] = "CHECK (((card_exp_month IS NULL) OR ((card_exp_month >= 1) AND (card_exp_month <= 12))))",
            ["payment_methods_card_exp_year_valid"] = "CHECK (((card_exp_year IS NULL) OR (card_exp_year >= 2020)))",
        },
        ["tax_ids"] = new()
        {
            ["tax_ids_pkey"] = "PRIMARY KEY (id)",
            ["tax_ids_organization_id_fkey"] = OrgFk,
            ["tax_ids_organization_id_type_value_key"] = "UNIQUE (organization_id, type, value)",
            ["tax_ids_country_valid"] = "CHECK (((country IS NULL) OR (country ~ '^[A-Z]{2}$'::text)))",
            ["tax_ids_status_valid"] = Any("status", "active", "deleted"),
        },
        ["usage_metrics"] = new()
        {
            ["usage_metrics_pkey"] = "PRIMARY KEY (id)",
            ["usage_metrics_organization_id_fkey"] = OrgFk,
            ["usage_metrics_project_id_fkey"] = ProjectFk,
            ["usage_metrics_type_valid"] = Any("metric_type", "database_size", "egress", "storage", "auth_users", "realtime_connections", "realtime_messages",
                "storage_images_transformed", "function_invocations", "function_count", "compute_hours"),
            ["usage_metrics_value_valid"] = "CHECK ((metric_value >= (0)::numeric))",
            ["usage_metrics_unit_valid"] = Any("metric_unit", "bytes", "hours", "requests", "users", "connections", "messages", "invocations", "count"),
            ["usage_metrics_period_valid"] = "CHECK ((period_end > period_start))",
        },
        ["addons"] = new()
        {
            ["addons_pkey"] = "PRIMARY KEY (id)",
            ["addons_project_id_fkey"] = ProjectFk,
            ["addons_type_valid"] = Any("addon_type", "pitr", "custom_domain", "ipv4", "compute_instance", "disk_expansion"),
            ["addons_quantity_valid"] = "CHECK ((quantity > 0))",
            ["addons_price_valid"] = "CHECK (((price_per_unit IS NULL) OR (price_per_unit >= (0)::numeric)))",
            ["addons_status_valid"] = Any("status", "active", "inactive"),
        },
        ["customer_profiles"] = new()
        {
            ["customer_profiles_pkey"] = "PRIMARY KEY (id)",
            ["customer_profiles_organization_id_fkey"] = OrgFk,
            ["customer_profiles_organization_id_key"] = "UNIQUE (organization_id)",
            ["customer_profiles_country_valid"] = "CHECK (((country IS NULL) OR (country ~ '^[A-Z]{2}$'::text)))",
        },
        ["credits"] = new()
        {
            ["credits_pkey"] = "PRIMARY KEY (id)",
            ["credits_organization_id_fkey"] = OrgFk,
            ["credits_amount_valid"] = "CHECK ((amount > (0)::numeric))",
            ["credits_remaining_valid"] = "CHECK (((remaining >= (0)::numeric) AND (remaining <= amount)))",
            ["credits_status_valid"] = Any("status", "active", "consumed", "expired"),
        },
        ["disk_config"] = new()
        {
            ["disk_config_pkey"] = "PRIMARY KEY (id)",
            ["disk_config_project_id_fkey"] = ProjectFk,
            ["disk_config_project_id_key"] = "UNIQUE (project_id)",
            ["disk_config_size_valid"] = "CHECK (((size_gb >= 8) AND (size_gb <= 10000)))",
            ["disk_config_io_valid"] = "CHECK ((io_budget >= 2400))",
            ["disk_config_autoscale_valid"] = "CHECK (((NOT autoscale_enabled) OR ((autoscale_limit_gb IS NOT NULL) AND (autoscale_limit_gb > size_gb))))",
            ["disk_config_status_valid"] = Any("status", "active", "inactive", "upgrading"),
        },
        ["compute_config"] = new()
        {
            ["compute_config_pkey"] = "PRIMARY KEY (id)",
            ["compute_config_project_id_fkey"] = ProjectFk,
            ["compute_config_project_id_key"] = "UNIQUE (project_id)",
            ["compute_config_instance_valid"] = Any("instance_size", "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
            ["compute_config_arch_valid"] = "CHECK (((architecture IS NULL) OR (architecture = ANY (ARRAY['arm'::text, 'amd'::text, 'x86_64'::text]))))",
            ["compute_config_status_valid"] = Any("status", "active", "inactive", "upgrading"),
        },
    };

    private static readonly Dictionary<string, Dictionary<string, string>> ExpectedIndexes = new()
    {
        ["subscriptions"] = Indexes("subscriptions",
            ("subscriptions_pkey", "UNIQUE", "(id)"),
            ("subscriptions_organization_id_key", "UNIQUE", "(organization_id)"),
            ("idx_subscriptions_org", "", "(organization_id)"),
            ("idx_subscriptions_status", "", "(status)"),
            ("idx_subscriptions_plan", "", "(plan_id)"),
            ("idx_subscriptions_stripe_customer", "", "(stripe_customer_id)"),
            ("idx_subscriptions_next_invoice", "", "(next_invoice_at)")),
        ["invoices"] = Indexes("invoices",
            ("invoices_pkey", "UNIQUE", "(id)"),
            ("invoices_stripe_invoice_id_key", "UNIQUE", "(stripe_invoice_id)"),
            ("idx_invoices_org", "", "(organization_id)"),
            ("idx_invoices_status", "", "(status)"),
            ("idx_invoices_stripe", "", "(stripe_invoice_id)"),
            ("idx_invoices_period", "", "(period_start, period_end)"),
            ("idx_invoices_created_at", "", "(created_at DESC)")),
        ["payment_methods"] = Indexes("payment_methods",
            ("payment_methods_pkey", "UNIQUE", "(id)"),
            ("payment_methods_stripe_payment_method_id_key", "UNIQUE", "(stripe_payment_method_id)"),
            ("idx_payment_methods_org", "", "(organization_id)"),
            ("idx_payment_methods_default", "", "(organization_id, is_default) WHERE (is_default = true)")),
        ["tax_ids"] = Indexes("tax_ids",
            ("tax_ids_pkey", "UNIQUE", "(id)"),
            ("tax_ids_organization_id_type_value_key", "UNIQUE", "(organization_id, type, value)"),
            ("idx_tax_ids_org", "", "(organization_id)"),
            ("idx_tax_ids_status", "", "(status)")),
        ["usage_metrics"] = Indexes("usage_metrics",
            ("usage_metrics_pkey", "UNIQUE", "(id)"),
            ("idx_usage_org_period", "", "(organization_id, period_start)"),
            ("idx_usage_project_period", "", "(project_id, period_start)"),
            ("idx_usage_type", "", "(metric_type)"),
            ("idx_usage_created_at", "", "(created_at DESC)"),
            ("idx_usage_org_type_period", "", "(organization_id, metric_type, period_start)")),
        ["addons"] = Indexes("addons",
            ("addons_pkey", "UNIQUE", "(id)"),
            ("idx_addons_project", "", "(project_id)"),
            ("idx_addons_status", "", "(status)"),
            ("idx_addons_type", "", "(addon_type)")),
        ["customer_profiles"] = Indexes("customer_profiles",
            ("customer_profiles_pkey", "UNIQUE", "(id)"),
            ("customer_profiles_organization_id_key", "UNIQUE", "(organization_id)"),
            ("idx_customer_profiles_org", "", "(organization_id)")),
        ["credits"] = Indexes("credits",
            ("credits_pkey", "UNIQUE", "(id)"),
            ("idx_credits_org", "", "(organization_id)"),
            ("idx_credits_expires", "", "(expires_at) WHERE (expires_at IS NOT NULL)")),
        ["disk_config"] = Indexes("disk_config",
            ("disk_config_pkey", "UNIQUE", "(id)"),
            ("disk_config_project_id_key", "UNIQUE", "(project_id)"),
            ("idx_disk_config_project", "", "(project_id)")),
        ["compute_config"] = Indexes("compute_config",
            ("compute_config_pkey", "UNIQUE", "(id)"),
            ("compute_config_project_id_key", "UNIQUE", "(project_id)"),
            ("idx_compute_config_project", "", "(project_id)"),
            ("idx_compute_config_size", "", "(instance_size)")),
    };

    [Test]
    public async Task Migrate_up_to_2_gives_the_spec_counts_for_version_2()
    {
        await using var db = await MigratedAsync("2");
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(new PlatformCounts(13, 5, 9, 12, 60, 0, 0, 42, 13)));
    }

    [TestCaseSource(nameof(Tables))]
    public async Task Migrate_up_to_2_creates_the_table_as_built(string table)
    {
        await using var db = await MigratedAsync("2");
        var qualified = "platform." + table;
        Assert.That(await Catalog.ColumnsAsync(db, qualified), Is.EqualTo(ExpectedColumns[table]), "columns");
        Assert.That(await Catalog.ConstraintsAsync(db, qualified), Is.EquivalentTo(ExpectedConstraints[table]), "constraints");
        Assert.That(await Catalog.IndexesAsync(db, qualified), Is.EquivalentTo(ExpectedIndexes[table]), "indexes");
        var triggers = table == "usage_metrics"
            ? new Dictionary<string, string>()
            : new Dictionary<string, string> { [$"update_{table}_updated_at"] = UpdatedAtTrigger(table) };
        Assert.That(await Catalog.TriggersAsync(db, qualified), Is.EquivalentTo(triggers), "triggers");
    }

    [Test]
    public async Task Migrate_up_to_2_creates_the_four_billing_functions_as_sql_stable_invoker()
    {
        await using var db = await MigratedAsync("2");
        var expected = new Dictionary<string, string>
        {
            ["platform.get_active_subscription(uuid)"] = "lang=sql volatility=s secdef=f config= returns=platform.subscriptions",
            ["platform.calculate_usage_cost(uuid,timestamptz,timestamptz)"] = "lang=sql volatility=s secdef=f config= returns=numeric",
            ["platform.get_available_credits(uuid)"] = "lang=sql volatility=s secdef=f config= returns=numeric",
            ["platform.is_free_tier(uuid)"] = "lang=sql volatility=s secdef=f config= returns=boolean",
        };
        foreach (var (signature, facts) in expected)
        {
            Assert.That(await Catalog.FunctionAsync(db, signature), Is.EqualTo(facts), signature);
        }

        Assert.That(await db.ColumnAsync("""
            SELECT format('%s retset=%s args=%s', proname, proretset, pg_get_function_arguments(oid))
            FROM pg_proc WHERE oid IN ('platform.get_active_subscription(uuid)'::regprocedure, 'platform.calculate_usage_cost(uuid,timestamptz,timestamptz)'::regprocedure,
                                       'platform.get_available_credits(uuid)'::regprocedure, 'platform.is_free_tier(uuid)'::regprocedure)
            ORDER BY proname
            """), Is.EqualTo(new List<string>
        {
            "calculate_usage_cost retset=f args=org_id uuid, start_period timestamp with time zone, end_period timestamp with time zone",
            "get_active_subscription retset=f args=org_id uuid",
            "get_available_credits retset=f args=org_id uuid",
            "is_free_tier retset=f args=org_id uuid",
        }));
    }

    [Test]
    public async Task Migrate_up_to_2_creates_the_three_views_with_their_exact_columns()
    {
        await using var db = await MigratedAsync("2");
        Assert.That(await ViewColumnsAsync(db, "subscriptions_with_orgs"), Is.EqualTo(new List<string>
        {
            "id uuid", "organization_id uuid", "organization_name text", "organization_slug text", "plan_id text", "plan_name text", "status text",
            "billing_cycle_anchor bigint", "current_period_start bigint", "current_period_end bigint", "next_invoice_at bigint",
            "usage_billing_enabled boolean", "spend_cap_enabled boolean", "spend_cap_amount numeric(10,2)", "customer_balance numeric(10,2)",
            "billing_via_partner boolean", "billing_partner text", "stripe_customer_id text", "stripe_subscription_id text",
            $"created_at {Tz}", $"updated_at {Tz}",
        }));
        Assert.That(await ViewColumnsAsync(db, "organization_billing_overview"), Is.EqualTo(new List<string>
        {
            "organization_id uuid", "organization_name text", "organization_slug text", "plan_id text", "plan_name text", "subscription_status text",
            "customer_balance numeric(10,2)", "project_count bigint", "open_invoices bigint", "outstanding_balance numeric", "available_credits numeric",
        }));
        Assert.That(await ViewColumnsAsync(db, "project_resources"), Is.EqualTo(new List<string>
        {
            "project_id uuid", "project_ref text", "project_name text", "organization_id uuid", "project_status text",
            "disk_size_gb integer", "disk_io_budget integer", "disk_autoscale boolean",
            "instance_size text", "cpu_cores numeric(3,1)", "memory_gb numeric(4,1)", "architecture text", "is_dedicated boolean",
            "active_addons_count bigint",
        }));

        // The overview reads credits through the function, so the function cannot be dropped before the view.
        Assert.That(await db.ScalarAsync<long>("""
            SELECT count(*) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
            WHERE r.ev_class = 'platform.organization_billing_overview'::regclass AND d.refobjid = 'platform.get_available_credits(uuid)'::regprocedure
            """), Is.GreaterThan(0));
    }

    [Test]
    public async Task Migrate_up_to_2_grants_nothing_new_and_keeps_the_version_1_grants()
    {
        await using var db = await MigratedAsync("2");
        foreach (var relation in Tables.Concat(["subscriptions_with_orgs", "organization_billing_overview", "project_resources"]))
        {
            Assert.That(await db.ScalarAsync<string?>($"SELECT relacl::text FROM pg_class WHERE oid = 'platform.{relation}'::regclass"), Is.Null, relation);
            Assert.That(await db.ScalarAsync<bool>($"SELECT has_table_privilege('public', 'platform.{relation}', 'SELECT')"), Is.False, relation);
        }

        Assert.That(await db.ScalarAsync<bool>("SELECT has_table_privilege('public', 'platform.credentials', 'SELECT')"), Is.True);
        Assert.That(await db.ColumnAsync("SELECT proname || ' ' || coalesce(proacl::text, '<default>') FROM pg_proc WHERE pronamespace = 'platform'::regnamespace ORDER BY proname"),
            Is.EqualTo(new List<string>
            {
                "calculate_usage_cost <default>",
                "generate_slug {=X/postgres,postgres=X/postgres}",
                "get_active_subscription <default>",
                "get_available_credits <default>",
                "get_credentials_by_project_ref {=X/postgres,postgres=X/postgres}",
                "get_organization_by_slug {=X/postgres,postgres=X/postgres}",
                "get_project_by_ref {=X/postgres,postgres=X/postgres}",
                "is_free_tier <default>",
                "update_updated_at_column {=X/postgres,postgres=X/postgres}",
            }));
    }

    [Test]
    public async Task Calculate_usage_cost_sums_the_organizations_costs_inside_the_period_and_is_0_otherwise()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await db.ExecuteAsync($"""
            INSERT INTO platform.usage_metrics (organization_id, metric_type, metric_value, metric_unit, period_start, period_end, cost) VALUES
              ('{OrgA}', 'egress',  10, 'bytes', '2025-01-01Z', '2025-01-31Z', 1.50),
              ('{OrgA}', 'storage', 20, 'bytes', '2025-01-10Z', '2025-01-20Z', 2.25),
              ('{OrgA}', 'storage', 20, 'bytes', '2025-01-10Z', '2025-01-20Z', NULL),
              ('{OrgA}', 'egress',  10, 'bytes', '2024-12-31Z', '2025-01-15Z', 100),
              ('{OrgA}', 'egress',  10, 'bytes', '2025-01-15Z', '2025-02-01Z', 200),
              ('{OrgB}', 'egress',  10, 'bytes', '2025-01-01Z', '2025-01-31Z', 400);
            """);

        Assert.That(await db.ScalarAsync<decimal>($"SELECT platform.calculate_usage_cost('{OrgA}', '2025-01-01Z', '2025-01-31Z')"), Is.EqualTo(3.75m));
        Assert.That(await db.ScalarAsync<decimal>($"SELECT platform.calculate_usage_cost('{OrgA}', '2025-01-01Z', '2025-02-01Z')"), Is.EqualTo(203.75m));
        Assert.That(await db.ScalarAsync<decimal?>($"SELECT platform.calculate_usage_cost('{OrgA}', '2023-01-01Z', '2023-12-31Z')"), Is.EqualTo(0m));
        Assert.That(await db.ScalarAsync<decimal?>("SELECT platform.calculate_usage_cost('00000000-0000-0000-0000-00000000ffff', '2025-01-01Z', '2025-01-31Z')"), Is.EqualTo(0m));
    }

    [Test]
    public async Task Get_available_credits_sums_remaining_of_active_unexpired_credits_only()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await db.ExecuteAsync($"""
            INSERT INTO platform.credits (organization_id, amount, remaining, status, expires_at) VALUES
              ('{OrgA}', 100, 40,   'active',   NULL),
              ('{OrgA}', 100, 2.5,  'active',   now() + interval '1 day'),
              ('{OrgA}', 100, 100,  'active',   now() - interval '1 second'),
              ('{OrgA}', 100, 7,    'consumed', NULL),
              ('{OrgA}', 100, 9,    'expired',  now() + interval '1 day'),
              ('{OrgB}', 100, 50,   'active',   NULL);
            """);

        Assert.That(await db.ScalarAsync<decimal>($"SELECT platform.get_available_credits('{OrgA}')"), Is.EqualTo(42.5m));
        Assert.That(await db.ScalarAsync<decimal>($"SELECT platform.get_available_credits('{OrgB}')"), Is.EqualTo(50m));
        Assert.That(await db.ScalarAsync<decimal?>("SELECT platform.get_available_credits('00000000-0000-0000-0000-00000000ffff')"), Is.EqualTo(0m));
    }

    [Test]
    public async Task Is_free_tier_and_get_active_subscription_see_only_an_active_subscription()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await db.ExecuteAsync($"""
            INSERT INTO platform.organizations (id, name, slug) VALUES
              ('00000000-0000-0000-0000-0000000000c3', 'Canceled', 'canceled'),
              ('00000000-0000-0000-0000-0000000000d4', 'Nothing', 'nothing');
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, status) VALUES
              ('{OrgA}', 'tier_free', 'Free', 'active'),
              ('{OrgB}', 'tier_pro', 'Pro', 'active'),
              ('00000000-0000-0000-0000-0000000000c3', 'tier_free', 'Free', 'canceled');
            """);

        Assert.That(await db.ColumnAsync("""
            SELECT slug || ' ' || platform.is_free_tier(id)::text || ' ' || coalesce((platform.get_active_subscription(id)).plan_id, '<null>')
            FROM platform.organizations ORDER BY slug
            """), Is.EqualTo(new List<string>
        {
            "acme true tier_free",
            "beta false tier_pro",
            "canceled false <null>",
            "nothing false <null>",
        }));
        Assert.That(await db.ColumnAsync("SELECT (id IS NULL AND organization_id IS NULL AND status IS NULL)::text FROM platform.get_active_subscription('00000000-0000-0000-0000-0000000000c3')"),
            Is.EqualTo(new List<string> { "true" }));
    }

    [Test]
    public async Task Organization_billing_overview_multiplies_open_invoices_by_project_count_as_built()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await InsertProjectAsync(db, OrgA, "p-one", "ACTIVE_HEALTHY");
        await InsertProjectAsync(db, OrgA, "p-two", "ACTIVE_HEALTHY");
        await db.ExecuteAsync($"""
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, status, customer_balance) VALUES ('{OrgA}', 'tier_pro', 'Pro', 'active', 3.5);
            INSERT INTO platform.invoices (organization_id, amount_due, status) VALUES ('{OrgA}', 10, 'open'), ('{OrgA}', 99, 'paid');
            INSERT INTO platform.credits (organization_id, amount, remaining) VALUES ('{OrgA}', 20, 12);
            """);

        // docs/schema-facts.md §12.23: one open invoice of 10 with two projects reads as 20.
        Assert.That(await db.ColumnAsync("""
            SELECT concat_ws(' ', organization_slug, coalesce(plan_id, '-'), coalesce(subscription_status, '-'), coalesce(customer_balance::text, '-'),
                             project_count, open_invoices, outstanding_balance, available_credits)
            FROM platform.organization_billing_overview ORDER BY organization_slug
            """), Is.EqualTo(new List<string>
        {
            "acme tier_pro active 3.50 2 1 20.00 12.00",
            "beta - - - 0 0 0 0",
        }));
    }

    [Test]
    public async Task Subscriptions_with_orgs_and_project_resources_join_as_built()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await InsertProjectAsync(db, OrgA, "p-one", "ACTIVE_HEALTHY");
        await InsertProjectAsync(db, OrgA, "p-bare", "PAUSED");
        await db.ExecuteAsync($"""
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name) VALUES ('{OrgA}', 'tier_team', 'Team');
            INSERT INTO platform.disk_config (project_id, size_gb, autoscale_enabled, autoscale_limit_gb) SELECT id, 16, true, 32 FROM platform.projects WHERE ref = 'p-one';
            INSERT INTO platform.compute_config (project_id, instance_size, cpu_cores, memory_gb, architecture) SELECT id, 'small', 2, 2, 'arm' FROM platform.projects WHERE ref = 'p-one';
            INSERT INTO platform.addons (project_id, addon_type, addon_variant, status)
            SELECT id, t, 'v', s FROM platform.projects, (VALUES ('pitr', 'active'), ('ipv4', 'active'), ('custom_domain', 'inactive')) x(t, s) WHERE ref = 'p-one';
            """);

        Assert.That(await db.ColumnAsync("SELECT concat_ws(' ', organization_name, organization_slug, plan_id, plan_name, status) FROM platform.subscriptions_with_orgs"),
            Is.EqualTo(new List<string> { "Acme acme tier_team Team active" }));
        Assert.That(await db.ColumnAsync("""
            SELECT concat_ws(' ', project_ref, project_status, coalesce(disk_size_gb::text, '-'), coalesce(disk_io_budget::text, '-'), coalesce(disk_autoscale::text, '-'),
                             coalesce(instance_size, '-'), coalesce(cpu_cores::text, '-'), coalesce(architecture, '-'), active_addons_count)
            FROM platform.project_resources ORDER BY project_ref
            """), Is.EqualTo(new List<string>
        {
            "p-bare PAUSED - - - - - - 0",
            "p-one ACTIVE_HEALTHY 16 2400 true small 2.0 arm 2",
        }));
    }

    [Test]
    public async Task Updating_a_row_of_any_of_the_nine_tables_moves_its_updated_at_to_now()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await InsertProjectAsync(db, OrgA, "p-one", "ACTIVE_HEALTHY");
        await db.ExecuteAsync($"""
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name) VALUES ('{OrgA}', 'tier_pro', 'Pro');
            INSERT INTO platform.invoices (organization_id, amount_due, status) VALUES ('{OrgA}', 10, 'open');
            INSERT INTO platform.payment_methods (organization_id, stripe_payment_method_id, type) VALUES ('{OrgA}', 'pm_1', 'card');
            INSERT INTO platform.tax_ids (organization_id, type, value) VALUES ('{OrgA}', 'eu_vat', 'X1');
            INSERT INTO platform.customer_profiles (organization_id) VALUES ('{OrgA}');
            INSERT INTO platform.credits (organization_id, amount, remaining) VALUES ('{OrgA}', 10, 5);
            INSERT INTO platform.addons (project_id, addon_type, addon_variant) SELECT id, 'pitr', 'pitr_7' FROM platform.projects;
            INSERT INTO platform.disk_config (project_id) SELECT id FROM platform.projects;
            INSERT INTO platform.compute_config (project_id) SELECT id FROM platform.projects;
            """);
        var withTrigger = Tables.Where(t => t != "usage_metrics").ToList();
        Assert.That(withTrigger, Has.Count.EqualTo(9));

        // Replica mode keeps the triggers from firing while the timestamps are moved into the past.
        await db.ExecuteAsync("SET session_replication_role = replica; " +
                              string.Concat(withTrigger.Select(t => $"UPDATE platform.{t} SET created_at = '2001-01-01Z', updated_at = '2001-01-01Z'; ")));

        foreach (var table in withTrigger)
        {
            Assert.That(await db.ColumnAsync($"UPDATE platform.{table} SET id = id RETURNING (updated_at = now())::text || ' ' || (created_at = '2001-01-01Z')::text"),
                Is.EqualTo(new List<string> { "true true" }), table);
        }
    }

    [TestCase("INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name) VALUES ('{A}', 'tier_gold', 'Gold')", "subscriptions_plan_id_valid")]
    [TestCase("INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, status) VALUES ('{A}', 'tier_pro', 'Pro', 'paused')", "subscriptions_status_valid")]
    [TestCase("INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, spend_cap_enabled, spend_cap_amount) VALUES ('{A}', 'tier_pro', 'Pro', true, 0)", "subscriptions_spend_cap_valid")]
    [TestCase("INSERT INTO platform.invoices (organization_id, amount_due, status) VALUES ('{A}', -1, 'open')", "invoices_amount_valid")]
    [TestCase("INSERT INTO platform.invoices (organization_id, amount_due, status, currency) VALUES ('{A}', 1, 'open', 'USD')", "invoices_currency_valid")]
    [TestCase("INSERT INTO platform.invoices (organization_id, amount_due, status) VALUES ('{A}', 1, 'refunded')", "invoices_status_valid")]
    [TestCase("INSERT INTO platform.payment_methods (organization_id, stripe_payment_method_id, type) VALUES ('{A}', 'pm', 'paypal')", "payment_methods_type_valid")]
    [TestCase("INSERT INTO platform.payment_methods (organization_id, stripe_payment_method_id, type, card_exp_month) VALUES ('{A}', 'pm', 'card', 13)", "payment_methods_card_exp_month_valid")]
    [TestCase("INSERT INTO platform.payment_methods (organization_id, stripe_payment_method_id, type, card_exp_year) VALUES ('{A}', 'pm', 'card', 2019)", "payment_methods_card_exp_year_valid")]
    [TestCase("INSERT INTO platform.tax_ids (organization_id, type, value, country) VALUES ('{A}', 'gb_vat', 'X', 'gb')", "tax_ids_country_valid")]
    [TestCase("INSERT INTO platform.tax_ids (organization_id, type, value, status) VALUES ('{A}', 'gb_vat', 'X', 'pending')", "tax_ids_status_valid")]
    [TestCase("INSERT INTO platform.usage_metrics (metric_type, metric_value, metric_unit, period_start, period_end) VALUES ('cpu', 1, 'hours', now(), now() + interval '1 h')", "usage_metrics_type_valid")]
    [TestCase("INSERT INTO platform.usage_metrics (metric_type, metric_value, metric_unit, period_start, period_end) VALUES ('egress', 1, 'gigabytes', now(), now() + interval '1 h')", "usage_metrics_unit_valid")]
    [TestCase("INSERT INTO platform.usage_metrics (metric_type, metric_value, metric_unit, period_start, period_end) VALUES ('egress', -1, 'bytes', now(), now() + interval '1 h')", "usage_metrics_value_valid")]
    [TestCase("INSERT INTO platform.usage_metrics (metric_type, metric_value, metric_unit, period_start, period_end) VALUES ('egress', 1, 'bytes', now(), now())", "usage_metrics_period_valid")]
    [TestCase("INSERT INTO platform.addons (project_id, addon_type, addon_variant) VALUES ('{P}', 'backup', 'v')", "addons_type_valid")]
    [TestCase("INSERT INTO platform.addons (project_id, addon_type, addon_variant, quantity) VALUES ('{P}', 'pitr', 'v', 0)", "addons_quantity_valid")]
    [TestCase("INSERT INTO platform.addons (project_id, addon_type, addon_variant, price_per_unit) VALUES ('{P}', 'pitr', 'v', -0.01)", "addons_price_valid")]
    [TestCase("INSERT INTO platform.customer_profiles (organization_id, country) VALUES ('{A}', 'GBR')", "customer_profiles_country_valid")]
    [TestCase("INSERT INTO platform.credits (organization_id, amount, remaining) VALUES ('{A}', 0, 0)", "credits_amount_valid")]
    [TestCase("INSERT INTO platform.credits (organization_id, amount, remaining) VALUES ('{A}', 10, 11)", "credits_remaining_valid")]
    [TestCase("INSERT INTO platform.credits (organization_id, amount, remaining, status) VALUES ('{A}', 10, 1, 'refunded')", "credits_status_valid")]
    [TestCase("INSERT INTO platform.disk_config (project_id, size_gb) VALUES ('{P}', 7)", "disk_config_size_valid")]
    [TestCase("INSERT INTO platform.disk_config (project_id, io_budget) VALUES ('{P}', 2399)", "disk_config_io_valid")]
    [TestCase("INSERT INTO platform.disk_config (project_id, autoscale_enabled) VALUES ('{P}', true)", "disk_config_autoscale_valid")]
    [TestCase("INSERT INTO platform.disk_config (project_id, autoscale_enabled, autoscale_limit_gb) VALUES ('{P}', true, 8)", "disk_config_autoscale_valid")]
    [TestCase("INSERT INTO platform.compute_config (project_id, instance_size) VALUES ('{P}', 'huge')", "compute_config_instance_valid")]
    [TestCase("INSERT INTO platform.compute_config (project_id, architecture) VALUES ('{P}', 'mips')", "compute_config_arch_valid")]
    public async Task Check_constraints_reject_bad_values(string statement, string constraint)
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await InsertProjectAsync(db, OrgA, "p-one", "ACTIVE_HEALTHY");
        var projectId = await db.ScalarAsync<Guid>("SELECT id FROM platform.projects");

        var error = Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(statement.Replace("{A}", OrgA).Replace("{P}", projectId.ToString())));
        Assert.That((error!.SqlState, error.ConstraintName), Is.EqualTo((PostgresErrorCodes.CheckViolation, constraint)));
    }

    [Test]
    public async Task Check_constraints_accept_the_loose_values_the_original_accepts()
    {
        await using var db = await MigratedAsync("2");
        await SeedOrganizationsAsync(db);
        await InsertProjectAsync(db, OrgA, "p-one", "ACTIVE_HEALTHY");

        // §12.39: an enabled spend cap without an amount passes; §12.42: usage rows may belong to nobody.
        await db.ExecuteAsync($"""
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, spend_cap_enabled) VALUES ('{OrgA}', 'tier_pro', 'Pro', true);
            INSERT INTO platform.usage_metrics (metric_type, metric_value, metric_unit, period_start, period_end) VALUES ('egress', 0, 'bytes', now(), now() + interval '1 h');
            INSERT INTO platform.tax_ids (organization_id, type, value, country) VALUES ('{OrgA}', 'anything_goes', 'X', NULL);
            INSERT INTO platform.disk_config (project_id, size_gb, autoscale_enabled, autoscale_limit_gb) SELECT id, 10000, true, 10001 FROM platform.projects;
            INSERT INTO platform.credits (organization_id, amount, remaining) VALUES ('{OrgA}', 0.01, 0);
            """);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.subscriptions WHERE spend_cap_enabled AND spend_cap_amount IS NULL"), Is.EqualTo(1));
    }

    [Test]
    public async Task Seed_blocks_change_nothing_on_a_fresh_database()
    {
        await using var db = await MigratedAsync("2");
        Assert.That(await db.ScalarAsync<long>(string.Join(" + ", Tables.Select(t => $"(SELECT count(*) FROM platform.{t})")).Insert(0, "SELECT ")), Is.Zero);
    }

    [Test]
    public async Task Seed_blocks_give_org_1_a_free_subscription_and_project_default_its_disk_and_compute_once()
    {
        await using var db = await MigratedAsync("1");
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{OrgA}', 'Org 1', 'org-1'), ('{OrgB}', 'Other', 'other')");
        await InsertProjectAsync(db, OrgA, "default", "ACTIVE_HEALTHY");
        await InsertProjectAsync(db, OrgB, "other", "ACTIVE_HEALTHY");
        await UpAsync(db, "2");

        const string subscriptions = """
            SELECT concat_ws(' ', o.slug, s.plan_id, s.plan_name, s.status, s.usage_billing_enabled, s.spend_cap_enabled, coalesce(s.spend_cap_amount::text, 'null'))
            FROM platform.subscriptions s JOIN platform.organizations o ON o.id = s.organization_id
            """;
        const string disks = """
            SELECT concat_ws(' ', p.ref, d.size_gb, d.io_budget, d.autoscale_enabled, coalesce(d.autoscale_limit_gb::text, 'null'), d.status)
            FROM platform.disk_config d JOIN platform.projects p ON p.id = d.project_id
            """;
        const string computes = """
            SELECT concat_ws(' ', p.ref, c.instance_size, c.cpu_cores, c.memory_gb, c.architecture, c.is_dedicated, c.status)
            FROM platform.compute_config c JOIN platform.projects p ON p.id = c.project_id
            """;
        List<string> expectedSubscriptions = ["org-1 tier_free Free active f t null"];
        List<string> expectedDisks = ["default 8 2400 f null active"];
        List<string> expectedComputes = ["default micro 2.0 1.0 arm f active"];
        Assert.That(await db.ColumnAsync(subscriptions), Is.EqualTo(expectedSubscriptions));
        Assert.That(await db.ColumnAsync(disks), Is.EqualTo(expectedDisks));
        Assert.That(await db.ColumnAsync(computes), Is.EqualTo(expectedComputes));

        // Running the blocks again, even after the seeded rows were edited, neither duplicates nor overwrites them.
        await db.ExecuteAsync("UPDATE platform.subscriptions SET plan_id = 'tier_pro'; UPDATE platform.disk_config SET size_gb = 9; UPDATE platform.compute_config SET instance_size = 'small'");
        await db.ExecuteAsync(M002_AddBillingSchema.SeedOrg1SubscriptionSql);
        await db.ExecuteAsync(M002_AddBillingSchema.SeedDefaultProjectConfigSql);
        Assert.That(await db.ColumnAsync("SELECT plan_id FROM platform.subscriptions"), Is.EqualTo(new List<string> { "tier_pro" }));
        Assert.That(await db.ColumnAsync("SELECT size_gb FROM platform.disk_config"), Is.EqualTo(new List<string> { "9" }));
        Assert.That(await db.ColumnAsync("SELECT instance_size FROM platform.compute_config"), Is.EqualTo(new List<string> { "small" }));
    }

    [Test]
    public async Task Rollback_to_0_after_version_2_drops_schema_platform_and_the_extension_the_migrations_created()
    {
        await using var db = await TestDatabase.CreateAsync();
        Assert.That(await ExtensionExistsAsync(db), Is.False, "the test needs a database without uuid-ossp");
        await UpAsync(db, "2");

        var down = await db.RunAsync("rollback", "0");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'platform')"), Is.False);
        Assert.That(await ExtensionExistsAsync(db), Is.False);
        Assert.That(await db.ScalarAsync<long>($"SELECT count(*) FROM {CreatedObjects.Table}"), Is.Zero);
    }

    [Test]
    public async Task Rollback_to_0_after_version_2_keeps_a_uuid_ossp_that_existed_before()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE EXTENSION \"uuid-ossp\"");
        await UpAsync(db, "2");

        var down = await db.RunAsync("rollback", "0");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'platform')"), Is.False);
        Assert.That(await ExtensionExistsAsync(db), Is.True);
    }

    [Test]
    public async Task Rollback_to_1_restores_exactly_the_version_1_catalog()
    {
        await using var reference = await MigratedAsync("1");
        await using var db = await MigratedAsync("2");

        var down = await db.RunAsync("rollback", "1");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(await Catalog.SnapshotAsync(reference)));
    }

    [Test]
    public async Task Up_down_up_of_versions_1_to_2_gives_an_identical_catalog()
    {
        await using var db = await MigratedAsync("2");
        var first = await Catalog.SnapshotAsync(db);

        var down = await db.RunAsync("rollback", "0");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await Catalog.SnapshotAsync(db), Does.Contain("schema platform absent"));

        await UpAsync(db, "2");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(first));
    }

    [Test]
    public async Task Rollback_manifest_lists_exactly_the_tables_of_version_2_and_guards_seeded_rows()
    {
        await using var db = await MigratedAsync("1");
        var before = await db.ColumnAsync("SELECT relname FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relkind = 'r'");
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{OrgA}', 'Org 1', 'org-1')");
        await UpAsync(db, "2");
        var added = (await db.ColumnAsync("SELECT relname FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relkind = 'r'")).Except(before);

        Assert.That(added, Does.Contain("subscriptions"));

        var refused = await db.RunAsync("rollback", "1");
        Assert.That(refused.ExitCode, Is.Not.EqualTo(0), refused.ToString());
        Assert.That(refused.ToString(), Does.Contain("table platform.subscriptions (1 row)"));
        Assert.That(await Catalog.ExistsAsync(db, "platform.subscriptions"), Is.True);

        var allowed = await db.RunAsync("rollback", "1", "--allow-data-loss");
        Assert.That(allowed.ExitCode, Is.EqualTo(0), allowed.ToString());
        Assert.That(await Catalog.ExistsAsync(db, "platform.subscriptions"), Is.False);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.organizations"), Is.EqualTo(1));
    }

    private static async Task SeedOrganizationsAsync(TestDatabase db) =>
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{OrgA}', 'Acme', 'acme'), ('{OrgB}', 'Beta', 'beta')");

    private static async Task<List<string>> ViewColumnsAsync(TestDatabase db, string view)
    {
        Assert.That(await db.ScalarAsync<string>($"SELECT relkind::text FROM pg_class WHERE oid = 'platform.{view}'::regclass"), Is.EqualTo("v"), view);
        await db.ExecuteAsync($"SELECT * FROM platform.{view}");
        return (await Catalog.ColumnsAsync(db, "platform." + view)).Select(c => $"{c.Name} {c.Type}").ToList();
    }

    private static Dictionary<string, string> Indexes(string table, params (string Name, string Unique, string Definition)[] indexes) =>
        indexes.ToDictionary(
            i => i.Name,
            i => $"CREATE {(i.Unique.Length > 0 ? "UNIQUE " : "")}INDEX {i.Name} ON platform.{table} USING btree {i.Definition}");
}
