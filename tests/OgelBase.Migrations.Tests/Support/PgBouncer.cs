using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// A real PgBouncer (the Debian package's /usr/sbin/pgbouncer) in front of the test server, on a free loopback
/// port, one per pool mode, started on first use and stopped at the end of the run. Every database of the server
/// is reachable through it under its own name (the "*" fallback entry), with the server's superuser and password.
/// Like the server, it refuses to run as root, so under root it runs as the postgres OS user.
/// </summary>
public sealed class PgBouncer
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, PgBouncer> Running = [];

    private readonly string _directory;
    private readonly Process _process;

    private PgBouncer(string mode, int port, string directory, Process process)
    {
        Mode = mode;
        Port = port;
        _directory = directory;
        _process = process;
    }

    public string Mode { get; }

    public int Port { get; }

    /// <summary>pool_mode = session: one server session per client for the client's whole connection.</summary>
    public static PgBouncer Session => Get("session");

    /// <summary>pool_mode = transaction: the server session is handed to another client after every transaction.</summary>
    public static PgBouncer Transaction => Get("transaction");

    /// <summary>pool_mode = statement: the server session is handed on after every statement; transaction blocks are refused.</summary>
    public static PgBouncer Statement => Get("statement");

    /// <summary>The database as a postgres:// URI through this pooler, as a user pasting the pooler's URL would give it.</summary>
    public string UrlFor(TestDatabase db) =>
        $"postgres://{Uri.EscapeDataString(PostgresServer.User)}:{Uri.EscapeDataString(PostgresServer.Password)}@127.0.0.1:{Port}/{Uri.EscapeDataString(db.Name)}";

    public string ConnectionStringFor(TestDatabase db) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = PostgresServer.User,
            Password = PostgresServer.Password,
            Database = db.Name,
            Pooling = false,
            Timeout = 15,
        }.ConnectionString;

    public static void StopAll()
    {
        lock (Gate)
        {
            foreach (var bouncer in Running.Values)
            {
                bouncer.Stop();
            }

            Running.Clear();
        }
    }

    private static PgBouncer Get(string mode)
    {
        lock (Gate)
        {
            if (!Running.TryGetValue(mode, out var bouncer))
            {
                bouncer = Start(mode);
                Running[mode] = bouncer;
            }

            return bouncer;
        }
    }

    private static PgBouncer Start(string mode)
    {
        const string binary = "/usr/sbin/pgbouncer";
        if (!File.Exists(binary))
        {
            throw new InvalidOperationException($"{binary} not found: install the Debian package (apt-get install -y pgbouncer).");
        }

        var directory = Path.Combine(Path.GetTempPath(), $"ogelbase-test-pgbouncer-{mode}-{Guid.NewGuid():N}"[..48]);
        Directory.CreateDirectory(directory);
        var port = FreeLoopbackPort();
        var users = Path.Combine(directory, "userlist.txt");
        File.WriteAllText(users, $"\"{PostgresServer.User}\" \"{PostgresServer.Password.Replace("\"", "\"\"")}\"\n");
        var ini = Path.Combine(directory, "pgbouncer.ini");

        // server_reset_query is left at its default, DISCARD ALL: it includes pg_advisory_unlock_all(), which is what
        // releases a killed client's migration lock in session mode (Operations/PoolerTests prove it).
        File.WriteAllText(ini, $"""
            [databases]
            * = host={PostgresServer.Host} port={PostgresServer.Port}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = scram-sha-256
            auth_file = {users}
            pool_mode = {mode}
            default_pool_size = 60
            max_client_conn = 300
            ignore_startup_parameters = extra_float_digits
            logfile = {Path.Combine(directory, "pgbouncer.log")}
            pidfile = {Path.Combine(directory, "pgbouncer.pid")}
            """);

        var start = new ProcessStartInfo { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Environment.UserName == "root")
        {
            Run("chown", "-R", "postgres", directory);
            start.FileName = "runuser";
            foreach (var arg in new[] { "-u", "postgres", "--", binary })
            {
                start.ArgumentList.Add(arg);
            }
        }
        else
        {
            start.FileName = binary;
        }

        start.ArgumentList.Add(ini);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start pgbouncer");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var bouncer = new PgBouncer(mode, port, directory, process);
        bouncer.WaitUntilReady(TimeSpan.FromSeconds(30));
        return bouncer;
    }

    private void WaitUntilReady(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var builder = new NpgsqlConnectionStringBuilder(PostgresServer.AdminConnectionString) { Host = "127.0.0.1", Port = Port, Timeout = 5, Pooling = false };
        while (true)
        {
            try
            {
                using var connection = new NpgsqlConnection(builder.ConnectionString);
                connection.Open();
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                if (_process.HasExited || DateTime.UtcNow > deadline)
                {
                    var log = Path.Combine(_directory, "pgbouncer.log");
                    throw new InvalidOperationException(
                        $"pgbouncer ({Mode}) did not accept connections: {e.Message}; log: {(File.Exists(log) ? File.ReadAllText(log) : "none")}");
                }

                Thread.Sleep(200);
            }
        }
    }

    private void Stop()
    {
        // The pid file names the pgbouncer process itself (under runuser, _process is runuser); both were started here.
        var pidFile = Path.Combine(_directory, "pgbouncer.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
        {
            try
            {
                using var bouncer = Process.GetProcessById(pid);
                bouncer.Kill();
                bouncer.WaitForExit(5000);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }

        if (!_process.HasExited)
        {
            _process.Kill();
        }

        _process.WaitForExit(5000);
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless.
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(file, args) ?? throw new InvalidOperationException($"could not start {file}");
        process.WaitForExit();
    }
}
