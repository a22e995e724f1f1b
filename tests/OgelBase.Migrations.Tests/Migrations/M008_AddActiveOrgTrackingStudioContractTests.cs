using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>
/// The statements Studio runs against 008's objects, verbatim in shape, on a connection of the role Studio uses: the
/// database's owner, a plain (non-superuser) role that also ran the migrations. If one of these breaks, the org
/// switcher breaks. Seeding and reading back go through a superuser connection.
/// </summary>
public sealed class M008_AddActiveOrgTrackingStudioContractTests
{
    private const string ReadQuery = """
        SELECT u.active_org_id, o.id, o.slug, o.name, om.role, om.joined_at
        FROM platform.users u
        LEFT JOIN platform.organization_members om ON om.user_id = u.id
        LEFT JOIN platform.organizations o ON o.id = om.organization_id
        WHERE u.id = $1
        ORDER BY om.joined_at
        """;

    private const string WriteStatement = "UPDATE platform.users SET active_org_id = $1, updated_at = now() WHERE id = $2";

    private sealed record Seeded(TestDatabase Db, Guid Acme, Guid Globex, Guid User) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Db.DisposeAsync();
    }

    private static async Task<Seeded> SeedAsync()
    {
        var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        Assert.That((await db.RunAsync("migrate", "up", "--to", "8")).ExitCode, Is.EqualTo(0));
        var acme = await OrgAsync(db, "acme");
        var globex = await OrgAsync(db, "globex");
        var user = await UserAsync(db, "studio.user");
        await MemberAsync(db, acme, user, new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero), "owner");
        await MemberAsync(db, globex, user, new DateTimeOffset(2024, 2, 1, 0, 0, 0, TimeSpan.Zero), "developer");
        return new Seeded(db, acme, globex, user);
    }

    [Test]
    public async Task The_org_switcher_read_query_lists_every_membership_with_the_active_org_in_joined_order()
    {
        await using var seeded = await SeedAsync();
        var (db, acme, globex, user) = seeded;
        await ExecuteAsync(db, "UPDATE platform.users SET active_org_id = @org WHERE id = @user", ("org", globex), ("user", user));

        await using var connection = await AppAsync(db);
        await using var command = new NpgsqlCommand(ReadQuery, connection) { Parameters = { new() { Value = user } } };
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(Guid Active, Guid Org, string Slug, string Name, string Role)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)));
            Assert.That(reader.IsDBNull(5), Is.False, "joined_at");
        }

        Assert.That(rows, Is.EqualTo(new[]
        {
            (globex, acme, "acme", "Org acme", "owner"),
            (globex, globex, "globex", "Org globex", "developer"),
        }));
    }

    [Test]
    public async Task The_app_write_sets_the_active_org_and_an_unknown_org_fails_with_a_foreign_key_violation()
    {
        await using var seeded = await SeedAsync();
        var (db, acme, _, user) = seeded;
        await using var connection = await AppAsync(db);

        await using (var write = new NpgsqlCommand(WriteStatement, connection) { Parameters = { new() { Value = acme }, new() { Value = user } } })
        {
            Assert.That(await write.ExecuteNonQueryAsync(), Is.EqualTo(1));
        }

        Assert.That((await ActiveOrgsAsync(db))[user], Is.EqualTo(acme));

        await using var unknown = new NpgsqlCommand(WriteStatement, connection) { Parameters = { new() { Value = Guid.NewGuid() }, new() { Value = user } } };
        var error = Assert.ThrowsAsync<PostgresException>(async () => await unknown.ExecuteNonQueryAsync());
        Assert.That(error!.SqlState, Is.EqualTo(PostgresErrorCodes.ForeignKeyViolation));
        Assert.That(error.ConstraintName, Is.EqualTo("users_active_org_id_fkey"));
    }

    [Test]
    public async Task Deleting_an_organization_clears_the_active_org_of_its_users()
    {
        await using var seeded = await SeedAsync();
        var (db, acme, globex, user) = seeded;
        var other = await UserAsync(db, "other.user");
        await MemberAsync(db, globex, other, null);
        await ExecuteAsync(db, "UPDATE platform.users SET active_org_id = @org WHERE id IN (@a, @b)", ("org", globex), ("a", user), ("b", other));

        await ExecuteAsync(db, "DELETE FROM platform.organizations WHERE id = @org", ("org", globex));

        var active = await ActiveOrgsAsync(db);
        Assert.That(active[user], Is.Null);
        Assert.That(active[other], Is.Null);
        Assert.That(await ScalarAsync<long>(db, "SELECT count(*) FROM platform.organizations WHERE id = @org", ("org", acme)), Is.EqualTo(1));
    }

    [Test]
    public async Task Set_user_active_org_sets_the_org_of_a_member_bumps_updated_at_and_returns_true()
    {
        await using var seeded = await SeedAsync();
        var (db, _, globex, user) = seeded;
        await ExecuteAsync(db, "UPDATE platform.users SET updated_at = now() - interval '1 day' WHERE id = @user", ("user", user));

        await using var connection = await AppAsync(db);
        await using var call = new NpgsqlCommand("SELECT platform.set_user_active_org($1, $2)", connection) { Parameters = { new() { Value = user }, new() { Value = globex } } };
        Assert.That(await call.ExecuteScalarAsync(), Is.EqualTo(true));

        Assert.That((await ActiveOrgsAsync(db))[user], Is.EqualTo(globex));
        Assert.That(await ScalarAsync<bool>(db, "SELECT updated_at > now() - interval '1 minute' FROM platform.users WHERE id = @user", ("user", user)), Is.True);
    }

    [Test]
    public async Task Set_user_active_org_for_a_non_member_raises_its_own_sqlstate_naming_the_organization_and_changes_nothing()
    {
        await using var seeded = await SeedAsync();
        var (db, acme, _, user) = seeded;
        var stranger = await OrgAsync(db, "stranger-org");
        await ExecuteAsync(db, "UPDATE platform.users SET active_org_id = @org WHERE id = @user", ("org", acme), ("user", user));

        await using var connection = await AppAsync(db);
        await using var call = new NpgsqlCommand("SELECT platform.set_user_active_org($1, $2)", connection) { Parameters = { new() { Value = user }, new() { Value = stranger } } };
        var error = Assert.ThrowsAsync<PostgresException>(async () => await call.ExecuteScalarAsync());

        Assert.That(error!.SqlState, Is.EqualTo(M008_AddActiveOrgTracking.NotAMemberSqlState), "the membership error keeps its SQLSTATE (no catch-and-rewrap)");
        Assert.That(error.SqlState, Is.Not.EqualTo(PostgresErrorCodes.RaiseException), "not the generic P0001");
        Assert.That(error.MessageText, Does.Contain(stranger.ToString()).And.Contain("stranger-org"));
        Assert.That((await ActiveOrgsAsync(db))[user], Is.EqualTo(acme));
    }

    [Test]
    public async Task Get_user_active_org_returns_the_org_and_role_and_no_row_without_an_active_org_or_after_leaving_it()
    {
        await using var seeded = await SeedAsync();
        var (db, acme, _, user) = seeded;
        const string sql = "SELECT * FROM platform.get_user_active_org($1)";

        Assert.That(await RowsAsync(db, sql, user), Is.Empty, "no active org set");

        await using (var app = await AppAsync(db))
        {
            await using var set = new NpgsqlCommand("SELECT platform.set_user_active_org($1, $2)", app) { Parameters = { new() { Value = user }, new() { Value = acme } } };
            await set.ExecuteNonQueryAsync();
        }

        Assert.That(await RowsAsync(db, sql, user), Is.EqualTo(new[] { $"{acme}|acme|Org acme|owner" }));

        await ExecuteAsync(db, "DELETE FROM platform.organization_members WHERE user_id = @user AND organization_id = @org", ("user", user), ("org", acme));
        Assert.That(await RowsAsync(db, sql, user), Is.Empty, "no longer a member");
        Assert.That(await RowsAsync(db, sql, Guid.NewGuid()), Is.Empty, "unknown user");
    }

    [Test]
    public async Task Information_schema_still_shows_the_column_and_both_functions_to_the_owner_role()
    {
        await using var seeded = await SeedAsync();
        await using var app = await AppAsync(seeded.Db);
        Assert.That(await ColumnAsync(app, "SELECT current_user = pg_get_userbyid(datdba) AND NOT usesuper FROM pg_database, pg_user WHERE datname = current_database() AND usename = current_user"),
            Is.EqualTo(new[] { "True" }), "connected as the database owner, a plain role");

        Assert.That(await ColumnAsync(app, """
            SELECT data_type || ' ' || is_nullable FROM information_schema.columns
            WHERE table_schema = 'platform' AND table_name = 'users' AND column_name = 'active_org_id'
            """), Is.EqualTo(new[] { "uuid YES" }));
        Assert.That(await ColumnAsync(app, """
            SELECT routine_name || ' ' || data_type || ' ' || security_type FROM information_schema.routines
            WHERE routine_schema = 'platform' AND routine_name IN ('set_user_active_org', 'get_user_active_org') ORDER BY 1
            """), Is.EqualTo(new[] { "get_user_active_org record INVOKER", "set_user_active_org boolean DEFINER" }));
    }

    private static async Task<NpgsqlConnection> AppAsync(TestDatabase db)
    {
        var connection = new NpgsqlConnection(PostgresServer.ConnectionStringFor(db.Name, db.Owner, db.OwnerPassword));
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<List<string>> ColumnAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return values;
    }

    private static async Task<List<string>> RowsAsync(TestDatabase db, string sql, Guid parameter)
    {
        await using var connection = await AppAsync(db);
        await using var command = new NpgsqlCommand(sql, connection) { Parameters = { new() { Value = parameter } } };
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }

        return rows;
    }
}
