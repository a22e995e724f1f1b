namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M004_SeedLancioOrganizationTests
{
    private static readonly PlatformCounts After004 = new(25, 5, 12, 20, 123, 0, 0, 68, 31);

    // Distinctive values so that any echo of them in the output is found.
    private const string BillingEmail = "billing-7f3a9c@example.test";
    private const string DbPassword = "pw-Q9v!x2Lr-ZZtop-4417";

    private static Dictionary<string, string?> Config(string email = BillingEmail, string password = DbPassword) => new()
    {
        ["OGELBASE_LANCIO_BILLING_EMAIL"] = email,
        ["OGELBASE_BLACKWHALE_DB_PASSWORD"] = password,
    };

    private static async Task<long> CountAsync(TestDatabase db, string table, string where) =>
        await db.ScalarAsync<long>($"SELECT count(*) FROM platform.{table} WHERE {where}");

    private static async Task InsertOwnerAsync(TestDatabase db, Guid id) =>
        await db.ExecuteAsync($"INSERT INTO platform.users (id, email) VALUES ('{id}', 'owner-{id:N}@example.com')");

    private static async Task<CliResult> UpTo4Async(TestDatabase db, IDictionary<string, string?> environment, params string[] extra)
    {
        var result = await db.RunAsync(environment, ["migrate", "up", "--to", "4", .. extra]);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        return result;
    }

    [Test]
    public async Task Without_configuration_version_4_inserts_nothing_and_names_both_missing_variables_in_one_line()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await UpTo4Async(db, new Dictionary<string, string?>());

        var lines = result.Stderr.Split('\n').Where(l => l.Contains("Lancio seed skipped", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Has.Count.EqualTo(1), result.ToString());
        Assert.That(lines[0], Does.Contain("OGELBASE_LANCIO_BILLING_EMAIL").And.Contain("OGELBASE_BLACKWHALE_DB_PASSWORD").And.Contain("nothing changed"));
        Assert.That(await CountAsync(db, "organizations", "true"), Is.Zero);
        Assert.That(await CountAsync(db, "projects", "true"), Is.Zero);
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM ogelbase_migrations.version_info WHERE version = 4)"), Is.True);
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(After004));
    }

    [Test]
    public async Task With_only_the_billing_email_configured_it_names_only_the_password_variable_and_changes_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await UpTo4Async(db, new Dictionary<string, string?> { ["OGELBASE_LANCIO_BILLING_EMAIL"] = BillingEmail });
        var line = result.Stderr.Split('\n').Single(l => l.Contains("Lancio seed skipped", StringComparison.Ordinal));
        Assert.That(line, Does.Contain("OGELBASE_BLACKWHALE_DB_PASSWORD").And.Not.Contain("OGELBASE_LANCIO_BILLING_EMAIL"));
        Assert.That(await CountAsync(db, "organizations", "true"), Is.Zero);
    }

    [Test]
    public async Task With_configuration_it_inserts_the_org_and_project_skips_the_missing_owner_and_never_prints_a_secret()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await UpTo4Async(db, Config(), "--verbose");

        Assert.That(await db.ColumnAsync("SELECT concat_ws(' | ', name, slug, billing_email) FROM platform.organizations"),
            Is.EqualTo(Rows.Of($"Lancio | lancio | {BillingEmail}")));
        Assert.That(await db.ColumnAsync("""
            SELECT concat_ws(' | ', o.slug, p.name, p.slug, p.ref, p.database_host, p.database_port, p.database_name, p.database_user,
                             p.database_password, p.postgres_meta_url, p.supabase_url, p.status)
            FROM platform.projects p JOIN platform.organizations o ON o.id = p.organization_id
            """), Is.EqualTo(Rows.Of(
            $"lancio | BlackWhale | blackwhale | blackwhale-prod | postgres.railway.internal | 5432 | postgres | postgres | {DbPassword} | " +
            "https://postgres-meta-production-6c48.up.railway.app | https://kong-production-80c6.up.railway.app | ACTIVE_HEALTHY")));
        Assert.That(await CountAsync(db, "organization_members", "true"), Is.Zero);
        Assert.That(result.Stderr, Does.Contain("owner membership skipped: the owner user does not exist"));

        var output = result.Stdout + result.Stderr;
        Assert.That(output, Does.Not.Contain(DbPassword));
        Assert.That(output, Does.Not.Contain(BillingEmail));
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(After004));
    }

    [Test]
    public async Task The_membership_is_inserted_as_owner_when_the_original_owner_user_exists()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
        await InsertOwnerAsync(db, M004_SeedLancioOrganization.DefaultOwnerUserId);

        var result = await UpTo4Async(db, Config());
        Assert.That(result.Stderr, Does.Contain("owner membership inserted"));
        Assert.That(await db.ColumnAsync("""
            SELECT m.user_id || ' ' || m.role FROM platform.organization_members m
            JOIN platform.organizations o ON o.id = m.organization_id WHERE o.slug = 'lancio'
            """), Is.EqualTo(Rows.Of($"{M004_SeedLancioOrganization.DefaultOwnerUserId} owner")));
    }

    [Test]
    public async Task The_owner_user_id_can_be_configured_and_only_that_user_becomes_owner()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
        var owner = Guid.Parse("11111111-2222-3333-4444-555555555555");
        await InsertOwnerAsync(db, owner);
        await InsertOwnerAsync(db, M004_SeedLancioOrganization.DefaultOwnerUserId);

        var environment = Config();
        environment["OGELBASE_LANCIO_OWNER_USER_ID"] = owner.ToString();
        await UpTo4Async(db, environment);
        Assert.That(await db.ColumnAsync("SELECT user_id::text FROM platform.organization_members"), Is.EqualTo(Rows.Of(owner.ToString())));
    }

    [Test]
    public async Task Re_running_version_4_leaves_existing_rows_unchanged_and_adds_the_membership_once_its_user_exists()
    {
        await using var db = await TestDatabase.CreateAsync();
        await UpTo4Async(db, Config());
        var before = await db.ColumnAsync("SELECT concat_ws(' | ', id, name, billing_email, updated_at) FROM platform.organizations");

        // Production's situation: org and project present, membership missing, and the owner now exists.
        await InsertOwnerAsync(db, M004_SeedLancioOrganization.DefaultOwnerUserId);
        await db.ExecuteAsync("DELETE FROM ogelbase_migrations.version_info WHERE version = 4");
        var rerun = await UpTo4Async(db, Config("changed@example.test", "another-password"));

        Assert.That(await db.ColumnAsync("SELECT concat_ws(' | ', id, name, billing_email, updated_at) FROM platform.organizations"),
            Is.EqualTo(before), "the org is not overwritten");
        Assert.That(await db.ColumnAsync("SELECT database_password FROM platform.projects"), Is.EqualTo(Rows.Of(DbPassword)), "the project is not overwritten");
        Assert.That(rerun.Stderr, Does.Contain("organization 'lancio' already present, left unchanged"));
        Assert.That(rerun.Stderr, Does.Contain("project 'blackwhale-prod' already present, left unchanged"));
        Assert.That(await CountAsync(db, "organization_members", "role = 'owner'"), Is.EqualTo(1));

        await db.ExecuteAsync("DELETE FROM ogelbase_migrations.version_info WHERE version = 4");
        var third = await UpTo4Async(db, Config());
        Assert.That(third.Stderr, Does.Contain("owner membership already present"));
        Assert.That(await CountAsync(db, "organizations", "true"), Is.EqualTo(1));
        Assert.That(await CountAsync(db, "projects", "true"), Is.EqualTo(1));
        Assert.That(await CountAsync(db, "organization_members", "true"), Is.EqualTo(1));
    }

    [Test]
    public async Task Rollback_to_3_needs_allow_data_loss_and_then_removes_exactly_the_seeded_rows()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "3");
        await InsertOwnerAsync(db, M004_SeedLancioOrganization.DefaultOwnerUserId);
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a9', 'Other', 'other-org');
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user,
                                           database_password, postgres_meta_url, supabase_url)
            VALUES ('00000000-0000-0000-0000-0000000000a9', 'Other', 'other', 'other-ref', 'h', 'd', 'u', 'x', 'http://m', 'http://k');
            INSERT INTO platform.organization_members (organization_id, user_id, role)
            VALUES ('00000000-0000-0000-0000-0000000000a9', 'a8bb09f6-3432-470e-a117-2600515d4f26', 'member');
            """);
        await UpTo4Async(db, Config());

        var refused = await db.RunAsync("rollback", "3");
        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain("rows of platform.organizations where slug = 'lancio': 1 row"));
        Assert.That(refused.Stderr, Does.Contain("rows of platform.projects where ref = 'blackwhale-prod': 1 row"));
        Assert.That(refused.Stderr, Does.Contain("rows of platform.organization_members where").And.Contain("': 1 row"));
        Assert.That(await CountAsync(db, "organizations", "slug = 'lancio'"), Is.EqualTo(1), "nothing was changed");

        await db.RollbackAsync("3", "--allow-data-loss");
        Assert.That(await db.ColumnAsync("SELECT slug FROM platform.organizations"), Is.EqualTo(Rows.Of("other-org")));
        Assert.That(await db.ColumnAsync("SELECT ref FROM platform.projects"), Is.EqualTo(Rows.Of("other-ref")));
        Assert.That(await db.ColumnAsync("SELECT role FROM platform.organization_members"), Is.EqualTo(Rows.Of("member")));
        Assert.That(await CountAsync(db, "users", "true"), Is.EqualTo(1), "the owner user is not the seed's to remove");
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM ogelbase_migrations.version_info WHERE version = 4)"), Is.False);
    }

    [Test]
    public async Task Rollback_to_3_after_an_unconfigured_version_4_has_nothing_to_delete_and_needs_no_flag()
    {
        await using var db = await TestDatabase.CreateAsync();
        await UpTo4Async(db, new Dictionary<string, string?>());
        var before = await Catalog.SnapshotAsync(db);
        await db.RollbackAsync("3");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "data only: the schema is untouched");
    }
}
