using static OgelBase.Migrations.Tests.Support.PlatformRows;

namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M002_AddBillingSchemaTests
{
    private const string Tz = "timestamp with time zone";
    private const string OrgA = "00000000-0000-0000-0000-0000000000a1";
    private const string OrgB = "00000000-0000-0000-0000-0000000000b2";

    private static readonly string[] Tables =
    [
        "subscriptions", "invoices", "payment_methods", "tax_ids", "usage_metrics", "addons", "customer_profiles", "credits", "disk_config", "compute_config",
    ];

    [Test]
    public async Task Migrate_up_to_2_creates_the_three_views_with_their_exact_columns()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "2");
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
        await using var db = await TestDatabase.MigratedAsync("--to", "2");
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
        await using var db = await AcmeAndBetaAsync();
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
        await using var db = await AcmeAndBetaAsync();
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
        await using var db = await AcmeAndBetaAsync();
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
        await using var db = await AcmeAndBetaAsync(("p-one", "ACTIVE_HEALTHY"), ("p-two", "ACTIVE_HEALTHY"));
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
        await using var db = await AcmeAndBetaAsync(("p-one", "ACTIVE_HEALTHY"), ("p-bare", "PAUSED"));
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
        await using var db = await AcmeAndBetaAsync(("p-one", "ACTIVE_HEALTHY"));
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
        await using var db = await AcmeAndBetaAsync(("p-one", "ACTIVE_HEALTHY"));
        var projectId = await db.ScalarAsync<Guid>("SELECT id FROM platform.projects");

        var error = Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync(statement.Replace("{A}", OrgA).Replace("{P}", projectId.ToString())));
        Assert.That((error!.SqlState, error.ConstraintName), Is.EqualTo((PostgresErrorCodes.CheckViolation, constraint)));
    }

    [Test]
    public async Task Check_constraints_accept_the_loose_values_the_original_accepts()
    {
        await using var db = await AcmeAndBetaAsync(("p-one", "ACTIVE_HEALTHY"));

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
        await using var db = await TestDatabase.MigratedAsync("--to", "2");
        Assert.That(await db.ScalarAsync<long>(string.Join(" + ", Tables.Select(t => $"(SELECT count(*) FROM platform.{t})")).Insert(0, "SELECT ")), Is.Zero);
    }

    [Test]
    public async Task Seed_blocks_give_org_1_a_free_subscription_and_project_default_its_disk_and_compute_once()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{OrgA}', 'Org 1', 'org-1'), ('{OrgB}', 'Other', 'other')");
        await InsertProjectAsync(db, OrgA, "default", "ACTIVE_HEALTHY");
        await InsertProjectAsync(db, OrgB, "other", "ACTIVE_HEALTHY");
        await db.UpAsync("--to", "2");

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
    public Task Rollback_to_0_after_version_2_drops_schema_platform_and_the_extension_the_migrations_created() =>
        RoundTrips.AssertRollbackTo0DropsSchemaPlatformAndTheExtensionItCreatedAsync("2");

    [Test]
    public Task Rollback_to_0_after_version_2_keeps_a_uuid_ossp_that_existed_before() =>
        RoundTrips.AssertRollbackTo0KeepsAUuidOsspThatExistedBeforeAsync("2");

    [Test]
    public async Task Rollback_to_1_restores_exactly_the_version_1_catalog()
    {
        await using var reference = await TestDatabase.MigratedAsync("--to", "1");
        await using var db = await TestDatabase.MigratedAsync("--to", "2");

        await db.RollbackAsync("1");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(await Catalog.SnapshotAsync(reference)));
    }

    [Test]
    public Task Up_down_up_of_versions_1_to_2_gives_an_identical_catalog() =>
        RoundTrips.AssertUpDownUpGivesAnIdenticalCatalogAsync("2");

    [Test]
    public async Task Rollback_manifest_lists_exactly_the_tables_of_version_2_and_guards_seeded_rows()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "1");
        var before = await db.ColumnAsync("SELECT relname FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relkind = 'r'");
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{OrgA}', 'Org 1', 'org-1')");
        await db.UpAsync("--to", "2");
        var added = (await db.ColumnAsync("SELECT relname FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relkind = 'r'")).Except(before);

        Assert.That(added, Does.Contain("subscriptions"));

        await RoundTrips.AssertRollbackRefusesOverARowThenDropsWithAllowDataLossAsync(db, "1", "platform.subscriptions");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM platform.organizations"), Is.EqualTo(1));
    }

    /// <summary>Version 2 with organizations acme (<see cref="OrgA"/>) and beta (<see cref="OrgB"/>), and acme's projects.</summary>
    private static async Task<TestDatabase> AcmeAndBetaAsync(params (string Reference, string Status)[] acmeProjects)
    {
        var db = await TestDatabase.MigratedAsync("--to", "2");
        await db.ExecuteAsync($"INSERT INTO platform.organizations (id, name, slug) VALUES ('{OrgA}', 'Acme', 'acme'), ('{OrgB}', 'Beta', 'beta')");
        foreach (var (reference, status) in acmeProjects)
        {
            await InsertProjectAsync(db, OrgA, reference, status);
        }

        return db;
    }

    private static async Task<List<string>> ViewColumnsAsync(TestDatabase db, string view)
    {
        Assert.That(await db.ScalarAsync<string>($"SELECT relkind::text FROM pg_class WHERE oid = 'platform.{view}'::regclass"), Is.EqualTo("v"), view);
        await db.ExecuteAsync($"SELECT * FROM platform.{view}");
        return (await Catalog.ColumnsAsync(db, "platform." + view)).Select(c => $"{c.Name} {c.Type}").ToList();
    }
}
