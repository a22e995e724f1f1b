using System.Text.Json;
using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Trace;

/// <summary>
/// <c>trace</c> end to end: a rehearsal on a scratch database that reports the locks of the pending migrations with the
/// target's sizes, never changes the target, and never leaves its scratch database behind. The tests of this fixture
/// run one after another, so "no scratch database remains" speaks only of their own.
/// </summary>
public sealed class TraceRehearsalTests
{
    [Test]
    public async Task A_trace_at_100k_users_reports_008s_column_under_ACCESS_EXCLUSIVE_and_its_index_build_under_SHARE_UPDATE_EXCLUSIVE_and_changes_nothing()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "7", "--include", "7");
        await db.ExecuteAsync("INSERT INTO platform.users (email) SELECT 'trace' || g || '@example.test' FROM generate_series(1, 100000) g; ANALYZE platform.users");
        var image = await Catalog.ImageAsync(db);
        var snapshot = await Catalog.SnapshotAsync(db);
        var versions = await TraceRun.VersionRowsAsync(db);

        var result = await TraceRun.TraceAsync(db, "--format", "json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var report = JsonDocument.Parse(result.Stdout);
        var m008 = TraceRun.Migration(report, 8);
        var addColumn = TraceRun.Statement(m008, "ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id");
        var indexBuild = TraceRun.Statement(m008, "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_active_org");
        Assert.Multiple(() =>
        {
            Assert.That(TraceRun.Locks(addColumn), Does.Contain("platform.users AccessExclusiveLock"));
            Assert.That(TraceRun.Locks(indexBuild), Does.Contain("platform.users ShareUpdateExclusiveLock"));
            Assert.That(TraceRun.Locks(indexBuild), Has.None.Contains("platform.users ShareLock"), "built concurrently, never under SHARE");
            var target = addColumn.GetProperty("locks").EnumerateArray().First(l => l.GetProperty("relation").GetString() == "platform.users").GetProperty("target");
            Assert.That(target.GetProperty("rows").GetDouble(), Is.InRange(90_000, 110_000), "the target's size next to the lock, not the scratch's");
            Assert.That(target.GetProperty("bytes").GetInt64(), Is.GreaterThan(1_000_000));
            Assert.That(report.RootElement.GetProperty("migrations").EnumerateArray().Select(m => m.GetProperty("version").GetInt64()), Is.EqualTo(new long[] { 8, 10, 11 }),
                "the pending migrations, 9 held back as migrate up would");
            Assert.That(report.RootElement.GetProperty("target_versions").EnumerateArray().Select(v => v.GetInt64()), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6, 7 }));
            Assert.That(result.Stderr, Does.Match(@"trace: 3 migrations, \d+ statements, \d+ findings? \(\d+ waived\); scratch database dropped"));
        });

        Assert.Multiple(async () =>
        {
            Assert.That(await Catalog.ImageAsync(db), Is.EqualTo(image), "the target's schemas, versions and catalog");
            Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(snapshot));
            Assert.That(await TraceRun.VersionRowsAsync(db), Is.EqualTo(versions), "the version table, applied_on and checksums included");
            Assert.That(TraceRun.ScratchName(result), Is.Not.Null, result.Stderr);
            Assert.That(await TraceRun.ScratchDatabasesAsync(), Is.Empty, "no scratch database remains");
        });
    }

    [Test]
    public async Task A_trace_whose_scratch_database_cannot_be_migrated_fails_with_one_line_and_still_drops_it()
    {
        // Recorded 9 with an auth.users that has no id column: the scratch database gets the same table, and replaying
        // 9 there fails midway, in its backfill, after 1-6 and 8 were applied.
        await using var db = await TestDatabase.MigratedAsync("--to", "8");
        await db.ExecuteAsync("""
            CREATE SCHEMA auth; CREATE TABLE auth.users (email text);
            INSERT INTO ogelbase_migrations.version_info (version, applied_on, description) VALUES (9, now() at time zone 'utc', 'recorded by hand');
            """);
        var image = await Catalog.ImageAsync(db);

        var result = await TraceRun.TraceAsync(db, "--format", "json");

        Assert.Multiple(async () =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
            Assert.That(result.Stdout, Is.Empty, "no report of a trace that did not happen");
            Assert.That(result.Stderr, Does.Contain("error: trace failed on the scratch database: ").And.Contain("scratch database ogelbase_trace_").And.Contain(" dropped; the target was not changed"));
            Assert.That(result.Stderr, Does.Not.Contain("   at "), "no stack trace");
            Assert.That(await TraceRun.ScratchDatabasesAsync(), Is.Empty);
            Assert.That(await Catalog.ImageAsync(db), Is.EqualTo(image));
        });
    }

    [Test]
    public async Task A_trace_refuses_a_schema_migrated_by_hand_and_creates_no_scratch_database()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE SCHEMA platform; CREATE TABLE platform.organizations (id uuid PRIMARY KEY)");

        var result = await TraceRun.TraceAsync(db);

        Assert.Multiple(async () =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
            Assert.That(result.Stderr.Trim().Split('\n').Last(), Does.StartWith("error: trace refused: schema platform already holds"));
            Assert.That(result.Stderr, Does.Not.Contain("scratch database"));
            Assert.That(await TraceRun.ScratchDatabasesAsync(), Is.Empty);
            Assert.That(await TraceRun.VersionRowsTableExistsAsync(db), Is.False, "not even the version table was created");
        });
    }

    [Test]
    public async Task A_waiver_that_matches_nothing_is_reported_and_fails_a_trace_run_with_fail_on_findings()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "10");
        await SeededRows.SeedAsync(db);
        var waivers = Path.Combine(Path.GetTempPath(), $"lock-waivers-{Guid.NewGuid():N}.tsv");
        await File.WriteAllTextAsync(waivers, "# rule\tversions\trelation\treason\ntable-rewrite\t11\tplatform.projects\t11 rewrites no table; this row is stale on purpose\n");
        try
        {
            // The scratch database on the server --scratch-url names (here the same one, through its maintenance database).
            var result = await db.RunAsync("trace", "--waivers", waivers, "--format", "markdown", "--fail-on-findings", "--scratch-url", PostgresServer.UrlFor(PostgresServer.MaintenanceDatabase));

            Assert.Multiple(() =>
            {
                Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
                Assert.That(result.Stdout, Does.Contain("#### 011 ").And.Contain("| tx | statement | lock |").And.Contain("**waiver matches nothing**: line 2"));
                Assert.That(result.Stderr, Does.Match($@"scratch database {PostgresServer.Host}:{PostgresServer.Port}/ogelbase_trace_[0-9a-f]+ created"));
                Assert.That(result.Stderr, Does.Contain("1 waiver matching nothing; scratch database dropped").And.Contain("error: trace: 1 finding not waived (--fail-on-findings)"));
            });
        }
        finally
        {
            File.Delete(waivers);
        }
    }

    [TestCase("--format", "xml", ExpectedResult = "error: --format must be text, json or markdown.")]
    [TestCase("--to", "99", ExpectedResult = "error: --to 99: no migration has that version (known: 001, 002, 003, 004, 005, 006, 007, 008, 009, 010, 011).")]
    [TestCase("--include", "8", ExpectedResult = "error: --include 8: not an opt-in migration (opt-in: 007, 009).")]
    [TestCase("--scratch-url", "mysql://x", ExpectedResult = "error: --scratch-url is malformed: the scheme 'mysql' is not supported; use postgres:// or postgresql://.")]
    public async Task<string> Bad_input_is_one_line_and_exit_2(params string[] args)
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await db.RunAsync(["trace", .. args]);
        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        return result.Stderr.Trim();
    }

    /// <summary>Every migration of this build, traced from the version before it on a database holding rows: nothing that is not waived.</summary>
    [TestCase(1, "", "--to 1", false)]
    [TestCase(2, "--to 1", "--to 2", false)]
    [TestCase(3, "--to 2", "--to 3", false)]
    [TestCase(4, "--to 3", "--to 4", false)]
    [TestCase(5, "--to 4", "--to 5", false)]
    [TestCase(6, "--to 5", "--to 6", false)]
    [TestCase(7, "--to 6", "--to 7 --include 7", false)]
    [TestCase(8, "--to 7", "--to 8", false)]
    [TestCase(9, "--to 8", "--to 9 --include 9", true)]
    [TestCase(10, "--to 9", "--to 10", false)]
    [TestCase(11, "--to 10", "--to 11", false)]
    public async Task Every_migration_traced_on_a_database_with_rows_has_no_finding_that_is_not_waived(long version, string targetArgs, string traceArgs, bool gotrue)
    {
        var up = targetArgs.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        await using var db = version == 1 ? await TestDatabase.CreateAsync() : gotrue ? await TestDatabase.MigratedAsync(GoTrueAuth.InTemplate, up) : await TestDatabase.MigratedAsync(up);
        await SeededRows.SeedAsync(db);

        var result = await TraceRun.TraceAsync(db, ["--format", "json", "--fail-on-findings", .. traceArgs.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

        using var report = JsonDocument.Parse(result.Stdout.Length > 0 ? result.Stdout : "{}");
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(0), $"{string.Join("\n", result.Stdout.Length > 0 ? TraceRun.NotWaived(report) : [])}\n{result.Stderr}");
            Assert.That(TraceRun.Migration(report, version).GetProperty("statements").GetArrayLength(), Is.GreaterThan(0));
            Assert.That(result.Stderr, Does.Contain("scratch database dropped"));
        });
    }
}
