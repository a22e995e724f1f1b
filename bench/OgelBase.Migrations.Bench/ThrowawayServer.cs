using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// A PostgreSQL cluster of its own, removed when disposed: initdb + pg_ctl from local server binaries (as the postgres
/// OS user when run as root) on a free loopback port, with password authentication. The one starter in C#: the
/// benchmark's (<see cref="Start(TextWriter)"/>) and the tests' (tests/.../Support/PostgresServer.cs) differ only in
/// their settings, directory and how they stop.
/// </summary>
public sealed class ThrowawayServer : IDisposable
{
    private readonly string _pgCtl;
    private readonly string _stopMode;
    private readonly bool _runAsPostgres;
    private bool _stopped;

    private ThrowawayServer(string directory, string pgCtl, string stopMode, bool runAsPostgres, int port, string password) =>
        (Directory, _pgCtl, _stopMode, _runAsPostgres, Port, Password) = (directory, pgCtl, stopMode, runAsPostgres, port, password);

    /// <summary>Holds the cluster (data/), its log and its socket; deleted on <see cref="Dispose"/>.</summary>
    public string Directory { get; }

    public int Port { get; }

    /// <summary>The password of the superuser postgres.</summary>
    public string Password { get; }

    public string Url => $"postgres://postgres:{Password}@127.0.0.1:{Port}/postgres";

    public string LogFile => Path.Combine(Directory, "server.log");

    /// <summary>
    /// The benchmark's cluster: production-like durability (fsync and synchronous_commit stay on, unlike the tests'
    /// cluster) so commit latency under load is what a real server shows, and enough WAL and buffers that loading a
    /// million users does not force checkpoints into the measurement.
    /// </summary>
    public static ThrowawayServer Start(TextWriter log) =>
        Start(FindServerBinaries() ?? throw new InvalidOperationException("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql; install them or pass --server-url"),
            Path.GetTempPath(), "ogelbase-bench-pg-", "b3nch-", "fast", log,
            "-c shared_buffers=1GB", "-c max_wal_size=8GB", "-c checkpoint_timeout=30min",
            "-c maintenance_work_mem=256MB", "-c work_mem=16MB", "-c max_connections=200",
            "-c log_checkpoints=on", "-c log_autovacuum_min_duration=0", "-c log_lock_waits=on", "-c log_line_prefix='%m [%p] '");

    /// <param name="root">Where the cluster's directory (<paramref name="prefix"/> and a random suffix) is made.</param>
    /// <param name="stopMode">pg_ctl's shutdown mode on <see cref="Dispose"/>: fast, or immediate when nothing need be kept.</param>
    /// <param name="settings">Server options after the port, address and socket directory, e.g. "-c fsync=off".</param>
    public static ThrowawayServer Start(string bin, string root, string prefix, string passwordPrefix, string stopMode, TextWriter? log, params string[] settings)
    {
        var runAsPostgres = Environment.UserName == "root";
        var directory = Path.Combine(root, prefix + Guid.NewGuid().ToString("N")[..12]);
        var cluster = Path.Combine(directory, "data");
        System.IO.Directory.CreateDirectory(directory);
        var password = passwordPrefix + Guid.NewGuid().ToString("N");
        var passwordFile = Path.Combine(directory, "pwfile");
        File.WriteAllText(passwordFile, password + "\n");
        if (runAsPostgres)
        {
            // The server refuses to run as root; the cluster belongs to the postgres OS user.
            Run("chown", ["-R", "postgres", directory], runAs: false);
        }

        var port = FreeLoopbackPort();
        log?.WriteLine($"starting a throwaway PostgreSQL cluster on 127.0.0.1:{port} ({cluster})");
        Run(Path.Combine(bin, "initdb"),
            ["-D", cluster, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + passwordFile, "-E", "UTF8", "--no-locale", "--no-sync"], runAsPostgres);
        var pgCtl = Path.Combine(bin, "pg_ctl");
        var options = string.Join(' ', [$"-p {port}", "-c listen_addresses=127.0.0.1", $"-k {directory}", .. settings]);
        Run(pgCtl, ["-D", cluster, "-o", options, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60", "start"], runAsPostgres);
        return new ThrowawayServer(directory, pgCtl, stopMode, runAsPostgres, port, password);
    }

    public void Dispose()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        Run(_pgCtl, ["-D", Path.Combine(Directory, "data"), "-m", _stopMode, "-w", "stop"], _runAsPostgres, throwOnError: false);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless; the next run uses a new one.
        }
    }

    /// <summary>The first directory on PATH with initdb and pg_ctl, else the newest under /usr/lib/postgresql.</summary>
    public static string? FindServerBinaries()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")))
            {
                return dir;
            }
        }

        const string debianRoot = "/usr/lib/postgresql";
        return !System.IO.Directory.Exists(debianRoot)
            ? null
            : System.IO.Directory.GetDirectories(debianRoot)
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault();
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Run(string file, IReadOnlyList<string> args, bool runAs, bool throwOnError = true)
    {
        var start = new ProcessStartInfo { FileName = runAs ? "runuser" : file, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (runAs ? ["-u", "postgres", "--", file] : Array.Empty<string>()).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} exited {process.ExitCode}: {stderr.Result}{stdout.Result}");
        }
    }
}
