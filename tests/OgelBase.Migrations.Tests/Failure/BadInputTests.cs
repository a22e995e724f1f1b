using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Failure;

/// <summary>
/// Malformed and hostile input: each gets exit 2 (3 when the server cannot be reached), exactly one error line on
/// stderr, no stack trace, never the password, and a database that is exactly as it was.
/// </summary>
public sealed class BadInputTests
{
    private const string Secret = "Pw0rd-SECRET";

    public sealed record BadInput(string Name, string? Url, string[] Args, int ExitCode)
    {
        public override string ToString() => Name;
    }

    private static string Server => $"127.0.0.1:{PostgresServer.Port}";

    // {db} is replaced by the per-test database name, {server} by host:port of the test server.
    private static IEnumerable<BadInput> Cases()
    {
        string[] up = ["migrate", "up"];
        yield return new("scheme mysql", $"mysql://u:{Secret}@h/d", up, 2);
        yield return new("scheme http", $"http://u:{Secret}@h/d", up, 2);
        yield return new("scheme without slashes", $"postgres:u:{Secret}@h/d", up, 2);
        yield return new("unclosed IPv6 bracket", $"postgres://u:{Secret}@[::1:5432/d", up, 2);
        yield return new("stray closing bracket", $"postgres://u:{Secret}@h]:5432/d", up, 2);
        yield return new("unencoded @ in password", $"postgres://u:Pw0rd@SECRET@h/d", up, 2);
        yield return new("huge URL", $"postgres://u:{Secret}@h/" + new string('d', 200_000), up, 2);
        yield return new("control character", $"postgres://u:{Secret}@h/d\u0001", up, 2);
        yield return new("newline inside", $"postgres://u:{Secret}@h\n/d", up, 2);
        yield return new("escape sequence", $"postgres://u:{Secret}@h/d\u001b[2J", up, 2);
        yield return new("unknown sslmode", $"postgres://u:{Secret}@h/d?sslmode=maybe", up, 2);
        yield return new("negative port", $"postgres://u:{Secret}@h:-1/d", up, 2);
        yield return new("port above 65535", $"postgres://u:{Secret}@h:70000/d", up, 2);
        yield return new("overflowing port", $"postgres://u:{Secret}@h:99999999999999999999/d", up, 2);
        yield return new("unknown query key", $"postgres://u:{Secret}@h/d?frobnicate=1", up, 2);
        yield return new("bad percent escape", $"postgres://u:{Secret}%zz@h/d", up, 2);
        yield return new("no host", $"postgres://u:{Secret}@/d", up, 2);
        yield return new("keyword string, unknown key", $"Host=h;Password={Secret};Frobnicate=1", up, 2);
        yield return new("keyword string, bad port", $"Host=h;Password={Secret};Port=notaport", up, 2);
        yield return new("blank DATABASE_URL", "   ", up, 2);
        yield return new("unreachable server", $"postgres://u:{Secret}@127.0.0.1:1/d", [.. up, "--connect-timeout", "1"], 3);
        yield return new("SQL in the database name", $"postgres://postgres:{{password}}@{{server}}/x%22%3B%20DROP%20DATABASE%20%22{{db}}%22%3B--", up, 3);
        yield return new("unknown verb", "{url}", ["frobnicate"], 2);
        yield return new("no verb", "{url}", [], 2);
        yield return new("unknown flag", "{url}", ["migrate", "up", "--force"], 2);
        yield return new("non-numeric rollback version", "{url}", ["rollback", "abc"], 2);
        yield return new("fractional rollback version", "{url}", ["rollback", "1.5"], 2);
        yield return new("unknown rollback version", "{url}", ["rollback", "99"], 2);
        yield return new("negative rollback version", "{url}", ["rollback", "-1"], 2);
        yield return new("non-numeric --to", "{url}", ["migrate", "up", "--to", "x"], 2);
        yield return new("negative connect timeout", "{url}", ["migrate", "up", "--connect-timeout", "-5"], 2);
        yield return new("zero lock timeout", "{url}", ["migrate", "up", "--lock-timeout", "0"], 2);
        yield return new("--include of a migration that is not opt-in", "{url}", ["migrate", "up", "--include", "8"], 2);
        yield return new("malformed --versions", "{url}", ["baseline", "--versions", "1-x"], 2);
        yield return new("SQL in --versions", "{url}", ["baseline", "--versions", "1;DROP TABLE x"], 2);
    }

    [TestCaseSource(nameof(Cases))]
    public async Task Bad_input_gets_one_clear_line_and_a_documented_exit_code_and_touches_nothing(BadInput input)
    {
        // The inputs that reach the test server ({url}, and the SQL smuggled into a database name, which names this
        // database) meet a migrated database, so "touches nothing" is checked where something could be touched: its
        // schema, its version table and the migration lock. The others name a host that does not exist or a closed
        // port and never reach any server; for them the same check is only a tripwire.
        await using var db = await TestDatabase.MigratedAsync();
        var before = await Catalog.ImageAsync(db);
        var url = input.Url?
            .Replace("{url}", db.Url, StringComparison.Ordinal)
            .Replace("{password}", Uri.EscapeDataString(PostgresServer.Password), StringComparison.Ordinal)
            .Replace("{server}", Server, StringComparison.Ordinal)
            .Replace("{db}", db.Name, StringComparison.Ordinal);
        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = url };

        var result = await Cli.RunAsync(environment, input.Args);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(input.ExitCode), result.ToString());
            var errorLines = result.Stderr.Split('\n').Count(l => l.StartsWith("error:", StringComparison.Ordinal));
            Assert.That(errorLines, Is.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("   at "), "no stack trace");
            Assert.That(result.Stdout + result.Stderr, Does.Not.Contain("SECRET"), "the password is never printed");
            Assert.That(result.Stdout + result.Stderr, Does.Not.Contain(PostgresServer.Password), "the server password is never printed");
            Assert.That(result.Stderr.Length, Is.LessThan(2000), "one clear line, not a dump");
        });

        var after = await Catalog.ImageAsync(db);
        Assert.That(after, Is.EqualTo(before), "the database is untouched");
        await using var connection = await db.OpenAsync();
        Assert.That(await OgelBase.Migrations.Runner.Engine.MigrationLock.IsHeldAsync(connection), Is.False, "no lock is left behind");
    }
}
