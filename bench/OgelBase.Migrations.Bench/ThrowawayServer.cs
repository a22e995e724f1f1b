using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// A PostgreSQL cluster of its own for one benchmark run when no --server-url is given: initdb + pg_ctl from the
/// local server binaries (as the postgres OS user when run as root) on a free loopback port, removed at the end.
/// The minimum of tests/.../Support/PostgresServer.cs, but with production-like durability (fsync and
/// synchronous_commit stay on, unlike the test cluster) so commit latency under load is what a real server shows,
/// and with enough WAL and buffers that loading a million users does not force checkpoints into the measurement.
/// </summary>
public sealed class ThrowawayServer : IDisposable
{
    private readonly string _directory;
    private readonly string _pgCtl;
    private readonly string _clusterDirectory;
    private readonly bool _runAsPostgres;
    private bool _stopped;

    private ThrowawayServer(string directory, string pgCtl, string clusterDirectory, bool runAsPostgres, string url, string version)
    {
        _directory = directory;
        _pgCtl = pgCtl;
        _clusterDirectory = clusterDirectory;
        _runAsPostgres = runAsPostgres;
        Url = url;
        Version = version;
    }

    public string Url { get; }

    public string LogFile => Path.Combine(_directory, "server.log");

    /// <summary>What <c>postgres --version</c> printed, for the report.</summary>
    public string Version { get; }

    public static ThrowawayServer Start(TextWriter log)
    {
        var bin = FindServerBinaries()
            ?? throw new InvalidOperationException("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql; install them or pass --server-url");
        var runAsPostgres = Environment.UserName == "root";
        var directory = Path.Combine(Path.GetTempPath(), "ogelbase-bench-pg-" + Guid.NewGuid().ToString("N")[..12]);
        var cluster = Path.Combine(directory, "data");
        Directory.CreateDirectory(directory);
        var password = "b3nch-" + Guid.NewGuid().ToString("N");
        var passwordFile = Path.Combine(directory, "pwfile");
        File.WriteAllText(passwordFile, password + "\n");
        if (runAsPostgres)
        {
            // The server refuses to run as root; the cluster belongs to the postgres OS user.
            Run("chown", ["-R", "postgres", directory], runAs: false);
        }

        var port = FreeLoopbackPort();
        log.WriteLine($"starting a throwaway PostgreSQL cluster on 127.0.0.1:{port} ({cluster})");
        Run(Path.Combine(bin, "initdb"),
            ["-D", cluster, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + passwordFile, "-E", "UTF8", "--no-locale", "--no-sync"], runAsPostgres);
        var pgCtl = Path.Combine(bin, "pg_ctl");
        var settings = string.Join(' ',
            $"-p {port}", "-c listen_addresses=127.0.0.1", $"-k {directory}",
            "-c shared_buffers=1GB", "-c max_wal_size=8GB", "-c checkpoint_timeout=30min",
            "-c maintenance_work_mem=256MB", "-c work_mem=16MB", "-c max_connections=200",
            "-c log_checkpoints=on", "-c log_autovacuum_min_duration=0", "-c log_lock_waits=on", "-c log_line_prefix='%m [%p] '");
        Run(pgCtl, ["-D", cluster, "-o", settings, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60", "start"], runAsPostgres);
        var version = Run(Path.Combine(bin, "postgres"), ["--version"], runAs: false).Trim();
        return new ThrowawayServer(directory, pgCtl, cluster, runAsPostgres, $"postgres://postgres:{password}@127.0.0.1:{port}/postgres", version);
    }

    public void Dispose()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        Run(_pgCtl, ["-D", _clusterDirectory, "-m", "fast", "-w", "stop"], _runAsPostgres, throwOnError: false);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless; the next run uses a new one.
        }
    }

    private static string? FindServerBinaries()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres")))
            {
                return dir;
            }
        }

        const string debianRoot = "/usr/lib/postgresql";
        return !Directory.Exists(debianRoot)
            ? null
            : Directory.GetDirectories(debianRoot)
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

    private static string Run(string file, IReadOnlyList<string> args, bool runAs, bool throwOnError = true)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (runAs)
        {
            start.FileName = "runuser";
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                start.ArgumentList.Add(a);
            }
        }
        else
        {
            start.FileName = file;
        }

        foreach (var arg in args)
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

        return stdout.Result;
    }
}
