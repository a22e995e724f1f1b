using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M008_AddActiveOrgTrackingTests
{
    [Test]
    public async Task Migrate_up_to_8_comments_the_active_org_id_column_and_both_functions()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");

        var comment = await db.ScalarAsync<string?>(
            "SELECT col_description('platform.users'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'platform.users'::regclass AND attname = 'active_org_id'))");
        Assert.That(comment, Does.Contain("member").And.Contain("organization"));
        foreach (var function in new[] { SetFunction, GetFunction })
        {
            Assert.That(await db.ScalarAsync<string?>($"SELECT obj_description(to_regprocedure('{function}'), 'pg_proc')"), Is.Not.Null.And.Not.Empty, function);
        }
    }

    [Test]
    public async Task Neither_function_is_executable_by_public_and_the_database_owner_role_may_execute_both()
    {
        var owner = "m008_owner_" + Guid.NewGuid().ToString("N")[..8];
        var other = "m008_other_" + Guid.NewGuid().ToString("N")[..8];
        await using (var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE ROLE {owner} NOLOGIN; CREATE ROLE {other} NOLOGIN", admin);
            await create.ExecuteNonQueryAsync();
        }

        try
        {
            await using var db = await TestDatabase.CreateAsync();
            // The migrations run as the superuser; the grant must follow the database's owner, whoever that is.
            await using (var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString))
            {
                await admin.OpenAsync();
                await using var alter = new NpgsqlCommand($"ALTER DATABASE \"{db.Name}\" OWNER TO {owner}", admin);
                await alter.ExecuteNonQueryAsync();
            }

            await db.UpAsync("--to", Below8);
            await db.UpAsync("--to", "8");

            foreach (var function in new[] { SetFunction, GetFunction })
            {
                var acl = await db.ScalarAsync<string?>($"SELECT proacl::text FROM pg_proc WHERE oid = to_regprocedure('{function}')");
                Assert.That(acl, Is.Not.Null, $"{function}: a NULL proacl means the default, EXECUTE for PUBLIC");
                Assert.That(await db.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = to_regprocedure('{function}') AND a.grantee = 0)"),
                    Is.False, $"{function}: PUBLIC holds a privilege ({acl})");
                Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{owner}', '{function}', 'EXECUTE')"), Is.True, $"{function}: owner role {owner}");
                Assert.That(await db.ScalarAsync<bool>($"SELECT has_function_privilege('{other}', '{function}', 'EXECUTE')"), Is.False, $"{function}: unrelated role {other}");
            }

            // What a role without the grant sees when it calls the function anyway.
            await using var connection = await db.OpenAsync();
            await using var call = new NpgsqlCommand(
                $"GRANT USAGE ON SCHEMA platform TO {other}; SET ROLE {other}; SELECT platform.set_user_active_org(gen_random_uuid(), gen_random_uuid())", connection);
            var denied = Assert.ThrowsAsync<PostgresException>(async () => await call.ExecuteNonQueryAsync());
            Assert.That(denied!.SqlState, Is.EqualTo(PostgresErrorCodes.InsufficientPrivilege));
            Assert.That(denied.MessageText, Does.Contain("set_user_active_org"));
        }
        finally
        {
            await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP ROLE IF EXISTS {owner}; DROP ROLE IF EXISTS {other}", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }

    [Test]
    public async Task After_8_without_7_the_catalog_counts_are_the_documented_production_row_and_8_adds_two_functions_an_index_and_a_foreign_key()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        var before = await Catalog.CountsAsync(db);
        await db.UpAsync("--to", "8");
        var after = await Catalog.CountsAsync(db);

        Assert.That(after with { Functions = 0, Indexes = 0, ForeignKeys = 0 }, Is.EqualTo(before with { Functions = 0, Indexes = 0, ForeignKeys = 0 }),
            "008 changes nothing else in schema platform");
        Assert.That((after.Functions - before.Functions, after.Indexes - before.Indexes, after.ForeignKeys - before.ForeignKeys), Is.EqualTo((2, 1, 1)));
        Assert.That(after, Is.EqualTo(new PlatformCounts(Tables: 26, Views: 7, Functions: 23, Triggers: 22, Indexes: 137, Policies: 25, RlsTables: 25, Checks: 75, ForeignKeys: 33)),
            "docs/schema-facts.md §0, row '008 without 007'");
        Assert.That(await Catalog.ExistsAsync(db, "ogelbase_migrations.m008_saved_active_org"), Is.False, "no side table after a plain up");
    }
}
