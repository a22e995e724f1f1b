using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M008_AddActiveOrgTrackingRollbackTests
{
    private const string SideTable = "ogelbase_migrations.m008_saved_active_org";

    // Every user with two or more memberships switches to the one the backfill rule would not pick.
    private const string SwitchToAnotherMembership = """
        UPDATE platform.users u SET active_org_id = pick.organization_id
        FROM (
          SELECT DISTINCT ON (m.user_id) m.user_id, m.organization_id
          FROM platform.organization_members m JOIN platform.users x ON x.id = m.user_id
          WHERE m.organization_id IS DISTINCT FROM x.active_org_id
          ORDER BY m.user_id, m.organization_id DESC
        ) pick
        WHERE u.id = pick.user_id
        """;

    [Test]
    public async Task Up_down_up_on_seeded_data_keeps_every_users_choice_and_the_down_restores_the_catalog_of_version_6()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 120);
        var catalogAt6 = await Catalog.SnapshotAsync(db);
        await db.UpAsync("--to", "8", "--batch-size", "25");
        await db.ExecuteAsync(SwitchToAnotherMembership);
        var chosen = await ActiveOrgsAsync(db);
        var byRule = await ExpectedByRuleAsync(db);
        Assert.That(chosen.Count(c => c.Value != byRule[c.Key]), Is.GreaterThan(20), "many choices differ from what the backfill would pick");
        var withChoice = chosen.Values.Count(v => v is not null);

        var down = await db.RunAsync("rollback", Below8, "--batch-size", "25");

        Assert.That(down.ExitCode, Is.EqualTo(0), "no --allow-data-loss needed: the column's data is preserved\n" + down);
        Assert.That(down.Stderr, Does.Contain($"column platform.users.active_org_id: {withChoice} rows — saved by its Down"));
        Assert.That(down.Stderr, Does.Contain($"saved {withChoice} users' active organization"));
        Assert.That(await ColumnExistsAsync(db), Is.False);
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(catalogAt6), "the Down removes exactly what the Up created, trigger included");
        Assert.That(await db.ScalarAsync<long>($"SELECT count(*) FROM {SideTable} WHERE active_org_id IS NOT NULL"), Is.EqualTo(withChoice));
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0));

        var up = await db.UpAsync("--to", "8", "--batch-size", "25");

        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(chosen), "every user's choice survived the round trip");
        Assert.That(up.Stderr, Does.Contain($"restore saved active_org_id: finished, {withChoice}/{withChoice} rows, {withChoice} changed"));
        Assert.That(await Catalog.ExistsAsync(db, SideTable), Is.False, "the side table is dropped at the end of the up");
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(1));
    }

    [Test]
    public async Task A_user_who_left_the_chosen_org_between_down_and_up_gets_the_backfill_rule_and_one_who_left_every_org_gets_null()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        var first = await OrgAsync(db, "first-org");
        var second = await OrgAsync(db, "second-org");
        var left = await UserAsync(db, "left.second");
        var stayed = await UserAsync(db, "stayed");
        var gone = await UserAsync(db, "left.everything");
        foreach (var user in new[] { left, stayed, gone })
        {
            await MemberAsync(db, first, user, new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero));
            await MemberAsync(db, second, user, new DateTimeOffset(2024, 2, 1, 0, 0, 0, TimeSpan.Zero));
        }

        await db.UpAsync("--to", "8");
        await ExecuteAsync(db, "UPDATE platform.users SET active_org_id = @org", ("org", second));
        Assert.That((await db.RunAsync("rollback", Below8)).ExitCode, Is.EqualTo(0));

        await ExecuteAsync(db, "DELETE FROM platform.organization_members WHERE user_id = @user AND organization_id = @org", ("user", left), ("org", second));
        await ExecuteAsync(db, "DELETE FROM platform.organization_members WHERE user_id = @user", ("user", gone));
        await db.UpAsync("--to", "8");

        var active = await ActiveOrgsAsync(db);
        Assert.That(active[stayed], Is.EqualTo(second), "restored");
        Assert.That(active[left], Is.EqualTo(first), "saved choice no longer valid: earliest remaining membership");
        Assert.That(active[gone], Is.Null, "no membership left");
        Assert.That(await Catalog.ExistsAsync(db, SideTable), Is.False);
    }

    [Test]
    public async Task Run_as_the_plain_role_that_owns_the_database_a_round_trip_of_8_keeps_every_choice()
    {
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        Assert.That((await db.RunAsync("migrate", "up", "--to", Below8)).ExitCode, Is.EqualTo(0));
        await SeedManyAsync(db, users: 40);
        Assert.That((await db.RunAsync("migrate", "up", "--to", "8")).ExitCode, Is.EqualTo(0));
        await db.ExecuteAsync(SwitchToAnotherMembership);
        var chosen = await ActiveOrgsAsync(db);

        await db.RollbackAsync(Below8);
        Assert.That(await db.ScalarAsync<string>($"SELECT relowner::regrole::text FROM pg_class WHERE oid = '{SideTable}'::regclass"), Is.EqualTo(db.Owner));
        await db.UpAsync("--to", "8");

        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(chosen));
        Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{db.Owner}', 'platform.set_user_active_org(uuid,uuid)', 'EXECUTE')"), Is.True);
    }

    [Test]
    public async Task A_rollback_with_no_active_org_saved_leaves_no_side_table_behind()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await UserAsync(db, "lonely");
        await db.UpAsync("--to", "8");

        var down = await db.RollbackAsync(Below8);
        Assert.That(down.Stderr, Does.Contain("nothing saved"));
        Assert.That(await Catalog.ExistsAsync(db, SideTable), Is.False);
    }

    [Test]
    public async Task Choices_written_by_the_app_while_the_rollback_is_copying_survive_the_round_trip()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 60, orgs: 4);
        await db.ExecuteAsync("DELETE FROM platform.users u WHERE (SELECT count(*) FROM platform.organization_members m WHERE m.user_id = u.id) < 2");
        var users = await db.ScalarAsync<long>("SELECT count(*) FROM platform.users");
        Assert.That(users, Is.GreaterThan(20));
        await db.UpAsync("--to", "8");

        // Slow copy (2 users per batch, 300 ms apart, so ~4 s for all of them): the app writes while some users are
        // copied and others not yet. A shorter window (1.5 s) was missed once on a machine running two suites at once.
        var rollback = Task.Run(() => db.RunAsync(new Dictionary<string, string?> { ["OGELBASE_TEST_BATCH_DELAY_MS"] = "300" }, "rollback", Below8, "--batch-size", "2"));
        await WaitUntilAsync(async () => await Catalog.ExistsAsync(db, SideTable) && await db.ScalarAsync<long>($"SELECT count(*) FROM {SideTable}") >= 3,
            "the copy has started", rollback);

        Dictionary<Guid, Guid?> written;
        await using (var app = await db.OpenAsync())
        {
            await using (var copied = new NpgsqlCommand($"SELECT count(*) FROM {SideTable}", app))
            {
                Assert.That((long)(await copied.ExecuteScalarAsync())!, Is.LessThan(users), "the copy is still running when the app writes");
            }

            await using var write = new NpgsqlCommand(SwitchToAnotherMembership, app);
            Assert.That(await write.ExecuteNonQueryAsync(), Is.EqualTo(users), "the app switched every user while the column still existed");
            written = await ActiveOrgsAsync(db);
        }

        var down = await rollback;
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());

        await db.UpAsync("--to", "8");
        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(written), "the trigger kept the newer values; the copy did not overwrite them");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, Task running)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.That(running.IsCompleted, Is.False, $"the run ended before this was true: {what}");
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"timed out waiting until {what}");
            await Task.Delay(20);
        }
    }
}
