using System.Data;
using FluentMigrator;
using FluentMigrator.Builders.Create.Table;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// docs/schema-facts.md §2: subscriptions, invoices, payment methods, tax ids, usage metrics, add-ons, customer profiles,
/// credits and disk/compute configuration, with the billing helpers and views, rebuilt as they exist in production.
/// </summary>
[Migration(Version, "billing, usage and resource configuration")]
[PresenceProbe(PresenceOf.Table, "platform.subscriptions")]
public sealed class M002_AddBillingSchema : Migration
{
    private const long Version = 2;
    private const string S = Platform.Schema;

    /// <summary>§2.14, first block: a no-op unless an organization with slug <c>org-1</c> exists and has no subscription.</summary>
    public const string SeedOrg1SubscriptionSql = """
        INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name, status, usage_billing_enabled, spend_cap_enabled)
        SELECT o.id, 'tier_free', 'Free', 'active', false, true
        FROM platform.organizations o
        WHERE o.slug = 'org-1'
          AND NOT EXISTS (SELECT 1 FROM platform.subscriptions s WHERE s.organization_id = o.id);
        """;

    /// <summary>§2.14, second block: a no-op unless a project with ref <c>default</c> exists and lacks the row.</summary>
    public const string SeedDefaultProjectConfigSql = """
        INSERT INTO platform.disk_config (project_id, size_gb, io_budget, autoscale_enabled, status)
        SELECT p.id, 8, 2400, false, 'active'
        FROM platform.projects p
        WHERE p.ref = 'default'
          AND NOT EXISTS (SELECT 1 FROM platform.disk_config d WHERE d.project_id = p.id);

        INSERT INTO platform.compute_config (project_id, instance_size, cpu_cores, memory_gb, architecture, is_dedicated, status)
        SELECT p.id, 'micro', 2.0, 1.0, 'arm', false, 'active'
        FROM platform.projects p
        WHERE p.ref = 'default'
          AND NOT EXISTS (SELECT 1 FROM platform.compute_config c WHERE c.project_id = p.id);
        """;

    private static readonly RawSql NewUuid = RawSql.Insert("uuid_generate_v4()");
    private static readonly RawSql Now = RawSql.Insert("now()");

    private static readonly string[] UpdatedAtTables =
    [
        "subscriptions", "invoices", "payment_methods", "tax_ids", "addons", "customer_profiles", "credits", "disk_config", "compute_config",
    ];

    public override void Up()
    {
        Execute.Sql(CreatedObjects.CreateExtensionIfAbsent("uuid-ossp", Version));

        CreateSubscriptions();
        CreateInvoices();
        CreatePaymentMethods();
        CreateTaxIds();
        CreateUsageMetrics();
        CreateAddons();
        CreateCustomerProfiles();
        CreateCredits();
        CreateDiskConfig();
        CreateComputeConfig();

        foreach (var table in UpdatedAtTables)
        {
            Execute.Sql($"""
                CREATE TRIGGER update_{table}_updated_at
                  BEFORE UPDATE ON platform.{table}
                  FOR EACH ROW EXECUTE FUNCTION platform.update_updated_at_column();
                """);
        }

        CreateFunctions();
        CreateViews();

        Execute.Sql(SeedOrg1SubscriptionSql);
        Execute.Sql(SeedDefaultProjectConfigSql);

        // §2.15: no grants. 001's SELECT-to-PUBLIC was a one-shot and does not reach these tables.
    }

    public override void Down()
    {
        Execute.Sql("""
            DROP VIEW platform.project_resources;
            DROP VIEW platform.organization_billing_overview;
            DROP VIEW platform.subscriptions_with_orgs;
            DROP FUNCTION platform.is_free_tier(uuid);
            DROP FUNCTION platform.get_available_credits(uuid);
            DROP FUNCTION platform.calculate_usage_cost(uuid, timestamptz, timestamptz);
            DROP FUNCTION platform.get_active_subscription(uuid);
            """);
        foreach (var table in Enumerable.Reverse(UpdatedAtTables))
        {
            Execute.Sql($"DROP TRIGGER update_{table}_updated_at ON platform.{table};");
        }

        foreach (var table in new[]
                 {
                     "compute_config", "disk_config", "credits", "customer_profiles", "addons",
                     "usage_metrics", "tax_ids", "payment_methods", "invoices", "subscriptions",
                 })
        {
            Delete.Table(table).InSchema(S);
        }

        Execute.Sql(CreatedObjects.DropExtensionIfCreated("uuid-ossp", Version));
    }

    private void CreateSubscriptions()
    {
        Table("subscriptions")
            .WithColumn("organization_id").AsGuid().NotNullable().ForeignKey("subscriptions_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("plan_id").AsString().NotNullable()
            .WithColumn("plan_name").AsString().NotNullable()
            .WithColumn("status").AsString().NotNullable().WithDefaultValue("active")
            .WithColumn("billing_cycle_anchor").AsInt64().Nullable()
            .WithColumn("current_period_start").AsInt64().Nullable()
            .WithColumn("current_period_end").AsInt64().Nullable()
            .WithColumn("next_invoice_at").AsInt64().Nullable()
            .WithColumn("usage_billing_enabled").AsBoolean().Nullable().WithDefaultValue(true)
            .WithColumn("spend_cap_enabled").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("spend_cap_amount").AsDecimal(10, 2).Nullable()
            .WithColumn("customer_balance").AsDecimal(10, 2).Nullable().WithDefaultValue(0)
            .WithColumn("billing_via_partner").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("billing_partner").AsString().Nullable()
            .WithColumn("cached_egress_enabled").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("stripe_customer_id").AsString().Nullable()
            .WithColumn("stripe_subscription_id").AsString().Nullable()
            .Timestamps();

        Create.PlatformUnique("subscriptions_organization_id_key", "subscriptions", "organization_id");

        Execute.Sql("""
            ALTER TABLE platform.subscriptions
              ADD CONSTRAINT subscriptions_plan_id_valid CHECK (plan_id IN ('tier_free', 'tier_pro', 'tier_team', 'tier_enterprise')),
              ADD CONSTRAINT subscriptions_status_valid CHECK (status IN ('active', 'canceled', 'past_due', 'trialing', 'unpaid', 'incomplete')),
              ADD CONSTRAINT subscriptions_spend_cap_valid CHECK (NOT spend_cap_enabled OR spend_cap_amount > 0);
            """);

        Create.PlatformIndex("idx_subscriptions_org", "subscriptions", "organization_id");
        Create.PlatformIndex("idx_subscriptions_status", "subscriptions", "status");
        Create.PlatformIndex("idx_subscriptions_plan", "subscriptions", "plan_id");
        Create.PlatformIndex("idx_subscriptions_stripe_customer", "subscriptions", "stripe_customer_id");
        Create.PlatformIndex("idx_subscriptions_next_invoice", "subscriptions", "next_invoice_at");
    }

    private void CreateInvoices()
    {
        Table("invoices")
            .WithColumn("organization_id").AsGuid().NotNullable().ForeignKey("invoices_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("stripe_invoice_id").AsString().Nullable()
            .WithColumn("invoice_number").AsString().Nullable()
            .WithColumn("amount_due").AsDecimal(10, 2).NotNullable()
            .WithColumn("amount_paid").AsDecimal(10, 2).Nullable().WithDefaultValue(0)
            .WithColumn("amount_remaining").AsDecimal(10, 2).Nullable()
            .WithColumn("currency").AsString().Nullable().WithDefaultValue("usd")
            .WithColumn("status").AsString().NotNullable()
            .WithColumn("period_start").AsInt64().Nullable()
            .WithColumn("period_end").AsInt64().Nullable()
            .WithColumn("due_date").AsInt64().Nullable()
            .WithColumn("paid_at").AsInt64().Nullable()
            .WithColumn("invoice_pdf").AsString().Nullable()
            .WithColumn("hosted_invoice_url").AsString().Nullable()
            .Timestamps();

        Create.PlatformUnique("invoices_stripe_invoice_id_key", "invoices", "stripe_invoice_id");

        Execute.Sql("""
            ALTER TABLE platform.invoices
              ADD CONSTRAINT invoices_amount_valid CHECK (amount_due >= 0),
              ADD CONSTRAINT invoices_currency_valid CHECK (currency ~ '^[a-z]{3}$'),
              ADD CONSTRAINT invoices_status_valid CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible'));
            """);

        Create.PlatformIndex("idx_invoices_org", "invoices", "organization_id");
        Create.PlatformIndex("idx_invoices_status", "invoices", "status");
        Create.PlatformIndex("idx_invoices_stripe", "invoices", "stripe_invoice_id");
        Create.PlatformIndex("idx_invoices_period", "invoices", "period_start", "period_end");
        Execute.Sql("CREATE INDEX idx_invoices_created_at ON platform.invoices (created_at DESC);");
    }

    private void CreatePaymentMethods()
    {
        Table("payment_methods")
            .WithColumn("organization_id").AsGuid().NotNullable().ForeignKey("payment_methods_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("stripe_payment_method_id").AsString().NotNullable()
            .WithColumn("type").AsString().NotNullable()
            .WithColumn("is_default").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("card_brand").AsString().Nullable()
            .WithColumn("card_last4").AsString().Nullable()
            .WithColumn("card_exp_month").AsInt32().Nullable()
            .WithColumn("card_exp_year").AsInt32().Nullable()
            .WithColumn("billing_details").AsCustom("jsonb").Nullable()
            .Timestamps();

        Create.PlatformUnique("payment_methods_stripe_payment_method_id_key", "payment_methods", "stripe_payment_method_id");

        Execute.Sql("""
            ALTER TABLE platform.payment_methods
              ADD CONSTRAINT payment_methods_type_valid CHECK (type IN ('card', 'bank_account', 'sepa_debit', 'us_bank_account')),
              ADD CONSTRAINT payment_methods_card_exp_month_valid CHECK (card_exp_month IS NULL OR (card_exp_month >= 1 AND card_exp_month <= 12)),
              ADD CONSTRAINT payment_methods_card_exp_year_valid CHECK (card_exp_year IS NULL OR card_exp_year >= 2020);
            """);

        Create.PlatformIndex("idx_payment_methods_org", "payment_methods", "organization_id");
        Execute.Sql("CREATE INDEX idx_payment_methods_default ON platform.payment_methods (organization_id, is_default) WHERE is_default = true;");
    }

    private void CreateTaxIds()
    {
        Table("tax_ids")
            .WithColumn("organization_id").AsGuid().NotNullable().ForeignKey("tax_ids_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("type").AsString().NotNullable()
            .WithColumn("value").AsString().NotNullable()
            .WithColumn("country").AsString().Nullable()
            .WithColumn("status").AsString().Nullable().WithDefaultValue("active")
            .Timestamps();

        Create.PlatformUnique("tax_ids_organization_id_type_value_key", "tax_ids", "organization_id", "type", "value");

        Execute.Sql("""
            ALTER TABLE platform.tax_ids
              ADD CONSTRAINT tax_ids_country_valid CHECK (country IS NULL OR country ~ '^[A-Z]{2}$'),
              ADD CONSTRAINT tax_ids_status_valid CHECK (status IN ('active', 'deleted'));
            """);

        Create.PlatformIndex("idx_tax_ids_org", "tax_ids", "organization_id");
        Create.PlatformIndex("idx_tax_ids_status", "tax_ids", "status");
    }

    private void CreateUsageMetrics()
    {
        // The only table here without updated_at (and so without the trigger): rows are written once.
        Table("usage_metrics")
            .WithColumn("organization_id").AsGuid().Nullable().ForeignKey("usage_metrics_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("project_id").AsGuid().Nullable().ForeignKey("usage_metrics_project_id_fkey", S, "projects", "id").OnDelete(Rule.Cascade)
            .WithColumn("metric_type").AsString().NotNullable()
            .WithColumn("metric_value").AsCustom("numeric").NotNullable()
            .WithColumn("metric_unit").AsString().NotNullable()
            .WithColumn("period_start").AsDateTimeOffset().NotNullable()
            .WithColumn("period_end").AsDateTimeOffset().NotNullable()
            .WithColumn("cost").AsDecimal(10, 2).Nullable()
            .WithColumn("metadata").AsCustom("jsonb").Nullable()
            .WithColumn("created_at").AsDateTimeOffset().Nullable().WithDefaultValue(Now);

        Execute.Sql("""
            ALTER TABLE platform.usage_metrics
              ADD CONSTRAINT usage_metrics_type_valid CHECK (metric_type IN (
                'database_size', 'egress', 'storage', 'auth_users', 'realtime_connections', 'realtime_messages',
                'storage_images_transformed', 'function_invocations', 'function_count', 'compute_hours')),
              ADD CONSTRAINT usage_metrics_value_valid CHECK (metric_value >= 0),
              ADD CONSTRAINT usage_metrics_unit_valid CHECK (metric_unit IN (
                'bytes', 'hours', 'requests', 'users', 'connections', 'messages', 'invocations', 'count')),
              ADD CONSTRAINT usage_metrics_period_valid CHECK (period_end > period_start);
            """);

        Create.PlatformIndex("idx_usage_org_period", "usage_metrics", "organization_id", "period_start");
        Create.PlatformIndex("idx_usage_project_period", "usage_metrics", "project_id", "period_start");
        Create.PlatformIndex("idx_usage_type", "usage_metrics", "metric_type");
        Execute.Sql("CREATE INDEX idx_usage_created_at ON platform.usage_metrics (created_at DESC);");
        Create.PlatformIndex("idx_usage_org_type_period", "usage_metrics", "organization_id", "metric_type", "period_start");
    }

    private void CreateAddons()
    {
        Table("addons")
            .WithColumn("project_id").AsGuid().NotNullable().ForeignKey("addons_project_id_fkey", S, "projects", "id").OnDelete(Rule.Cascade)
            .WithColumn("addon_type").AsString().NotNullable()
            .WithColumn("addon_variant").AsString().NotNullable()
            .WithColumn("quantity").AsInt32().Nullable().WithDefaultValue(1)
            .WithColumn("price_per_unit").AsDecimal(10, 2).Nullable()
            .WithColumn("metadata").AsCustom("jsonb").Nullable()
            .WithColumn("status").AsString().Nullable().WithDefaultValue("active")
            .WithColumn("activated_at").AsDateTimeOffset().Nullable().WithDefaultValue(Now)
            .WithColumn("deactivated_at").AsDateTimeOffset().Nullable()
            .Timestamps();

        Execute.Sql("""
            ALTER TABLE platform.addons
              ADD CONSTRAINT addons_type_valid CHECK (addon_type IN ('pitr', 'custom_domain', 'ipv4', 'compute_instance', 'disk_expansion')),
              ADD CONSTRAINT addons_quantity_valid CHECK (quantity > 0),
              ADD CONSTRAINT addons_price_valid CHECK (price_per_unit IS NULL OR price_per_unit >= 0),
              ADD CONSTRAINT addons_status_valid CHECK (status IN ('active', 'inactive'));
            """);

        Create.PlatformIndex("idx_addons_project", "addons", "project_id");
        Create.PlatformIndex("idx_addons_status", "addons", "status");
        Create.PlatformIndex("idx_addons_type", "addons", "addon_type");
    }

    private void CreateCustomerProfiles()
    {
        Table("customer_profiles")
            .WithColumn("organization_id").AsGuid().NotNullable().ForeignKey("customer_profiles_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("company_name").AsString().Nullable()
            .WithColumn("address_line1").AsString().Nullable()
            .WithColumn("address_line2").AsString().Nullable()
            .WithColumn("city").AsString().Nullable()
            .WithColumn("state").AsString().Nullable()
            .WithColumn("postal_code").AsString().Nullable()
            .WithColumn("country").AsString().Nullable()
            .WithColumn("tax_id").AsString().Nullable()
            .Timestamps();

        Create.PlatformUnique("customer_profiles_organization_id_key", "customer_profiles", "organization_id");

        Execute.Sql("ALTER TABLE platform.customer_profiles ADD CONSTRAINT customer_profiles_country_valid CHECK (country IS NULL OR country ~ '^[A-Z]{2}$');");

        Create.PlatformIndex("idx_customer_profiles_org", "customer_profiles", "organization_id");
    }

    private void CreateCredits()
    {
        Table("credits")
            .WithColumn("organization_id").AsGuid().NotNullable().ForeignKey("credits_organization_id_fkey", S, "organizations", "id").OnDelete(Rule.Cascade)
            .WithColumn("amount").AsDecimal(10, 2).NotNullable()
            .WithColumn("remaining").AsDecimal(10, 2).NotNullable()
            .WithColumn("description").AsString().Nullable()
            .WithColumn("status").AsString().NotNullable().WithDefaultValue("active")
            .WithColumn("expires_at").AsDateTimeOffset().Nullable()
            .Timestamps();

        Execute.Sql("""
            ALTER TABLE platform.credits
              ADD CONSTRAINT credits_amount_valid CHECK (amount > 0),
              ADD CONSTRAINT credits_remaining_valid CHECK (remaining >= 0 AND remaining <= amount),
              ADD CONSTRAINT credits_status_valid CHECK (status IN ('active', 'consumed', 'expired'));
            """);

        Create.PlatformIndex("idx_credits_org", "credits", "organization_id");
        Execute.Sql("CREATE INDEX idx_credits_expires ON platform.credits (expires_at) WHERE expires_at IS NOT NULL;");
    }

    private void CreateDiskConfig()
    {
        Table("disk_config")
            .WithColumn("project_id").AsGuid().NotNullable().ForeignKey("disk_config_project_id_fkey", S, "projects", "id").OnDelete(Rule.Cascade)
            .WithColumn("size_gb").AsInt32().NotNullable().WithDefaultValue(8)
            .WithColumn("io_budget").AsInt32().NotNullable().WithDefaultValue(2400)
            .WithColumn("autoscale_enabled").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("autoscale_limit_gb").AsInt32().Nullable()
            .WithColumn("status").AsString().Nullable().WithDefaultValue("active")
            .Timestamps();

        Create.PlatformUnique("disk_config_project_id_key", "disk_config", "project_id");

        Execute.Sql("""
            ALTER TABLE platform.disk_config
              ADD CONSTRAINT disk_config_size_valid CHECK (size_gb >= 8 AND size_gb <= 10000),
              ADD CONSTRAINT disk_config_io_valid CHECK (io_budget >= 2400),
              ADD CONSTRAINT disk_config_autoscale_valid CHECK (NOT autoscale_enabled OR (autoscale_limit_gb IS NOT NULL AND autoscale_limit_gb > size_gb)),
              ADD CONSTRAINT disk_config_status_valid CHECK (status IN ('active', 'inactive', 'upgrading'));
            """);

        Create.PlatformIndex("idx_disk_config_project", "disk_config", "project_id");
    }

    private void CreateComputeConfig()
    {
        Table("compute_config")
            .WithColumn("project_id").AsGuid().NotNullable().ForeignKey("compute_config_project_id_fkey", S, "projects", "id").OnDelete(Rule.Cascade)
            .WithColumn("instance_size").AsString().NotNullable().WithDefaultValue("micro")
            .WithColumn("cpu_cores").AsDecimal(3, 1).Nullable()
            .WithColumn("memory_gb").AsDecimal(4, 1).Nullable()
            .WithColumn("architecture").AsString().Nullable()
            .WithColumn("is_dedicated").AsBoolean().Nullable().WithDefaultValue(false)
            .WithColumn("status").AsString().Nullable().WithDefaultValue("active")
            .Timestamps();

        Create.PlatformUnique("compute_config_project_id_key", "compute_config", "project_id");

        Execute.Sql("""
            ALTER TABLE platform.compute_config
              ADD CONSTRAINT compute_config_instance_valid CHECK (instance_size IN (
                'nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge', '4xlarge', '8xlarge', '12xlarge', '16xlarge')),
              ADD CONSTRAINT compute_config_arch_valid CHECK (architecture IS NULL OR architecture IN ('arm', 'amd', 'x86_64')),
              ADD CONSTRAINT compute_config_status_valid CHECK (status IN ('active', 'inactive', 'upgrading'));
            """);

        Create.PlatformIndex("idx_compute_config_project", "compute_config", "project_id");
        Create.PlatformIndex("idx_compute_config_size", "compute_config", "instance_size");
    }

    private void CreateFunctions()
    {
        Execute.Sql("""
            CREATE FUNCTION platform.get_active_subscription(org_id uuid) RETURNS platform.subscriptions
            LANGUAGE sql STABLE
            AS $fn$
              SELECT * FROM platform.subscriptions WHERE organization_id = org_id AND status = 'active';
            $fn$;

            CREATE FUNCTION platform.calculate_usage_cost(org_id uuid, start_period timestamptz, end_period timestamptz) RETURNS numeric
            LANGUAGE sql STABLE
            AS $fn$
              SELECT coalesce(sum(cost), 0)
              FROM platform.usage_metrics
              WHERE organization_id = org_id AND period_start >= start_period AND period_end <= end_period;
            $fn$;

            CREATE FUNCTION platform.get_available_credits(org_id uuid) RETURNS numeric
            LANGUAGE sql STABLE
            AS $fn$
              SELECT coalesce(sum(remaining), 0)
              FROM platform.credits
              WHERE organization_id = org_id AND status = 'active' AND (expires_at IS NULL OR expires_at > now());
            $fn$;

            CREATE FUNCTION platform.is_free_tier(org_id uuid) RETURNS boolean
            LANGUAGE sql STABLE
            AS $fn$
              SELECT EXISTS (
                SELECT 1 FROM platform.subscriptions
                WHERE organization_id = org_id AND plan_id = 'tier_free' AND status = 'active');
            $fn$;
            """);
    }

    private void CreateViews()
    {
        Execute.Sql("""
            CREATE VIEW platform.subscriptions_with_orgs AS
            SELECT s.id, s.organization_id, o.name AS organization_name, o.slug AS organization_slug,
                   s.plan_id, s.plan_name, s.status, s.billing_cycle_anchor, s.current_period_start, s.current_period_end,
                   s.next_invoice_at, s.usage_billing_enabled, s.spend_cap_enabled, s.spend_cap_amount, s.customer_balance,
                   s.billing_via_partner, s.billing_partner, s.stripe_customer_id, s.stripe_subscription_id,
                   s.created_at, s.updated_at
            FROM platform.subscriptions s
            JOIN platform.organizations o ON o.id = s.organization_id;
            """);

        // Reproduced as built (docs/schema-facts.md §12.23): projects and invoices are joined side by side, so outstanding_balance
        // counts each open invoice once per project of the organization.
        Execute.Sql("""
            CREATE VIEW platform.organization_billing_overview AS
            SELECT o.id AS organization_id, o.name AS organization_name, o.slug AS organization_slug,
                   s.plan_id, s.plan_name, s.status AS subscription_status, s.customer_balance,
                   count(DISTINCT p.id) AS project_count,
                   count(DISTINCT i.id) FILTER (WHERE i.status = 'open') AS open_invoices,
                   coalesce(sum(i.amount_due) FILTER (WHERE i.status = 'open'), 0) AS outstanding_balance,
                   platform.get_available_credits(o.id) AS available_credits
            FROM platform.organizations o
            LEFT JOIN platform.subscriptions s ON s.organization_id = o.id
            LEFT JOIN platform.projects p ON p.organization_id = o.id
            LEFT JOIN platform.invoices i ON i.organization_id = o.id
            GROUP BY o.id, o.name, o.slug, s.plan_id, s.plan_name, s.status, s.customer_balance;
            """);

        Execute.Sql("""
            CREATE VIEW platform.project_resources AS
            SELECT p.id AS project_id, p.ref AS project_ref, p.name AS project_name, p.organization_id, p.status AS project_status,
                   d.size_gb AS disk_size_gb, d.io_budget AS disk_io_budget, d.autoscale_enabled AS disk_autoscale,
                   c.instance_size, c.cpu_cores, c.memory_gb, c.architecture, c.is_dedicated,
                   count(a.id) FILTER (WHERE a.status = 'active') AS active_addons_count
            FROM platform.projects p
            LEFT JOIN platform.disk_config d ON d.project_id = p.id
            LEFT JOIN platform.compute_config c ON c.project_id = p.id
            LEFT JOIN platform.addons a ON a.project_id = p.id
            GROUP BY p.id, p.ref, p.name, p.organization_id, p.status, d.size_gb, d.io_budget, d.autoscale_enabled,
                     c.instance_size, c.cpu_cores, c.memory_gb, c.architecture, c.is_dedicated;
            """);
    }

    /// <summary>Starts a table with the id column every §2 table shares.</summary>
    private ICreateTableWithColumnSyntax Table(string name) =>
        Create.Table(name).InSchema(S)
            .WithColumn("id").AsGuid().NotNullable().WithDefaultValue(NewUuid).PrimaryKey($"{name}_pkey");

}

internal static class M002TableExtensions
{
    /// <summary>§2's created_at/updated_at pair: nullable, defaulting to now().</summary>
    public static ICreateTableColumnOptionOrWithColumnSyntax Timestamps(this ICreateTableWithColumnSyntax table) =>
        table
            .WithColumn("created_at").AsDateTimeOffset().Nullable().WithDefaultValue(RawSql.Insert("now()"))
            .WithColumn("updated_at").AsDateTimeOffset().Nullable().WithDefaultValue(RawSql.Insert("now()"));
}
