using System.Diagnostics;

namespace OgelBase.Migrations.Tests.Runner;

/// <summary>Bad input gets one clear line on stderr and a documented exit code, never a stack trace or a changed database.</summary>
[NonParallelizable] // its subject is timing (signals, lock waits, concurrent processes, online DDL under load): it runs alone
public sealed class CommandLineTests
{
    private static readonly Dictionary<string, string?> NoDatabase = new();

    private static void AssertOneCleanErrorLine(CliResult result, int exitCode)
    {
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(exitCode), result.ToString());
            var errors = result.Stderr.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
            Assert.That(errors, Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("   at "), "no stack trace");
            Assert.That(result.Stderr, Does.Not.Contain("Exception:"), "no exception dump");
        });
    }

    [Test]
    public async Task Without_DATABASE_URL_the_runner_exits_2_saying_it_is_not_set()
    {
        var result = await Cli.RunAsync(NoDatabase, "migrate", "up");
        AssertOneCleanErrorLine(result, 2);
        Assert.That(result.Stderr, Does.Contain("DATABASE_URL is not set"));
    }

    [Test]
    public async Task A_garbage_DATABASE_URL_exits_2()
    {
        var result = await Cli.RunAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = "garbage" }, "migrate", "up");
        AssertOneCleanErrorLine(result, 2);
    }

    [Test]
    public async Task An_unknown_verb_exits_2()
    {
        AssertOneCleanErrorLine(await Cli.RunAsync(NoDatabase, "migrate", "sideways"), 2);
        AssertOneCleanErrorLine(await Cli.RunAsync(NoDatabase, "explode"), 2);
    }

    [Test]
    public async Task An_unknown_flag_exits_2()
    {
        AssertOneCleanErrorLine(await Cli.RunAsync(NoDatabase, "migrate", "up", "--yolo"), 2);
    }

    [Test]
    public async Task Every_verb_has_help()
    {
        // Every command the runner defines, found the way an operator finds them: the root's help lists its commands,
        // each of those its own, down to the verbs that run. A verb added to RunnerApp is in the walk without a change here.
        var verbs = new List<string[]>();
        var pending = new Queue<string[]>([[]]);
        while (pending.TryDequeue(out var path))
        {
            var result = await Cli.RunAsync(NoDatabase, [.. path, "--help"]);
            Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
            Assert.That(result.Stdout, Does.Contain("Usage"), result.ToString());
            var lines = result.Stdout.Split('\n');

            // "Usage:" then "  <program> migrate up [options]": the help shown is this command's own.
            var usage = lines.SkipWhile(l => l.TrimEnd() != "Usage:").Skip(1).FirstOrDefault()?.Trim().Split(' ') ?? [];
            Assert.That(usage.Skip(1).Take(path.Length), Is.EqualTo(path), $"the help of '{string.Join(' ', path)}' is its own: {result}");
            var commands = lines.SkipWhile(l => l.TrimEnd() != "Commands:").Skip(1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal))
                .Select(l => l.Trim().Split(' ')[0]).ToList();
            if (commands.Count == 0 && path.Length > 0)
            {
                verbs.Add(path);
            }

            foreach (var command in commands)
            {
                pending.Enqueue([.. path, command]);
            }
        }

        // The premise: the walk read the help it walked (a help layout it could not read would find no verb at all).
        Assert.That(verbs.Select(v => string.Join(' ', v)), Is.SupersetOf(new[] { "migrate up", "rollback", "status", "baseline", "verify" }));
    }

    [TestCase("99")]
    [TestCase("-1")]
    [TestCase("abc")]
    [TestCase("9223372036854775808")]
    public async Task Rollback_to_a_version_that_does_not_exist_exits_2_and_changes_nothing(string version)
    {
        await using var db = await TestDatabase.CreateAsync();
        var before = await Catalog.SnapshotAsync(db, "ogelbase_migrations");
        var result = await db.RunAsync("rollback", version);
        AssertOneCleanErrorLine(result, 2);
        Assert.That(await Catalog.SnapshotAsync(db, "ogelbase_migrations"), Is.EqualTo(before));
    }

    [Test]
    public async Task Migrate_up_to_an_unknown_version_exits_2()
    {
        await using var db = await TestDatabase.CreateAsync();
        AssertOneCleanErrorLine(await db.RunAsync("migrate", "up", "--to", "4242"), 2);
        AssertOneCleanErrorLine(await db.RunAsync("migrate", "up", "--to", "four"), 2);
    }

    [Test]
    public async Task An_unreachable_server_exits_3_within_the_connect_timeout_without_printing_the_password()
    {
        var clock = Stopwatch.StartNew();
        var result = await RunnerProcess.RunAsync(
            new Dictionary<string, string?> { ["DATABASE_URL"] = "postgres://u:s3cr%40t@127.0.0.1:1/db" },
            "migrate", "up", "--connect-timeout", "3");
        clock.Stop();
        AssertOneCleanErrorLine(result, 3);
        Assert.That(result.Stdout + result.Stderr, Does.Not.Contain("s3cr"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the acceptance bound, with process start-up included");
        Assert.That(result.Stderr, Does.Contain("127.0.0.1:1/db"));
    }

    [Test]
    public async Task A_wrong_password_fails_at_once_with_exit_3_and_is_never_printed()
    {
        await using var db = await TestDatabase.CreateAsync();
        var url = PostgresServer.UrlFor(db.Name, password: "wr0ng-pa55word");
        var clock = Stopwatch.StartNew();
        var result = await Cli.RunAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = url }, "migrate", "up", "--connect-timeout", "30");
        AssertOneCleanErrorLine(result, 3);
        Assert.That(result.Stderr, Does.Contain("authentication failed"));
        Assert.That(result.Stdout + result.Stderr, Does.Not.Contain("wr0ng"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "authentication failures are not retried until the timeout");
    }

    [Test]
    public async Task A_login_allowed_one_connection_fails_with_exit_3_naming_the_migration_session_and_changes_nothing()
    {
        // A run needs two sessions (the lock's and the migration's); the second is refused before anything is done.
        await using var db = await TestDatabase.CreateAsync(ownedByPlainRole: true);
        await PostgresServer.AdminAsync($"ALTER ROLE \"{db.Owner}\" CONNECTION LIMIT 1");

        var result = await db.RunAsync("migrate", "up");

        AssertOneCleanErrorLine(result, 3);
        Assert.That(result.Stderr, Does.Contain("(migration session)").And.Contain("too many connections for role").And.Contain("53300"));
        Assert.That(await db.RecordedVersionsAsync(), Is.Empty);
        Assert.That(await db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname IN ('platform', 'ogelbase_migrations')"), Is.EqualTo(0));
    }

    [Test]
    public async Task A_missing_database_fails_at_once_with_exit_3()
    {
        var result = await Cli.RunAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = PostgresServer.UrlFor("no_such_db_" + Guid.NewGuid().ToString("N")[..8]) }, "status");
        AssertOneCleanErrorLine(result, 3);
        Assert.That(result.Stderr, Does.Contain("does not exist"));
    }

    [Test]
    public async Task The_libpq_variables_are_used_when_DATABASE_URL_is_absent()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await Cli.RunAsync(new Dictionary<string, string?>
        {
            ["PGHOST"] = PostgresServer.Host,
            ["PGPORT"] = PostgresServer.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGUSER"] = PostgresServer.User,
            ["PGPASSWORD"] = PostgresServer.Password,
            ["PGDATABASE"] = db.Name,
        }, "status");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain($"/{db.Name}"));
        Assert.That(result.Stdout + result.Stderr, Does.Not.Contain(PostgresServer.Password));
    }

    [Test]
    public async Task The_connection_option_overrides_DATABASE_URL()
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await Cli.RunAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = "garbage" }, "status", "--connection", db.Url);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
    }
}
