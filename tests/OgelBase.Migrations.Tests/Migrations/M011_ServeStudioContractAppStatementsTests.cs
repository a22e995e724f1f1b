namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>
/// The Studio app's contract with the platform schema: every statement it sends (<see cref="StudioStatements"/>),
/// one test each, run as pg-meta's /query runs it (<see cref="PgMetaQuery"/>) against a database migrated to head and
/// seeded with <see cref="StudioSeed"/>. A statement that fails fails its test; the two documented app defects must
/// keep failing with their SQLSTATE (if one starts to pass, docs/studio-contract.md is wrong), and the fix the
/// contract asks of the app must run.
/// <para>
/// Migrating and seeding once takes seconds, so it is done once into a template; each test gets its own copy
/// (CREATE DATABASE ... TEMPLATE), so statements that write never see each other.
/// </para>
/// </summary>
public sealed class M011_ServeStudioContractAppStatementsTests
{
    private TestDatabase? _template;

    [OneTimeSetUp]
    public async Task MigrateAndSeedTheTemplate()
    {
        _template = await TestDatabase.CreateAsync();
        await _template.UpAsync();
        await _template.ExecuteAsync(StudioSeed.Sql);

        // A template cannot be copied while anyone is connected to it, pooled idle connections included.
        NpgsqlConnection.ClearAllPools();
    }

    [OneTimeTearDown]
    public async Task DropTheTemplate()
    {
        if (_template is not null)
        {
            await _template.DisposeAsync();
        }
    }

    private static IEnumerable<TestCaseData> Statements() =>
        StudioStatements.All.Select(s => new TestCaseData(s).SetName(s.ToString()));

    [TestCaseSource(nameof(Statements))]
    public async Task The_app_statement_runs_on_head(AppStatement statement)
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        if (statement.Defect is { } sqlState)
        {
            var error = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString, statement.Sql, statement.Parameters));
            Assert.That(error!.SqlState, Is.EqualTo(sqlState), $"documented app defect at {statement.Source}: {error.MessageText}");
            return;
        }

        var rows = await PgMetaQuery.RunAsync(copy.ConnectionString, statement.Sql, statement.Parameters);
        if (statement.Rows is { } expected)
        {
            Assert.That(rows, Has.Count.EqualTo(expected), statement.Source);
        }
    }

    [Test]
    public void The_contract_holds_every_statement_once_with_its_source_and_at_most_two_app_defects()
    {
        Assert.That(StudioStatements.All.Select(s => (s.Source, s.Sql)), Is.Unique);
        Assert.That(StudioStatements.All.Select(s => s.ToString()), Is.Unique, "test names");
        Assert.That(StudioStatements.All, Has.All.Matches<AppStatement>(s => s.Source.StartsWith("apps/studio/", StringComparison.Ordinal) && s.Source.Contains(".ts:", StringComparison.Ordinal)));
        Assert.That(StudioStatements.All.Where(s => s.Defect is not null).Select(s => s.Source), Is.EquivalentTo(new[]
        {
            "apps/studio/pages/api/platform/projects/[ref]/billing/addons.ts:95",
            "apps/studio/pages/api/setup-lancio.ts:31",
        }));
    }

    // ---------------------------------------------------------------- what the statements mean on head

    [Test]
    public async Task The_member_list_lists_owner_first_then_by_invitation_and_shows_every_member_as_accepted()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var insert = Find("members.ts:166");
        var inserted = await PgMetaQuery.RunAsync(copy.ConnectionString, insert.Sql, insert.Parameters);
        Assert.That(inserted.Single()["accepted_at"], Is.Not.Null);

        var list = await PgMetaQuery.RunAsync(copy.ConnectionString, Find("members.ts:56").Sql, [StudioSeed.Acme]);
        Assert.That(list.Select(r => ((string)r["email"]!, (string)r["role"]!)), Is.EqualTo(new[]
        {
            ("alice@acme.example", "owner"), ("bob@acme.example", "developer"), ("dave@acme.example", "developer"), (StudioSeed.CarolEmail, "developer"),
        }), "owner first, then by invited_at");
        Assert.That(list.Select(r => r["accepted_at"]), Has.None.Null, "rows written without accepted_at (seeded after 11) get now(), like joined_at");
    }

    [Test]
    public async Task The_audit_write_fills_event_type_from_the_action_and_the_audit_page_finds_the_entry_by_entity()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var write = Find("audit.ts:94");
        await PgMetaQuery.RunAsync(copy.ConnectionString, write.Sql, write.Parameters);
        var projectWrite = Find("project-access.ts:198");
        await PgMetaQuery.RunAsync(copy.ConnectionString, projectWrite.Sql, projectWrite.Parameters);
        await PgMetaQuery.RunAsync(copy.ConnectionString, projectWrite.Sql,
            [StudioSeed.Alice, "project", StudioSeed.Prod.ToString(), "update", null, null, null]);

        var events = await ColumnAsync(copy, "SELECT event_type FROM platform.audit_logs WHERE entity_type IS NOT NULL ORDER BY event_type");
        Assert.That(events, Is.EqualTo(new[] { "compute.update", "member.add", "project.update" }));

        var page = await PgMetaQuery.RunAsync(copy.ConnectionString, StudioStatements.All.Single(s => s.Route == "audit log page, entity filter").Sql,
            ["organization", StudioSeed.Acme.ToString(), 50, 0]);
        Assert.That(page.Single()["changes"], Is.EqualTo("{\"role\": \"developer\"}"));
    }

    [Test]
    public async Task An_audit_entity_type_outside_the_apps_five_is_refused_by_its_check()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var write = Find("audit.ts:94");
        var error = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString, write.Sql,
            [StudioSeed.Alice, "invoice", "in_1", "create", null, null, null]));
        Assert.That(error!.SqlState, Is.EqualTo(PostgresErrorCodes.CheckViolation));
        Assert.That(error.ConstraintName, Is.EqualTo("audit_logs_entity_type_valid"));
    }

    [Test]
    public async Task An_addon_added_by_the_app_gets_its_addon_id_and_the_same_addon_twice_is_refused_by_the_existing_unique_key()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var insert = Find("addons.ts:172");
        var row = (await PgMetaQuery.RunAsync(copy.ConnectionString, insert.Sql, insert.Parameters)).Single();
        Assert.That((row["addon_id"], row["addon_type"], row["addon_variant"]), Is.EqualTo(("custom_domain", "custom_domain", "cd_default")));

        var again = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString, insert.Sql, [StudioSeed.Prod, "pitr", "pitr_28"]));
        Assert.That(again!.SqlState, Is.EqualTo(PostgresErrorCodes.UniqueViolation));

        var delete = Find("addons.ts:217");
        await PgMetaQuery.RunAsync(copy.ConnectionString, delete.Sql, delete.Parameters);
        Assert.That(await ColumnAsync(copy, "SELECT addon_id FROM platform.project_addons ORDER BY 1"), Is.EqualTo(new[] { "custom_domain" }));

        var mismatch = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString,
            "INSERT INTO platform.project_addons (project_id, addon_id, addon_type) VALUES ($1, $2, $3)", [StudioSeed.Prod, "ipv4", "pitr"]));
        Assert.That(mismatch!.SqlState, Is.EqualTo(PostgresErrorCodes.CheckViolation));
    }

    [Test]
    public async Task A_payment_method_added_by_the_app_is_a_card_under_both_names_and_a_duplicate_is_refused()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var insert = Find("payments.ts:151");
        var row = (await PgMetaQuery.RunAsync(copy.ConnectionString, insert.Sql, insert.Parameters)).Single();
        Assert.That((row["payment_method_id"], row["stripe_payment_method_id"], row["type"], row["is_default"]), Is.EqualTo(("pm_1PqNewCard", "pm_1PqNewCard", "card", false)));

        var list = await PgMetaQuery.RunAsync(copy.ConnectionString, Find("payments.ts:75").Sql, ["acme"]);
        Assert.That(list.Select(r => r["payment_method_id"]), Is.EqualTo(new[] { "pm_seed_default", "pm_1PqNewCard", "pm_seed_old" }), "seeded rows carry the app's name too");

        var duplicate = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString, insert.Sql, ["acme", "pm_seed_old", true]));
        Assert.That(duplicate!.SqlState, Is.EqualTo(PostgresErrorCodes.UniqueViolation));
    }

    [Test]
    public async Task The_soft_delete_sets_status_deleted_and_other_unknown_statuses_are_still_refused()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var delete = Find("index.ts:134");
        await PgMetaQuery.RunAsync(copy.ConnectionString, delete.Sql, delete.Parameters);
        Assert.That(await ColumnAsync(copy, $"SELECT status FROM platform.projects WHERE id = '{StudioSeed.Scratch}'"), Is.EqualTo(new[] { "deleted" }));

        var patch = StudioStatements.All.Single(s => s.Route == "PATCH projects/[ref], name and status");
        var error = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString, patch.Sql, ["x", "DELETED", StudioSeed.Prod]));
        Assert.That(error!.SqlState, Is.EqualTo(PostgresErrorCodes.CheckViolation));
        Assert.That(error.ConstraintName, Is.EqualTo("projects_status_valid"));
    }

    [Test]
    public async Task The_disk_auto_scale_limit_outside_8_to_16384_GB_is_refused_and_the_usage_page_sums_measured_sizes()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);
        var update = StudioStatements.All.Single(s => s.Route == "POST projects/[ref]/disk/custom-config, enabled and limit");
        var error = Assert.ThrowsAsync<PostgresException>(async () => await PgMetaQuery.RunAsync(copy.ConnectionString, update.Sql, [StudioSeed.ProdRef, true, 4]));
        Assert.That(error!.ConstraintName, Is.EqualTo("projects_disk_auto_scale_limit_gb_valid"));

        await copy.ExecuteAsync($"UPDATE platform.projects SET db_size_bytes = 1073741824, monthly_active_users = 10 WHERE id IN ('{StudioSeed.Prod}', '{StudioSeed.Staging}')");
        var usage = (await PgMetaQuery.RunAsync(copy.ConnectionString, Find("usage.ts:67").Sql, ["acme"])).Single();
        Assert.That((usage["db_size_bytes"], usage["db_size_gb"], usage["monthly_active_users"], usage["total_projects"], usage["total_members"]),
            Is.EqualTo((2147483648m, 2m, 20m, 3L, 3L)));
        var negative = Assert.ThrowsAsync<PostgresException>(async () => await copy.ExecuteAsync($"UPDATE platform.projects SET egress_bytes = -1 WHERE id = '{StudioSeed.Prod}'"));
        Assert.That(negative!.ConstraintName, Is.EqualTo("projects_usage_not_negative"));
    }

    [Test]
    public async Task The_fix_the_contract_asks_of_the_addons_route_runs_and_returns_the_projects_add_ons()
    {
        await using var copy = await SeededCopy.CreateAsync(_template!.Name);

        // addons.ts:95, as docs/studio-contract.md asks: the project's add-ons from project_addons itself.
        var addons = await PgMetaQuery.RunAsync(copy.ConnectionString, StudioContractFixes.ProjectAddons, [StudioSeed.ProdRef]);
        Assert.That(addons.Select(r => ((string)r["id"]!, (string)r["variant"]!)), Is.EqualTo(new[] { ("pitr", "pitr_7") }));
    }

    private static AppStatement Find(string fileAndLine) => StudioStatements.All.Single(s => s.Source.EndsWith("/" + fileAndLine, StringComparison.Ordinal) && s.Defect is null
        && StudioStatements.All.Count(o => o.Source == s.Source) == 1);

    private static async Task<List<string>> ColumnAsync(SeededCopy copy, string sql)
    {
        await using var connection = new NpgsqlConnection(copy.ConnectionString);
        await connection.OpenAsync();
        return await Rows.ColumnAsync(connection, sql);
    }

    /// <summary>A copy of the seeded template for one test, dropped afterwards.</summary>
    private sealed class SeededCopy : IAsyncDisposable
    {
        private SeededCopy(string name) => Name = name;

        public string Name { get; }

        public string ConnectionString => PostgresServer.ConnectionStringFor(Name);

        public static async Task<SeededCopy> CreateAsync(string template)
        {
            var name = "t_" + Guid.NewGuid().ToString("N")[..16];
            await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" {TestDatabase.CopyStrategy}", admin);
            await create.ExecuteNonQueryAsync();
            return new SeededCopy(name);
        }

        public async Task ExecuteAsync(string sql)
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }

        public async ValueTask DisposeAsync()
        {
            await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
