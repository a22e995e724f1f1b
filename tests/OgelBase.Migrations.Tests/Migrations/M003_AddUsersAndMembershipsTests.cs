namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M003_AddUsersAndMembershipsTests
{
    private static readonly string[] Tables =
    [
        "users", "user_sessions", "organization_members", "project_members", "billing_plans", "project_addons",
        "project_metrics", "organization_invitations", "api_keys", "audit_logs", "feature_flags", "organization_feature_flags",
    ];

    /// <summary>Version 3 with organizations A (…a1) and B (…a2).</summary>
    private static async Task<TestDatabase> OrganizationsAAndBAsync()
    {
        var db = await TestDatabase.MigratedAsync("--to", "3");
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES
              ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a'), ('00000000-0000-0000-0000-0000000000a2', 'Org B', 'org-b');
            """);
        return db;
    }

    [Test]
    public async Task Migrate_up_to_3_comments_every_table_and_function_it_creates_and_enables_both_extensions()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
        foreach (var table in Tables)
        {
            var comment = await db.ScalarAsync<string?>($"SELECT obj_description('platform.{table}'::regclass, 'pg_class')");
            Assert.That(comment, Is.Not.Null.And.Not.Empty, table);
        }

        var uncommented = await db.ColumnAsync("""
            SELECT p.proname FROM pg_proc p
            WHERE p.proname IN ('is_organization_owner', 'has_project_access', 'get_active_feature_flags')
              AND p.pronamespace = 'platform'::regnamespace AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''
            """);
        Assert.That(uncommented, Is.Empty);

        Assert.That(await db.ColumnAsync("SELECT extname FROM pg_extension WHERE extname IN ('uuid-ossp', 'pgcrypto') ORDER BY 1"),
            Is.EqualTo(Rows.Of("pgcrypto", "uuid-ossp")));
    }

    [Test]
    public async Task Migrate_up_to_3_seeds_the_four_billing_plans_with_the_spec_prices_features_and_limits()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
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
        await using var db = await OrganizationsAAndBAsync();
        await db.ExecuteAsync("""
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
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
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
        await using var db = await OrganizationsAAndBAsync();
        await db.ExecuteAsync("""
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
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
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
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
        var refused = await db.RunAsync("rollback", "2");
        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain("table platform.billing_plans: 4 rows"));
        Assert.That(await Catalog.ExistsAsync(db, "platform.users"), Is.True, "nothing was changed");
    }

    [Test]
    public async Task Rollback_to_2_restores_the_exact_version_2_schema_and_up_again_rebuilds_the_same_version_3()
    {
        await using var reference = await TestDatabase.MigratedAsync("--to", "2");
        var at2 = await Catalog.SnapshotAsync(reference);

        await using var db = await TestDatabase.MigratedAsync("--to", "3");
        var at3 = await Catalog.SnapshotAsync(db);
        await db.RollbackAsync("2", "--allow-data-loss");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at2));
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.created_objects WHERE version = 3"), Is.Zero);

        await db.UpAsync("--to", "3");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(at3));
    }

    [Test]
    public async Task Rollback_to_2_keeps_a_pgcrypto_that_existed_before_version_3()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE EXTENSION pgcrypto");
        Assert.That((await db.RunAsync("migrate", "up", "--to", "3")).ExitCode, Is.EqualTo(0));
        await db.RollbackAsync("2", "--allow-data-loss");
        Assert.That(await Catalog.ExtensionExistsAsync(db, "pgcrypto"), Is.True);
        Assert.That(await Catalog.ExistsAsync(db, "platform.users"), Is.False);
    }
}
