using System.Text.Json;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>
/// Migration 7: held back unless opted in, and once applied it isolates organizations for every role that does not
/// bypass RLS. The isolation tests connect as real non-owner login roles: an "app" role that was granted the context
/// setters (how the application is meant to run) and a "plain" role that was not.
/// </summary>
public sealed class M007_AddSessionContextAndRestrictiveRlsTests
{
    private const string OrgA = "a0000000-0000-4000-8000-00000000000a";
    private const string OrgB = "b0000000-0000-4000-8000-00000000000b";
    private const string OwnerA = "a0000000-0000-4000-8000-0000000000a1";
    private const string MemberA = "a0000000-0000-4000-8000-0000000000a2";
    private const string OwnerB = "b0000000-0000-4000-8000-0000000000b1";
    private const string ProjectA = "a0000000-0000-4000-8000-0000000000c1";
    private const string ProjectB = "b0000000-0000-4000-8000-0000000000c1";

    private static bool Has8 => KnownMigrations.Find(8) is not null;

    /// <summary>
    /// Every table with an org-isolating policy, and the predicate that marks the rows the owner of org A may see.
    /// The test fails if a policy-covered table is missing here, so a new one cannot slip past isolation.
    /// </summary>
    private static readonly Dictionary<string, string> VisibleToOwnerA = new(StringComparer.Ordinal)
    {
        ["organizations"] = $"id = '{OrgA}'",
        ["organization_members"] = $"organization_id = '{OrgA}'",
        ["organization_invitations"] = $"organization_id = '{OrgA}'",
        ["organization_feature_flags"] = $"organization_id = '{OrgA}'",
        ["projects"] = $"organization_id = '{OrgA}'",
        ["project_members"] = $"project_id = '{ProjectA}'",
        ["project_addons"] = $"project_id = '{ProjectA}'",
        ["project_metrics"] = $"project_id = '{ProjectA}'",
        ["subscriptions"] = $"organization_id = '{OrgA}'",
        ["invoices"] = $"organization_id = '{OrgA}'",
        ["payment_methods"] = $"organization_id = '{OrgA}'",
        ["tax_ids"] = $"organization_id = '{OrgA}'",
        ["customer_profiles"] = $"organization_id = '{OrgA}'",
        ["credits"] = $"organization_id = '{OrgA}'",
        ["disk_config"] = $"project_id = '{ProjectA}'",
        ["compute_config"] = $"project_id = '{ProjectA}'",
        ["addons"] = $"project_id = '{ProjectA}'",
        ["usage_metrics"] = $"organization_id = '{OrgA}'",
        ["users"] = $"id = '{OwnerA}'",
        ["user_sessions"] = $"user_id = '{OwnerA}'",
        ["api_keys"] = $"organization_id = '{OrgA}'",
        ["audit_logs"] = $"organization_id = '{OrgA}'",
        ["credentials"] = $"project_id = '{ProjectA}'",
    };

    /// <summary>Catalogue tables every role may read by design (policies `*_public_read`).</summary>
    private static readonly string[] PublicCatalogues = ["billing_plans", "feature_flags"];

    // These tests are about 7 and its neighbour 8; they migrate to 8 so later versions (10 hardens grants and policies) do not shift their counts.
    [Test]
    public async Task Migrate_up_on_a_fresh_database_holds_7_back_and_status_json_explains_why()
    {
        await using var db = await TestDatabase.CreateAsync();
        var up = await db.UpAsync("--to", "8");
        Assert.That(up.Stderr, Does.Contain("held back (opt-in): 007"));

        var recorded = await db.ColumnAsync("SELECT version FROM ogelbase_migrations.version_info ORDER BY version");
        Assert.That(recorded, Does.Not.Contain("7"));
        if (Has8)
        {
            Assert.That(recorded, Does.Contain("8"), "migration 8 does not depend on 7 and is applied without it");
        }

        Assert.That(await db.ScalarAsync<bool>("SELECT to_regprocedure('platform.user_has_org_role(uuid,text)') IS NULL"), Is.True, "docs/schema-facts.md §11 probe for 7");
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regprocedure('platform.set_user_context(uuid,uuid)') IS NULL"), Is.True);
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regnamespace('platform_private') IS NULL"), Is.True);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_policies WHERE schemaname = 'platform' AND policyname LIKE 'permissive_all_%'"), Is.EqualTo(25));

        var status = await db.RunAsync("status", "--json");
        Assert.That(status.ExitCode, Is.EqualTo(0), status.ToString());
        using var json = JsonDocument.Parse(status.Stdout);
        var seven = json.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == 7);
        Assert.That(seven.GetProperty("state").GetString(), Is.EqualTo("held_back"));
        Assert.That(seven.GetProperty("opt_in").GetBoolean(), Is.True);
        var reason = seven.GetProperty("reason").GetString();
        Assert.That(reason, Does.Contain("session context").And.Contain("cuts the application off").And.Contain("migrate up --include 7"));
        if (Has8)
        {
            var eight = json.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == 8);
            Assert.That(eight.GetProperty("state").GetString(), Is.EqualTo("applied"));
        }
    }

    [Test]
    public async Task Migrate_up_include_7_applies_it_with_the_corrected_functions_and_a_policy_on_every_rls_table()
    {
        await using var db = await TestDatabase.CreateAsync();
        var up = await db.UpAsync("--to", "8");
        var include = await db.UpAsync("--to", "8", "--include", "7");
        Assert.That(include.Stderr, Does.Contain("applied 007"));

        var status = await db.RunAsync("status", "--json");
        using (var json = JsonDocument.Parse(status.Stdout))
        {
            var seven = json.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == 7);
            Assert.That(seven.GetProperty("state").GetString(), Is.EqualTo("applied"));
        }

        Assert.That(await db.ScalarAsync<bool>("SELECT to_regprocedure('platform.user_has_org_role(uuid,text)') IS NOT NULL"), Is.True);
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regprocedure('platform.set_user_context(uuid,uuid)') IS NOT NULL"), Is.True);

        // docs/schema-facts.md §0 row "007 helpers + 007 policies + 008", except policies: 70 instead of 33 (12 for the eight tables
        // the original left deny-all, 25 system-bypass policies). Without 8 on this build: its 2 functions, 1 index, 1 FK fewer.
        var expected = Has8
            ? new PlatformCounts(26, 7, 41, 22, 137, 70, 25, 75, 33)
            : new PlatformCounts(26, 7, 39, 22, 136, 70, 25, 75, 32);
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(expected));

        Assert.That(await db.ColumnAsync("SELECT policyname FROM pg_policies WHERE schemaname = 'platform' AND policyname LIKE 'permissive_all_%'"), Is.Empty);
        Assert.That(await db.ColumnAsync("""
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = 'platform'::regnamespace AND c.relkind = 'r' AND c.relrowsecurity
              AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
            """), Is.Empty, "an RLS table without any policy denies everything (docs/schema-facts.md §12.31)");

        foreach (var signature in M007_AddSessionContextAndRestrictiveRls.SessionHelperSignatures.Concat(M007_AddSessionContextAndRestrictiveRls.PolicyHelperSignatures))
        {
            var facts = await Catalog.FunctionAsync(db, signature);
            Assert.That(facts, Is.Not.Null, signature);
            if (facts!.Contains("secdef=t", StringComparison.Ordinal))
            {
                Assert.That(facts, Does.Contain("config=search_path=pg_catalog, platform, pg_temp "), $"{signature} is SECURITY DEFINER and must pin search_path (docs/schema-facts.md §12.1)");
            }
        }

        foreach (var setter in M007_AddSessionContextAndRestrictiveRls.ContextSetterSignatures)
        {
            Assert.That(await db.ScalarAsync<bool>($"""
                SELECT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) a
                               WHERE p.oid = to_regprocedure('{setter}') AND a.grantee = 0 AND a.privilege_type = 'EXECUTE')
                       OR (SELECT proacl IS NULL FROM pg_proc WHERE oid = to_regprocedure('{setter}'))
                """), Is.False, $"PUBLIC must not execute {setter} (docs/schema-facts.md §12 items 2 and 5)");
        }
    }

    [Test]
    public async Task The_setters_are_granted_to_the_database_owner_even_when_a_superuser_runs_the_migration()
    {
        await using var owner = await LoginRole.CreateAsync("m7own");
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync($"ALTER DATABASE \"{db.Name}\" OWNER TO \"{owner.Name}\"");

        // The runner connects as the server's superuser, as an operator would with the platform's admin URL.
        await db.UpAsync("--to", "8", "--include", "7");
        Assert.That(await db.ScalarAsync<bool>($"SELECT rolsuper FROM pg_roles WHERE rolname = '{PostgresServer.User}'"), Is.True);
        Assert.That(await db.ScalarAsync<bool>($"SELECT rolsuper FROM pg_roles WHERE rolname = '{owner.Name}'"), Is.False);

        foreach (var setter in M007_AddSessionContextAndRestrictiveRls.ContextSetterSignatures)
        {
            Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{owner.Name}', '{setter}', 'EXECUTE')"), Is.True, setter);
        }

        await using var connection = await owner.ConnectAsync(db);
        await using var transaction = await connection.BeginTransactionAsync();
        await ExecuteAsync(connection, transaction, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
        Assert.That(await ScalarAsync<Guid?>(connection, transaction, "SELECT platform.current_user_id()"), Is.EqualTo(Guid.Parse(OwnerA)));
    }

    [Test]
    public async Task With_the_context_of_a_user_in_org_A_no_row_of_another_org_is_visible_in_any_policy_covered_table()
    {
        await using var scenario = await Scenario.CreateAsync();

        // Under 006's allow-all policies the same role sees the other org: the check below can fail.
        await using (var before = await scenario.App.ConnectAsync(scenario.Db))
        {
            Assert.That(await ScalarAsync<long>(before, null, $"SELECT count(*) FROM platform.organizations WHERE id = '{OrgB}'"), Is.EqualTo(1));
        }

        await scenario.ApplySevenAsync();

        var coveredTables = await scenario.Db.ColumnAsync("""
            SELECT DISTINCT c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
            WHERE c.relnamespace = 'platform'::regnamespace ORDER BY 1
            """);
        Assert.That(coveredTables.Except(PublicCatalogues), Is.EquivalentTo(VisibleToOwnerA.Keys), "every policy-covered table is checked");

        await using var connection = await scenario.App.ConnectAsync(scenario.Db);
        await using var transaction = await connection.BeginTransactionAsync();
        await ExecuteAsync(connection, transaction, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
        var problems = new List<string>();
        foreach (var (table, mine) in VisibleToOwnerA)
        {
            var own = await ScalarAsync<long>(connection, transaction, $"SELECT count(*) FROM platform.{table} WHERE {mine}");
            var foreign = await ScalarAsync<long>(connection, transaction, $"SELECT count(*) FROM platform.{table} WHERE NOT ({mine})");
            if (own == 0 || foreign != 0)
            {
                problems.Add($"{table}: {own} own rows visible (want ≥ 1), {foreign} rows of other orgs visible (want 0)");
            }
        }

        foreach (var table in PublicCatalogues)
        {
            if (await ScalarAsync<long>(connection, transaction, $"SELECT count(*) FROM platform.{table}") == 0)
            {
                problems.Add($"{table}: the public catalogue is not readable");
            }
        }

        Assert.That(problems, Is.Empty);

        // Writes are isolated too: org B cannot be changed, and a project cannot be created in it.
        Assert.That(await ExecuteAsync(connection, transaction, $"UPDATE platform.organizations SET name = 'taken' WHERE id = '{OrgB}'"), Is.EqualTo(0));
        Assert.That(await ExecuteAsync(connection, transaction, $"DELETE FROM platform.projects WHERE id = '{ProjectB}'"), Is.EqualTo(0));
        var insert = Assert.ThrowsAsync<PostgresException>(async () => await ExecuteAsync(connection, transaction, $"""
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password, postgres_meta_url, supabase_url)
            VALUES ('{OrgB}', 'Intruder', 'intruder', 'rls-intruder', 'db.invalid', 'postgres', 'postgres', 'not-a-secret', 'https://meta.invalid', 'https://api.invalid')
            """));
        Assert.That(insert!.SqlState, Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege), insert.Message);
    }

    [Test]
    public async Task Without_a_session_context_a_non_owner_role_sees_no_org_scoped_row()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();

        foreach (var role in new[] { scenario.App, scenario.Plain })
        {
            await using var connection = await role.ConnectAsync(scenario.Db);
            Assert.That(await ScalarAsync<bool>(connection, null, "SELECT platform.is_system_user()"), Is.False, "false, not NULL, when never set (docs/schema-facts.md §12.27)");
            Assert.That(await ScalarAsync<Guid?>(connection, null, "SELECT platform.current_user_id()"), Is.Null);
            foreach (var table in VisibleToOwnerA.Keys)
            {
                Assert.That(await ScalarAsync<long>(connection, null, $"SELECT count(*) FROM platform.{table}"), Is.Zero, $"{role.Name}: {table}");
            }

            var require = Assert.ThrowsAsync<PostgresException>(async () => await ExecuteAsync(connection, null, "SELECT platform.require_user_context()"));
            Assert.That(require!.SqlState, Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));
        }
    }

    [Test]
    public async Task A_plain_role_cannot_call_the_context_setters_and_the_app_role_can()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();

        await using var plain = await scenario.Plain.ConnectAsync(scenario.Db);
        string[] calls =
        [
            $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')",
            $"SELECT platform.set_user_context('{OwnerA}')",
            $"SELECT platform.set_user_id('{OwnerA}')",
            $"SELECT platform.set_org_id('{OrgA}')",
            "SELECT platform.set_system_user()",
            "SELECT platform.clear_user_context()",
            $"SELECT platform.log_context_change('forged', '{OwnerA}', '{OrgA}')",
        ];
        foreach (var call in calls)
        {
            var denied = Assert.ThrowsAsync<PostgresException>(async () => await ExecuteAsync(plain, null, call), call);
            Assert.That(denied!.SqlState, Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege), call);
        }

        await using var app = await scenario.App.ConnectAsync(scenario.Db);
        await using var transaction = await app.BeginTransactionAsync();
        await ExecuteAsync(app, transaction, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
        Assert.That(await ScalarAsync<long>(app, transaction, "SELECT count(*) FROM platform.organizations"), Is.EqualTo(1));
    }

    [Test]
    public async Task Writing_the_settings_directly_or_replaying_a_token_from_another_transaction_gives_no_access()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();

        await using (var plain = await scenario.Plain.ConnectAsync(scenario.Db))
        {
            await ExecuteAsync(plain, null, $"SET app.current_user_id = '{OwnerA}'");
            await ExecuteAsync(plain, null, $"SET app.current_org_id = '{OrgA}'");
            await ExecuteAsync(plain, null, "SET app.is_system_user = 'true'");
            await ExecuteAsync(plain, null, "SET app.context_token = 'forged'");
            Assert.That(await ScalarAsync<bool>(plain, null, "SELECT platform.is_system_user()"), Is.False);
            Assert.That(await ScalarAsync<Guid?>(plain, null, "SELECT platform.current_user_id()"), Is.Null);
            Assert.That(await ScalarAsync<long>(plain, null, "SELECT count(*) FROM platform.organizations"), Is.Zero);
            var keyRead = Assert.ThrowsAsync<PostgresException>(async () => await ExecuteAsync(plain, null, "SELECT key FROM platform_private.session_context_key"));
            Assert.That(keyRead!.SqlState, Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege), "the signing key is not readable");
        }

        await using var app = await scenario.App.ConnectAsync(scenario.Db);
        string token;
        await using (var first = await app.BeginTransactionAsync())
        {
            await ExecuteAsync(app, first, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
            Assert.That(await ScalarAsync<long>(app, first, "SELECT count(*) FROM platform.organizations"), Is.EqualTo(1));
            token = await ScalarAsync<string>(app, first, "SELECT current_setting('app.context_token')");
            await first.CommitAsync();
        }

        await using var second = await app.BeginTransactionAsync();
        await ExecuteAsync(app, second, $"""
            SELECT set_config('app.current_user_id', '{OwnerA}', true), set_config('app.current_org_id', '{OrgA}', true),
                   set_config('app.is_system_user', 'false', true), set_config('app.context_token', '{token}', true)
            """);
        Assert.That(await ScalarAsync<long>(app, second, "SELECT count(*) FROM platform.organizations"), Is.Zero, "a token only holds in the transaction that set it");
    }

    [Test]
    public async Task Session_context_is_transaction_local_and_does_not_leak_to_the_next_transaction()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();
        await using var app = await scenario.App.ConnectAsync(scenario.Db);

        await using (var first = await app.BeginTransactionAsync())
        {
            await ExecuteAsync(app, first, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
            Assert.That(await ScalarAsync<long>(app, first, "SELECT count(*) FROM platform.projects"), Is.EqualTo(1));
            await first.CommitAsync();
        }

        Assert.That(await ScalarAsync<Guid?>(app, null, "SELECT platform.current_user_id()"), Is.Null);
        Assert.That(await ScalarAsync<long>(app, null, "SELECT count(*) FROM platform.projects"), Is.Zero);

        await using (var failed = await app.BeginTransactionAsync())
        {
            await ExecuteAsync(app, failed, "SELECT platform.set_system_user()");
            await failed.RollbackAsync();
        }

        Assert.That(await ScalarAsync<bool>(app, null, "SELECT platform.is_system_user()"), Is.False);

        // Outside an explicit transaction a statement is its own transaction: the context is gone by the next one.
        await ExecuteAsync(app, null, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
        Assert.That(await ScalarAsync<long>(app, null, "SELECT count(*) FROM platform.organizations"), Is.Zero);
    }

    [Test]
    public async Task The_system_user_sees_every_org_through_the_policies_and_clear_user_context_ends_it()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();
        await using var app = await scenario.App.ConnectAsync(scenario.Db);
        await using var transaction = await app.BeginTransactionAsync();

        await ExecuteAsync(app, transaction, "SELECT platform.set_system_user()");
        Assert.That(await ScalarAsync<bool>(app, transaction, "SELECT platform.is_system_user()"), Is.True);
        Assert.That(await ScalarAsync<long>(app, transaction, $"SELECT count(*) FROM platform.organizations WHERE id IN ('{OrgA}', '{OrgB}')"), Is.EqualTo(2));
        Assert.That(await ScalarAsync<long>(app, transaction, $"SELECT count(*) FROM platform.credentials WHERE project_id IN ('{ProjectA}', '{ProjectB}')"), Is.EqualTo(2));
        Assert.That(await ExecuteAsync(app, transaction, $"UPDATE platform.credits SET description = 'granted by a job' WHERE organization_id = '{OrgB}'"), Is.EqualTo(1));

        // The system identity is not a user: its audit entry carries no user id instead of violating the FK.
        await ExecuteAsync(app, transaction, "SELECT platform.log_context_change('nightly job started')");
        Assert.That(await ScalarAsync<long>(app, transaction,
            "SELECT count(*) FROM platform.audit_logs WHERE action = 'nightly job started' AND user_id IS NULL AND (metadata->>'is_system_user')::boolean"), Is.EqualTo(1));

        await ExecuteAsync(app, transaction, "SELECT platform.clear_user_context()");
        Assert.That(await ScalarAsync<bool>(app, transaction, "SELECT platform.is_system_user()"), Is.False, "docs/schema-facts.md §12.28");
        Assert.That(await ScalarAsync<Guid?>(app, transaction, "SELECT platform.current_user_id()"), Is.Null);
        Assert.That(await ScalarAsync<long>(app, transaction, "SELECT count(*) FROM platform.organizations"), Is.Zero);
    }

    [Test]
    public async Task Roles_are_ranked_an_unknown_role_is_false_and_a_plain_member_sees_no_credentials_or_billing()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();
        await using var app = await scenario.App.ConnectAsync(scenario.Db);
        await using var transaction = await app.BeginTransactionAsync();

        await ExecuteAsync(app, transaction, $"SELECT platform.set_user_context('{MemberA}', '{OrgA}')");
        Task<bool?> RoleAsync(string role) => ScalarAsync<bool?>(app, transaction, $"SELECT platform.user_has_org_role('{OrgA}', '{role}')");
        Assert.That(await RoleAsync("member"), Is.True);
        Assert.That(await RoleAsync("developer"), Is.False);
        Assert.That(await RoleAsync("admin"), Is.False);
        Assert.That(await RoleAsync("superuser"), Is.False, "false, not NULL, for an unknown role (docs/schema-facts.md §12.33)");
        Assert.That(await ScalarAsync<bool>(app, transaction, $"SELECT platform.user_is_org_member('{OrgB}')"), Is.False);

        Assert.That(await ScalarAsync<long>(app, transaction, "SELECT count(*) FROM platform.projects"), Is.EqualTo(1));
        Assert.That(await ScalarAsync<long>(app, transaction, "SELECT count(*) FROM platform.credentials"), Is.Zero);
        Assert.That(await ScalarAsync<long>(app, transaction, "SELECT count(*) FROM platform.invoices"), Is.Zero);
        Assert.That(await ScalarAsync<long>(app, transaction, "SELECT count(*) FROM platform.organization_invitations"), Is.Zero);
        Assert.That(await ExecuteAsync(app, transaction, $"UPDATE platform.organizations SET name = 'renamed' WHERE id = '{OrgA}'"), Is.Zero, "only owners rename");

        await ExecuteAsync(app, transaction, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
        Assert.That(await RoleAsync("owner"), Is.True);
        Assert.That(await RoleAsync("billing_admin"), Is.True);
        Assert.That(await RoleAsync("Owner"), Is.False);
        Assert.That(await ExecuteAsync(app, transaction, $"UPDATE platform.organizations SET name = 'renamed' WHERE id = '{OrgA}'"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_role_without_select_on_organization_members_still_reads_its_organizations()
    {
        await using var narrow = await LoginRole.CreateAsync("m7narrow");
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();
        await scenario.Db.ExecuteAsync($"""
            REVOKE ALL ON ALL TABLES IN SCHEMA platform FROM PUBLIC;
            GRANT SELECT ON platform.organizations TO "{narrow.Name}";
            GRANT EXECUTE ON FUNCTION platform.set_user_context(uuid, uuid) TO "{narrow.Name}";
            """);

        Assert.That(await scenario.Db.ScalarAsync<bool>($"SELECT has_table_privilege('{narrow.Name}', 'platform.organization_members', 'SELECT')"), Is.False);

        await using var connection = await narrow.ConnectAsync(scenario.Db);
        await using var transaction = await connection.BeginTransactionAsync();
        await ExecuteAsync(connection, transaction, $"SELECT platform.set_user_context('{OwnerA}', '{OrgA}')");
        Assert.That(await ScalarAsync<Guid>(connection, transaction, "SELECT id FROM platform.organizations"), Is.EqualTo(Guid.Parse(OrgA)), "docs/schema-facts.md §12.30");
    }

    [Test]
    public async Task The_self_tests_of_the_session_helpers_and_of_the_policies_pass()
    {
        await using var scenario = await Scenario.CreateAsync();
        await scenario.ApplySevenAsync();
        await using var app = await scenario.App.ConnectAsync(scenario.Db);

        var helpers = await Rows.ColumnAsync(app, "SELECT test_name || '=' || test_passed FROM platform.test_session_helpers()");
        Assert.That(helpers, Is.EquivalentTo(new[] { "set_and_get_context=true", "system_user=true", "clear_context=true" }));
        Assert.That(await ScalarAsync<bool>(app, null, "SELECT platform.is_system_user()"), Is.False, "the self-test leaves no system identity behind");

        var enforcement = await Rows.ColumnAsync(app, "SELECT test_name || '=' || test_passed FROM platform.test_rls_enforcement()");
        Assert.That(enforcement, Is.EquivalentTo(new[] { "no_session_vars=true", "session_functions_exist=true", "policy_count=true" }), "docs/schema-facts.md §12.25");
    }

    [Test]
    public async Task Rollback_6_after_applying_7_restores_the_permissive_006_catalog_exactly_and_7_applies_again()
    {
        await using var reference = await TestDatabase.MigratedAsync("--to", "6");
        var expected = await Catalog.SnapshotAsync(reference);

        await using var db = await TestDatabase.CreateAsync();
        var up = await db.UpAsync("--to", "8", "--include", "7");
        Assert.That(await Catalog.SnapshotAsync(db), Is.Not.EqualTo(expected), "7 changed the catalog, so the comparison below means something");

        var rollback = await db.RollbackAsync("6");
        Assert.That(rollback.Stderr, Does.Contain("reverted 007"));
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(expected));
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regnamespace('platform_private') IS NULL"), Is.True);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM ogelbase_migrations.created_objects WHERE version = 7"), Is.Zero);

        await db.UpAsync("--to", "8", "--include", "7");
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_policies WHERE schemaname = 'platform'"), Is.EqualTo(M007_AddSessionContextAndRestrictiveRls.Policies.Count));
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? default! : (T)value;
    }

    /// <summary>Two orgs with one row in every org-scoped table each, and two non-owner login roles.</summary>
    private sealed class Scenario : IAsyncDisposable
    {
        private Scenario(LoginRole app, LoginRole plain, TestDatabase db)
        {
            App = app;
            Plain = plain;
            Db = db;
        }

        /// <summary>Granted the context setters: how the application is meant to connect.</summary>
        public LoginRole App { get; }

        /// <summary>Table privileges only.</summary>
        public LoginRole Plain { get; }

        public TestDatabase Db { get; }

        public static async Task<Scenario> CreateAsync()
        {
            var app = await LoginRole.CreateAsync("m7app");
            var plain = await LoginRole.CreateAsync("m7plain");
            var db = await TestDatabase.MigratedAsync("--to", "8");
            var scenario = new Scenario(app, plain, db);
            try
            {
                await db.ExecuteAsync(SeedSql());
                foreach (var role in new[] { app, plain })
                {
                    await db.ExecuteAsync($"""
                        GRANT USAGE ON SCHEMA platform TO "{role.Name}";
                        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA platform TO "{role.Name}";
                        """);
                }

                return scenario;
            }
            catch
            {
                await scenario.DisposeAsync();
                throw;
            }
        }

        public async Task ApplySevenAsync()
        {
            await Db.UpAsync("--to", "8", "--include", "7");

            // The operator's step for the application role (docs/schema-history/mig-007.md).
            await Db.ExecuteAsync($"GRANT EXECUTE ON FUNCTION {string.Join(", ", M007_AddSessionContextAndRestrictiveRls.ContextSetterSignatures)} TO \"{App.Name}\"");
        }

        public async ValueTask DisposeAsync()
        {
            await Db.DisposeAsync();
            await Plain.DisposeAsync();
            await App.DisposeAsync();
        }

        private static string SeedSql() =>
            "INSERT INTO platform.feature_flags (flag_key, flag_name) VALUES ('rls_test_flag', 'RLS test flag');\n" +
            SeedOrg("a", OrgA, OwnerA, ProjectA) +
            SeedOrg("b", OrgB, OwnerB, ProjectB) +
            $"""
            INSERT INTO platform.users (id, email) VALUES ('{MemberA}', 'member-a@example.com');
            INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES ('{OrgA}', '{MemberA}', 'member');
            """;

        private static string SeedOrg(string x, string org, string user, string project) => $"""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('{org}', 'RLS {x}', 'rls-org-{x}');
            INSERT INTO platform.users (id, email) VALUES ('{user}', 'owner-{x}@example.com');
            INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES ('{org}', '{user}', 'owner');
            INSERT INTO platform.projects (id, organization_id, name, slug, ref, database_host, database_name, database_user, database_password, postgres_meta_url, supabase_url)
              VALUES ('{project}', '{org}', 'Project {x}', 'project-{x}', 'rls-project-{x}', 'db.invalid', 'postgres', 'postgres', 'not-a-secret', 'https://meta.invalid', 'https://api.invalid');
            INSERT INTO platform.credentials (project_id, anon_key, service_role_key, jwt_secret) VALUES ('{project}', 'anon-{x}', 'service-{x}', 'jwt-{x}');
            INSERT INTO platform.organization_invitations (organization_id, invited_email, invited_by, role, token, expires_at)
              VALUES ('{org}', 'invitee-{x}@example.com', '{user}', 'member', 'invite-token-{x}', now() + interval '7 days');
            INSERT INTO platform.organization_feature_flags (organization_id, flag_id, enabled) SELECT '{org}', id, true FROM platform.feature_flags WHERE flag_key = 'rls_test_flag';
            INSERT INTO platform.project_members (project_id, user_id, role) VALUES ('{project}', '{user}', 'owner');
            INSERT INTO platform.project_addons (project_id, addon_id) VALUES ('{project}', 'pitr');
            INSERT INTO platform.project_metrics (project_id, cpu_usage) VALUES ('{project}', 1);
            INSERT INTO platform.subscriptions (organization_id, plan_id, plan_name) VALUES ('{org}', 'tier_pro', 'Pro');
            INSERT INTO platform.invoices (organization_id, amount_due, status) VALUES ('{org}', 10, 'open');
            INSERT INTO platform.payment_methods (organization_id, stripe_payment_method_id, type) VALUES ('{org}', 'pm_{x}', 'card');
            INSERT INTO platform.tax_ids (organization_id, type, value) VALUES ('{org}', 'eu_vat', 'VAT-{x}');
            INSERT INTO platform.customer_profiles (organization_id, company_name) VALUES ('{org}', 'Company {x}');
            INSERT INTO platform.credits (organization_id, amount, remaining) VALUES ('{org}', 10, 5);
            INSERT INTO platform.disk_config (project_id) VALUES ('{project}');
            INSERT INTO platform.compute_config (project_id) VALUES ('{project}');
            INSERT INTO platform.addons (project_id, addon_type, addon_variant) VALUES ('{project}', 'pitr', 'pitr_7');
            INSERT INTO platform.usage_metrics (organization_id, project_id, metric_type, metric_value, metric_unit, period_start, period_end)
              VALUES ('{org}', '{project}', 'egress', 1, 'bytes', now() - interval '1 day', now());
            INSERT INTO platform.user_sessions (user_id, token, expires_at) VALUES ('{user}', 'session-token-{x}', now() + interval '1 day');
            INSERT INTO platform.api_keys (organization_id, user_id, name, key_prefix, key_hash) VALUES ('{org}', '{user}', 'key {x}', 'ob_{x}', 'hash-{x}');
            INSERT INTO platform.audit_logs (organization_id, project_id, user_id, event_type, action) VALUES ('{org}', '{project}', '{user}', 'project.created', 'create');

            """;
    }
}
