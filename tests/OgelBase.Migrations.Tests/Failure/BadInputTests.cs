using System.Net;
using System.Net.Sockets;

namespace OgelBase.Migrations.Tests.Failure;

/// <summary>
/// Malformed and hostile input: each gets exit 2 (3 when the server cannot be reached), exactly one error line on
/// stderr, no stack trace, never the password, and touches nothing. What "touches nothing" can mean depends on where
/// the input could get to (<see cref="Reach"/>), and each case checks exactly that: that a refused input made no
/// connection, that a closed port is closed, and, for the one input that does reach the test server, that the
/// database it targets is exactly as it was.
/// </summary>
public sealed class BadInputTests
{
    private const string Secret = "Pw0rd-SECRET";

    /// <summary>Where an input could get to, and so what its "touches nothing" check is.</summary>
    public enum Reach
    {
        /// <summary>
        /// The malformation is in the host or port itself: there is no address to reach (a host "h" that does not resolve,
        /// a port that is no port). The exit code and the one line are the check (a parse that let it through would retry
        /// the connection until the timeout and exit 3, not 2).
        /// </summary>
        Nowhere,

        /// <summary>
        /// A usage or URL error with a well-formed address: it names the test's own listener ({listener}), and the
        /// listener must never see a connection: the README promises "nothing was attempted" for exit 2.
        /// </summary>
        Sentinel,

        /// <summary>A closed port: confirmed closed before and after, so exit 3 is the unreachable-server path and nothing else.</summary>
        ClosedPort,

        /// <summary>The input reaches the test server: the migrated database it names ({db}) is compared before and after.</summary>
        TestServer,
    }

    public sealed record BadInput(string Name, string? Url, string[] Args, int ExitCode, Reach Reach)
    {
        public override string ToString() => Name;
    }

    private static string Server => $"127.0.0.1:{PostgresServer.Port}";

    private const int ClosedPort = 1;

    // {listener} is replaced by host:port of the test's sentinel listener, {listenerport} by its port; {server},
    // {password} and {db} by the test server's host:port, its password and the per-test database's name.
    private static IEnumerable<BadInput> Cases()
    {
        string[] up = ["migrate", "up"];
        const string url = $"postgres://u:{Secret}@{{listener}}/d";
        yield return new("scheme mysql", $"mysql://u:{Secret}@{{listener}}/d", up, 2, Reach.Sentinel);
        yield return new("scheme http", $"http://u:{Secret}@{{listener}}/d", up, 2, Reach.Sentinel);
        yield return new("scheme without slashes", $"postgres:u:{Secret}@{{listener}}/d", up, 2, Reach.Sentinel);
        yield return new("unclosed IPv6 bracket", $"postgres://u:{Secret}@[::1:5432/d", up, 2, Reach.Nowhere);
        yield return new("stray closing bracket", $"postgres://u:{Secret}@h]:5432/d", up, 2, Reach.Nowhere);
        yield return new("unencoded @ in password", "postgres://u:Pw0rd@SECRET@{listener}/d", up, 2, Reach.Sentinel);
        yield return new("huge URL", $"postgres://u:{Secret}@{{listener}}/" + new string('d', 200_000), up, 2, Reach.Sentinel);
        yield return new("control character", $"postgres://u:{Secret}@{{listener}}/d\u0001", up, 2, Reach.Sentinel);
        yield return new("newline inside", $"postgres://u:{Secret}@h\n/d", up, 2, Reach.Nowhere);
        yield return new("escape sequence", $"postgres://u:{Secret}@{{listener}}/d\u001b[2J", up, 2, Reach.Sentinel);
        yield return new("unknown sslmode", $"postgres://u:{Secret}@{{listener}}/d?sslmode=maybe", up, 2, Reach.Sentinel);
        yield return new("negative port", $"postgres://u:{Secret}@h:-1/d", up, 2, Reach.Nowhere);
        yield return new("port above 65535", $"postgres://u:{Secret}@h:70000/d", up, 2, Reach.Nowhere);
        yield return new("overflowing port", $"postgres://u:{Secret}@h:99999999999999999999/d", up, 2, Reach.Nowhere);
        yield return new("unknown query key", $"postgres://u:{Secret}@{{listener}}/d?frobnicate=1", up, 2, Reach.Sentinel);
        yield return new("bad percent escape", $"postgres://u:{Secret}%zz@{{listener}}/d", up, 2, Reach.Sentinel);
        yield return new("no host", $"postgres://u:{Secret}@/d", up, 2, Reach.Nowhere);
        yield return new("keyword string, unknown key", $"Host=127.0.0.1;Port={{listenerport}};Password={Secret};Frobnicate=1", up, 2, Reach.Sentinel);
        yield return new("keyword string, bad port", $"Host=h;Password={Secret};Port=notaport", up, 2, Reach.Nowhere);
        yield return new("blank DATABASE_URL", "   ", up, 2, Reach.Nowhere);
        yield return new("unreachable server", $"postgres://u:{Secret}@127.0.0.1:{ClosedPort}/d", [.. up, "--connect-timeout", "1"], 3, Reach.ClosedPort);
        yield return new("SQL in the database name", $"postgres://postgres:{{password}}@{{server}}/x%22%3B%20DROP%20DATABASE%20%22{{db}}%22%3B--", up, 3, Reach.TestServer);
        yield return new("unknown verb", url, ["frobnicate"], 2, Reach.Sentinel);
        yield return new("no verb", url, [], 2, Reach.Sentinel);
        yield return new("unknown flag", url, ["migrate", "up", "--force"], 2, Reach.Sentinel);
        yield return new("non-numeric rollback version", url, ["rollback", "abc"], 2, Reach.Sentinel);
        yield return new("fractional rollback version", url, ["rollback", "1.5"], 2, Reach.Sentinel);
        yield return new("unknown rollback version", url, ["rollback", "99"], 2, Reach.Sentinel);
        yield return new("negative rollback version", url, ["rollback", "-1"], 2, Reach.Sentinel);
        yield return new("non-numeric --to", url, ["migrate", "up", "--to", "x"], 2, Reach.Sentinel);
        yield return new("negative connect timeout", url, ["migrate", "up", "--connect-timeout", "-5"], 2, Reach.Sentinel);
        yield return new("zero lock timeout", url, ["migrate", "up", "--lock-timeout", "0"], 2, Reach.Sentinel);
        yield return new("--include of a migration that is not opt-in", url, ["migrate", "up", "--include", "8"], 2, Reach.Sentinel);
        yield return new("malformed --versions", url, ["baseline", "--versions", "1-x"], 2, Reach.Sentinel);
        yield return new("SQL in --versions", url, ["baseline", "--versions", "1;DROP TABLE x"], 2, Reach.Sentinel);
    }

    [TestCaseSource(nameof(Cases))]
    public async Task Bad_input_gets_one_clear_line_and_a_documented_exit_code_and_touches_nothing(BadInput input)
    {
        using var sentinel = new Sentinel();
        await using var db = input.Reach == Reach.TestServer ? await TestDatabase.MigratedAsync() : null;
        var before = db is null ? null : await Catalog.ImageAsync(db);
        if (input.Reach == Reach.ClosedPort)
        {
            Assert.That(Refuses(ClosedPort), Is.True, $"the premise: nothing listens on 127.0.0.1:{ClosedPort}");
        }

        var url = input.Url?
            .Replace("{listener}", $"127.0.0.1:{sentinel.Port}", StringComparison.Ordinal)
            .Replace("{listenerport}", $"{sentinel.Port}", StringComparison.Ordinal)
            .Replace("{password}", Uri.EscapeDataString(PostgresServer.Password), StringComparison.Ordinal)
            .Replace("{server}", Server, StringComparison.Ordinal)
            .Replace("{db}", db?.Name ?? "", StringComparison.Ordinal);
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
            if (input.Reach == Reach.Sentinel)
            {
                Assert.That(sentinel.ConnectedTo, Is.False, $"refused before any connection: the URL's address (127.0.0.1:{sentinel.Port}) was never connected to");
            }
        });

        switch (input.Reach)
        {
            case Reach.ClosedPort:
                Assert.That(Refuses(ClosedPort), Is.True, $"127.0.0.1:{ClosedPort} is still closed: exit 3 came from a refused connection");
                break;
            case Reach.TestServer:
                // The premise: the input got to the server, which answered that the smuggled name is no database.
                Assert.That(result.Stderr, Does.Contain("does not exist"), result.ToString());
                Assert.That(await Catalog.ImageAsync(db!), Is.EqualTo(before), "the database the SQL names is untouched");
                await using (var connection = await db!.OpenAsync())
                {
                    Assert.That(await OgelBase.Migrations.Runner.Engine.MigrationLock.IsHeldAsync(connection), Is.False, "no lock is left behind");
                }

                break;
        }
    }

    /// <summary>Whether a TCP connection to this loopback port is refused (nothing listens there).</summary>
    private static bool Refuses(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, port);
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
    }

    /// <summary>
    /// A loopback listener a refused input's URL points at. It never accepts: a connection made to it waits in its
    /// accept queue (even one the client has closed again), so "was it connected to" is read without a race.
    /// </summary>
    private sealed class Sentinel : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

        public Sentinel() => _listener.Start();

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public bool ConnectedTo => _listener.Pending();

        public void Dispose() => _listener.Stop();
    }
}
