namespace OgelBase.Migrations.Tests.Failure;

/// <summary>
/// The whole history runs as a role that owns its database and nothing more: no superuser, no CREATEDB, no CREATEROLE.
/// uuid-ossp and pgcrypto are trusted extensions (PostgreSQL 13+), so the database owner may create them.
/// </summary>
public sealed class LeastPrivilegeTests
{
    [Test]
    public async Task The_whole_history_runs_up_down_and_up_as_a_plain_role_that_owns_the_database()
    {
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        Assert.That(await db.ScalarAsync<bool>($"SELECT NOT rolsuper AND NOT rolcreatedb AND NOT rolcreaterole FROM pg_roles WHERE rolname = '{db.Owner}'"), Is.True);

        var up = await db.RunAsync("migrate", "up", "--include", "7");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That((await db.RunAsync("verify")).ExitCode, Is.EqualTo(0));

        var down = await db.RunAsync("rollback", "0", "--allow-data-loss");
        Assert.That(down.ExitCode, Is.EqualTo(0), down.ToString());
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regnamespace('platform') IS NULL"), Is.True);

        var again = await db.RunAsync("migrate", "up");
        Assert.That(again.ExitCode, Is.EqualTo(0), again.ToString());
        Assert.That(await db.ScalarAsync<string>("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'platform'"), Is.EqualTo(db.Owner));
        Assert.That(up.Stdout + up.Stderr + down.Stderr + again.Stderr, Does.Not.Contain(db.OwnerPassword!));
    }
}
