using System.Text.Json;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Runner;

/// <summary>
/// Applied history cannot be edited silently: the runner records a checksum of what each migration executes and
/// refuses to act on a database whose recorded checksums differ from this build's, unless told to accept them.
/// A recorded checksum that differs is exactly what a migration edited after it was applied looks like to a later build.
/// </summary>
public sealed class ChecksumTests
{
    private static string Checksum(long version) => Checksums.Of(version);

    /// <summary>What builds before 8 was reshaped into Execute.Sql statements recorded for it (main at 1ee7a1e).</summary>
    private const string PreviousShapeOf8 = "3f82b186655b94d877f431d35ac2141836bbe7e4b9b420066940aeee11bceafc";

    /// <summary>What builds before 11 was reshaped into Execute.Sql statements recorded for it (main at 22e7215).</summary>
    private const string PreviousShapeOf11 = "4dc951175ce13307412a68726c141550d7deab0eaf7d174a7b0a1a6fbe3b06ec";

    private static async Task PretendEditedAfterApplyingAsync(TestDatabase db, params long[] versions) =>
        await db.ExecuteAsync($"UPDATE ogelbase_migrations.version_info SET checksum = 'recorded-by-an-earlier-edit' WHERE version IN ({string.Join(",", versions)})");

    [Test]
    public async Task Migrate_up_records_this_builds_checksum_for_every_version_it_applies()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.UpAsync("--to", "3");

        Assert.That(await db.ColumnAsync("SELECT version || ' ' || checksum FROM ogelbase_migrations.version_info ORDER BY version"),
            Is.EqualTo(new[] { 1L, 2, 3 }.Select(v => $"{v} {Checksum(v)}")));
    }

    [Test]
    public async Task A_migration_changed_since_it_was_applied_makes_migrate_up_and_rollback_refuse_naming_every_such_version()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await PretendEditedAfterApplyingAsync(db, 3, 8);
        var before = await Catalog.SnapshotAsync(db);

        foreach (var args in new[] { new[] { "migrate", "up" }, ["rollback", "6"] })
        {
            var refused = await db.RunAsync(args);
            Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
            var error = refused.Stderr.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
            Assert.That(error, Does.Contain("003 ").And.Contain("008 ").And.Contain("changed since applied").And.Contain("--allow-changed 3,8"));
            Assert.That(error, Does.Not.Contain("002 ").And.Not.Contain("006 "), "only the changed versions are named");
        }

        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(before), "nothing was changed");
        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6, 8 }));
    }

    [Test]
    public async Task Allow_changed_accepts_the_named_versions_records_their_new_checksums_and_goes_on()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await PretendEditedAfterApplyingAsync(db, 3, 8);

        var partly = await db.RunAsync("migrate", "up", "--allow-changed", "3");
        Assert.That(partly.ExitCode, Is.EqualTo(1), "8 is still changed and not accepted");
        Assert.That(partly.Stderr, Does.Contain("008 ").And.Contain("--allow-changed 8"));

        var accepted = await db.RunAsync("migrate", "up", "--allow-changed", "3,8");
        Assert.That(accepted.ExitCode, Is.EqualTo(0), accepted.ToString());
        Assert.That(accepted.Stderr, Does.Contain("accepted (--allow-changed)"));
        Assert.That(await db.ScalarAsync<string>("SELECT checksum FROM ogelbase_migrations.version_info WHERE version = 8"), Is.EqualTo(Checksum(8)));
        Assert.That(await db.RecordedVersionsAsync(), Does.Contain(10L), "the run went on to apply what was pending");

        var again = await db.RunAsync("migrate", "up");
        Assert.That(again.ExitCode, Is.EqualTo(0), again.ToString());
    }

    [Test]
    public async Task A_database_recorded_by_a_build_without_checksums_gets_them_recorded_without_refusing()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.ExecuteAsync("ALTER TABLE ogelbase_migrations.version_info DROP COLUMN checksum");

        var status = await db.RunAsync("status", "--json");
        Assert.That(status.ExitCode, Is.EqualTo(0), status.ToString());
        Assert.That(await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'ogelbase_migrations.version_info'::regclass AND attname = 'checksum' AND NOT attisdropped)"),
            Is.False, "status is read-only: it does not add the column");

        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(up.Stderr, Does.Contain("recorded the checksums of 7 versions applied by an earlier build"));
        Assert.That(await db.ColumnAsync("SELECT version || ' ' || checksum FROM ogelbase_migrations.version_info ORDER BY version"),
            Is.EqualTo(KnownMigrations.All.Where(m => m.OptIn is null).Select(m => $"{m.Version} {Checksum(m.Version)}")));
    }

    [TestCase(8, PreviousShapeOf8, "008 active organization tracking")]
    [TestCase(11, PreviousShapeOf11, "011 the Studio app's SQL")]
    public async Task A_database_that_recorded_the_previous_shape_of_a_reshaped_migration_migrates_without_refusal_and_records_the_new_checksum(
        long version, string previousShape, string label)
    {
        await using var db = await TestDatabase.MigratedAsync("--to", version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await db.ExecuteAsync($"UPDATE ogelbase_migrations.version_info SET checksum = '{previousShape}' WHERE version = {version}");

        var status = await db.RunAsync("status");
        Assert.That(status.Stdout.Split('\n').Single(l => l.StartsWith(label[..4], StringComparison.Ordinal)), Does.Contain("applied").And.Not.Contain("changed_since_applied"));

        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(up.Stderr, Does.Contain($"{label}").And.Contain($": the recorded checksum {previousShape[..12]}… is its earlier shape, which this build supersedes"));
        Assert.That(await db.ScalarAsync<string>($"SELECT checksum FROM ogelbase_migrations.version_info WHERE version = {version}"), Is.EqualTo(Checksum(version)));
        Assert.That(await db.RecordedVersionsAsync(), Is.SupersetOf(KnownMigrations.All.Where(m => m.OptIn is null).Select(m => m.Version)),
            "the run went on to apply whatever was pending");
    }

    /// <summary>What the build at e357765 recorded for the versions with code steps, whose descriptions it hashed.</summary>
    private static readonly Dictionary<long, string> RecordedByE357765 = new()
    {
        [4] = "bd561d09200690af4802880925e644dac75e8fc66f8f07db49d7e3cec4c3f95c",
        [6] = "cf5c8ca1a07ec90f15238c38e8963049e0ec08cb3775e7d58b4d2aedb96671e4",
        [8] = "412bb81c80002fa459b3c93b94f96f7d01d665549bd20e124e591d98e7cd0255",
        [11] = "be59757341c043f344ecde0dd50a1a866849df6372879e5945cc5e04015d9266",
    };

    [Test]
    public async Task A_database_migrated_to_head_by_the_previous_build_migrates_without_flags_and_records_this_builds_checksums()
    {
        await using var db = await TestDatabase.MigratedAsync();
        foreach (var (version, recorded) in RecordedByE357765)
        {
            Assert.That(recorded, Is.Not.EqualTo(Checksum(version)), "the premise: this build's checksum of the version differs");
            await db.ExecuteAsync($"UPDATE ogelbase_migrations.version_info SET checksum = '{recorded}' WHERE version = {version}");
        }

        var up = await db.RunAsync("migrate", "up");

        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(up.Stderr, Does.Contain("checksums no longer take in the descriptions of code steps"));
        Assert.That(await db.ColumnAsync($"SELECT version || ' ' || checksum FROM ogelbase_migrations.version_info WHERE version IN ({string.Join(",", RecordedByE357765.Keys)}) ORDER BY version"),
            Is.EqualTo(RecordedByE357765.Keys.Select(v => $"{v} {Checksum(v)}")));
    }

    [Test]
    public async Task Any_other_checksum_recorded_for_8_is_still_refused()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.ExecuteAsync($"UPDATE ogelbase_migrations.version_info SET checksum = '{PreviousShapeOf8[..^1]}0' WHERE version = 8");

        var up = await db.RunAsync("migrate", "up");

        Assert.That(up.ExitCode, Is.EqualTo(1), up.ToString());
        Assert.That(up.Stderr, Does.Contain("008 ").And.Contain("changed since applied").And.Contain("--allow-changed 8"));
        Assert.That(await db.RecordedVersionsAsync(), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6, 8 }));
    }

    [Test]
    public async Task Status_shows_a_changed_version_as_changed_since_applied_in_text_and_json()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await PretendEditedAfterApplyingAsync(db, 5);

        var text = await db.RunAsync("status");
        Assert.That(text.ExitCode, Is.EqualTo(0), text.ToString());
        Assert.That(text.Stdout.Split('\n').Single(l => l.StartsWith("005", StringComparison.Ordinal)), Does.Contain("changed_since_applied"));
        Assert.That(text.Stderr, Does.Contain("1 changed since applied"));

        var json = await db.RunAsync("status", "--json");
        using var document = JsonDocument.Parse(json.Stdout);
        var states = document.RootElement.GetProperty("migrations").EnumerateArray()
            .ToDictionary(m => m.GetProperty("version").GetInt64(), m => m.GetProperty("state").GetString());
        Assert.That(states[5], Is.EqualTo("changed_since_applied"));
        Assert.That(states[6], Is.EqualTo("applied"));
    }

    [Test]
    public async Task Baseline_records_this_builds_checksums_with_the_versions_it_adopts()
    {
        await using var db = await ProductionSeeds.HandAppliedAsync();

        var baseline = await db.RunAsync("baseline");
        Assert.That(baseline.ExitCode, Is.EqualTo(0), baseline.ToString());
        Assert.That(await db.ColumnAsync("SELECT version || ' ' || checksum FROM ogelbase_migrations.version_info ORDER BY version"),
            Is.EqualTo(new[] { 1L, 2, 3, 4, 5, 6, 8 }.Select(v => $"{v} {Checksum(v)}")));
    }

    /// <summary>
    /// Every applied database holds these: a change to what a migration executes (or to how the build renders it) makes
    /// every one of them refuse to migrate. A migration adds its line once it is released; no line ever changes.
    /// </summary>
    private static readonly string[] AppliedHistory =
    [
        "1 1810f551209dc99f30fb598f248be7d7da7e8068ff20a156a4464181106a660c",
        "2 f86456f144ed066b9b4b8252bd399bb7c82207b8f1741cc007409f706dcd126a",
        "3 2181049c68c7bfab4f3c23c919715d9df76d0044be22f13635c51fcdf2ad5b13",
        "4 7faac4867eb3b8128db095120569a6eb49f59011e0bb2db5ffea19e5f39c9305",
        "5 95dce31e12a56a1cb14d27132a0b2d87e0f6c453c09b02ae3ed48aa8dc29b169",
        "6 94d799ddb76d74995035271879fc1f107678ea7842cefcfb87bc53eac4aa43ae",
        "7 b90d3e9ef53d2c8267d4b4ccd75a872b98fae00635f2d37d2a271508412a8e4f",
        "8 2d053eb120fb767672ca6ed43a34d819bedaa0f0398e0b318eb95ecc30cc8e59",
        "9 4c708eb63c10821e8473d06a3e497e2b95840c626a5477d3665529124ba58cb7",
        "10 916c02cde523e3094387e7e3b57590d37f76ec24e4d99cb941c89563d2ec32b0",
        "11 5ab2a17a8f51c6e8dd63badb083e657ecb5a2894bc9e0f136c3c52d43e74fb91",
    ];

    [Test]
    public void What_each_migration_executes_is_what_databases_recorded_when_it_was_applied() =>
        Assert.That(AppliedHistory.Select(line => $"{line.Split(' ')[0]} {Checksum(long.Parse(line.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture))}"), Is.EqualTo(AppliedHistory),
            "a migration's statements changed: applied history is immutable, write a forward migration instead");

    [Test]
    public void The_checksum_is_taken_of_the_rendered_statements_of_up_and_down_and_differs_between_migrations()
    {
        var first = Checksums.TextOf(1);
        Assert.That(first, Does.Contain("-- up\n").And.Contain("-- down\n"));
        Assert.That(first, Does.Contain("CREATE TABLE \"platform\".\"organizations\""), "FluentMigrator's rendered SQL, as it executes it");
        Assert.That(first, Does.Contain("DROP TABLE \"platform\".\"organizations\""), "the Down is covered too: rollback runs it");
        Assert.That(first, Does.Not.Contain("version_info"), "the version table's bookkeeping, which carries the time of the run, is not part of it");
        Assert.That(KnownMigrations.All.Select(m => Checksum(m.Version)).Distinct().Count(), Is.EqualTo(KnownMigrations.All.Count));
        Assert.That(Checksum(1), Does.Match("^[0-9a-f]{64}$"));
    }
}
