using System.Text.Json;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Runner;

[NonParallelizable] // its subject is timing (signals, lock waits, concurrent processes, online DDL under load): it runs alone
public sealed class MigrateUpTests
{
    private static IEnumerable<long> OrdinaryVersions => KnownMigrations.All.Where(m => m.OptIn is null).Select(m => m.Version);

    [Test]
    public async Task Migrate_up_on_a_fresh_database_applies_every_ordinary_migration_and_status_json_shows_them_applied()
    {
        await using var db = await TestDatabase.CreateAsync();
        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(up.Stderr.TrimEnd().Split('\n').Last(), Does.StartWith("migrate up: applied"), "ends with a one-line summary");

        var status = await db.RunAsync("status", "--json");
        Assert.That(status.ExitCode, Is.EqualTo(0), status.ToString());
        using var json = JsonDocument.Parse(status.Stdout);
        var migrations = json.RootElement.GetProperty("migrations").EnumerateArray().ToList();
        foreach (var version in OrdinaryVersions)
        {
            var entry = migrations.Single(m => m.GetProperty("version").GetInt64() == version);
            Assert.That(entry.GetProperty("state").GetString(), Is.EqualTo("applied"), $"version {version}");
            Assert.That(entry.GetProperty("applied_on").ValueKind, Is.EqualTo(JsonValueKind.String), $"version {version}");
        }

        foreach (var optIn in KnownMigrations.All.Where(m => m.OptIn is not null))
        {
            var entry = migrations.Single(m => m.GetProperty("version").GetInt64() == optIn.Version);
            Assert.That(entry.GetProperty("state").GetString(), Is.EqualTo("held_back"));
            Assert.That(entry.GetProperty("reason").GetString(), Does.Contain("--include"));
        }

        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(OrdinaryVersions.ToList()));
    }

    [Test]
    public async Task A_second_migrate_up_says_nothing_is_pending_and_exits_0()
    {
        await using var db = await TestDatabase.MigratedAsync();
        var again = await db.RunAsync("migrate", "up");
        Assert.That(again.ExitCode, Is.EqualTo(0), again.ToString());
        Assert.That(again.Stderr, Does.Contain("nothing to apply"));
    }

    [Test]
    public async Task Five_runners_started_together_all_exit_0_and_record_every_version_once()
    {
        await using var db = await TestDatabase.CreateAsync();
        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url };
        var results = await RunnerProcess.RunTogetherAsync(5, environment, TimeSpan.FromMinutes(5), "migrate", "up");
        foreach (var result in results)
        {
            Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        }

        Assert.That(results.Count(r => r.Stderr.Contains("migrate up: applied", StringComparison.Ordinal)), Is.EqualTo(1), "exactly one runner migrated");

        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(OrdinaryVersions.ToList()), "each version recorded exactly once");
    }

    [Test]
    public async Task A_runner_waits_for_the_migration_lock_and_gives_up_with_exit_3_after_its_lock_timeout()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var holder = await MigrationLock.HoldAsync(db);

        var result = await db.RunAsync("migrate", "up", "--lock-timeout", "2");
        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.Stderr, Does.Contain("migration lock"));
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regclass('ogelbase_migrations.version_info') IS NULL"), Is.True, "nothing was read or created without the lock");
    }

    [Test]
    public async Task A_runner_waiting_for_the_lock_proceeds_once_the_holder_releases_it()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var holder = await MigrationLock.HoldAsync(db);

        var run = db.RunAsync("migrate", "up", "--lock-timeout", "60");
        await Task.Delay(1500);
        Assert.That(run.IsCompleted, Is.False, "the runner waits while the lock is held");
        await holder.CloseAsync();

        var result = await run;
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain("waiting for the migration lock"));
    }

    [Test]
    public async Task The_lock_is_free_after_a_run()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.UpAsync();
        await using var connection = await db.OpenAsync();
        Assert.That(await MigrationLock.IsHeldAsync(connection), Is.False);
    }

    [Test]
    public async Task The_version_table_lives_outside_the_platform_schema()
    {
        await using var db = await TestDatabase.MigratedAsync();
        Assert.That(await Catalog.ExistsAsync(db, "ogelbase_migrations.version_info"), Is.True);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relnamespace = 'platform'::regnamespace AND relname ILIKE '%version%'"), Is.EqualTo(0));
    }

    [Test]
    public async Task A_hand_migrated_platform_schema_without_recorded_versions_is_refused_and_left_unchanged()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE SCHEMA platform; CREATE TABLE platform.organizations (id uuid PRIMARY KEY)");
        var before = await Catalog.SnapshotAsync(db);

        var result = await db.RunAsync("migrate", "up");
        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain("baseline"));
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before));
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regnamespace('ogelbase_migrations') IS NULL"), Is.True, "not even the tool's own schema was created");

        var rollback = await db.RunAsync("rollback", "0");
        Assert.That(rollback.ExitCode, Is.EqualTo(1), rollback.ToString());
    }

    [Test]
    public async Task A_failing_migration_names_itself_and_the_sqlstate_and_leaves_the_database_as_it_was()
    {
        await using var db = await TestDatabase.CreateAsync();
        var first = KnownMigrations.All[0].Version;
        var second = KnownMigrations.All[1];
        Assert.That((await db.RunAsync("migrate", "up", "--to", first.ToString(System.Globalization.CultureInfo.InvariantCulture))).ExitCode, Is.EqualTo(0));

        // A hand-made object in the way of the next migration: a view named like a table it creates.
        var blocker = await db.ScalarAsync<string>("SELECT 'platform.subscriptions'");
        await db.ExecuteAsync($"CREATE VIEW {blocker} AS SELECT 1 AS x");
        var before = await Catalog.SnapshotAsync(db);

        var result = await db.RunAsync("migrate", "up", "--to", second.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain($"migration {second.Label} failed"));
        Assert.That(result.Stderr, Does.Match("42P07|42809"), "the SQLSTATE is named");
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "nothing of the failed migration remains");
        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(new[] { first }), "the version is not recorded");
    }

    [Test]
    public async Task Migrate_up_dry_run_changes_nothing_not_even_the_version_table()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await db.RunAsync("migrate", "up", "--dry-run");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain("nothing was changed"));
        Assert.That(result.Stderr, Does.Contain("CREATE TABLE"), "the SQL is shown");
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regnamespace('platform') IS NULL AND to_regnamespace('ogelbase_migrations') IS NULL"), Is.True);
    }
}
