using OgelBase.Migrations.Bench;
using OgelBase.Migrations.Runner.Connection;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// The PostgreSQL server every test in this run uses. <c>TEST_DATABASE_URL</c> names an existing server on
/// which the tests may create databases; without it a throwaway cluster (<see cref="ThrowawayServer"/>, the benchmark's
/// starter with the tests' settings) is started and removed at the end of the run, from the server binaries in
/// <c>OGELBASE_TEST_PG_BIN</c> (how CI runs the suite once per supported version) or else the local ones.
/// No server at all is a failure, never a skip.
/// </summary>
public static class PostgresServer
{
    private static ThrowawayServer? _cluster;

    public static string Host { get; private set; } = "127.0.0.1";
    public static int Port { get; private set; }
    public static string User { get; private set; } = "postgres";
    public static string Password { get; private set; } = "";
    public static string MaintenanceDatabase { get; private set; } = "postgres";

    /// <summary>The server's major version (15, 16, 17, 18), for the few facts that legitimately differ between versions.</summary>
    public static int MajorVersion { get; private set; }

    /// <summary>
    /// Pooled: every test creates and drops a database through it, and on this kind of virtual machine a new backend
    /// costs ~30 ms of server CPU (a fork); nothing done on it outlives the command (no session settings, no locks held).
    /// </summary>
    public static string AdminConnectionString => ConnectionStringFor(MaintenanceDatabase, pooled: true);

    /// <summary>One statement as the server's admin (creating and dropping databases and roles).</summary>
    public static async Task AdminAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(AdminConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }

    /// <param name="pooled">
    /// For the tests' quick reads and writes: pooling saves a SCRAM handshake and a backend each time. A pooled session
    /// outlives Close (its locks and settings until reuse), so a connection a test holds and reasons about is unpooled.
    /// </param>
#pragma warning disable CS0618 // the connection-string form of type loading: the tests hand out connection strings, not data sources
    public static string ConnectionStringFor(string database, string? user = null, string? password = null, bool pooled = false) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = user ?? User,
            Password = password ?? Password,
            Database = database,
            // Dropping a test database WITH (FORCE) ends its pooled sessions too.
            Pooling = pooled,
            Timeout = 15,
            // The tests read built-in types only; loading the database's types is a catalog query per new connection
            // string, and every test database is a new one.
            ServerCompatibilityMode = ServerCompatibilityMode.NoTypeLoading,
        }.ConnectionString;
#pragma warning restore CS0618

    public static string UrlFor(string database, string? user = null, string? password = null) =>
        $"postgres://{Uri.EscapeDataString(user ?? User)}:{Uri.EscapeDataString(password ?? Password)}@{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port}/{Uri.EscapeDataString(database)}";

    public static async Task StartAsync()
    {
        var url = Environment.GetEnvironmentVariable("TEST_DATABASE_URL");
        if (!string.IsNullOrWhiteSpace(url))
        {
            var builder = DatabaseUrl.Parse(url);
            Host = builder.Host ?? "127.0.0.1";
            Port = builder.Port;
            User = builder.Username ?? "postgres";
            Password = builder.Password ?? "";
            SecretGuard.Register(Password);
            MaintenanceDatabase = builder.Database ?? "postgres";
            await WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        }
        else
        {
            await StartThrowawayClusterAsync();
        }

        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var version = new NpgsqlCommand("SELECT current_setting('server_version_num')::int / 10000, current_setting('server_version')", connection);
        await using var reader = await version.ExecuteReaderAsync();
        await reader.ReadAsync();
        MajorVersion = reader.GetInt32(0);
        TestContext.Progress.WriteLine($"PostgreSQL {reader.GetString(1)} on {Host}:{Port}");
    }

    private static async Task StartThrowawayClusterAsync()
    {
        var binDirectory = ChosenServerBinaries() ?? ThrowawayServer.FindServerBinaries()
            ?? throw new InvalidOperationException(
                "No PostgreSQL server binaries (initdb, pg_ctl) found on PATH or under /usr/lib/postgresql, and neither OGELBASE_TEST_PG_BIN nor TEST_DATABASE_URL is set. " +
                "Install them (apt-get install -y postgresql), name a bin directory in OGELBASE_TEST_PG_BIN, or point TEST_DATABASE_URL at a server the tests may create databases on.");

        // Nothing to keep: no fsync, stopped with -m immediate. Extra server settings for profiling a run come from
        // OGELBASE_TEST_PG_OPTIONS (e.g. -c shared_preload_libraries=pg_stat_statements); CI sets none.
        _cluster = ThrowawayServer.Start(binDirectory, ClusterRoot(), "ogelbase-test-pg-", "t3st-", "immediate", log: null,
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=300",
            Environment.GetEnvironmentVariable("OGELBASE_TEST_PG_OPTIONS") ?? "");
        Password = _cluster.Password;
        SecretGuard.Register(Password);
        Port = _cluster.Port;
        Host = "127.0.0.1";
        User = "postgres";
        MaintenanceDatabase = "postgres";
        await WaitUntilReadyAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Where the throwaway cluster lives: memory (/dev/shm) when there is room, else the temp directory. The suite
    /// creates and drops a database per test, hundreds of files each; on ext4 finding a free inode among thousands
    /// of just-deleted ones costs more CPU with every run (60 copy-and-drop cycles of a migrated database measured
    /// 2.5 s of server CPU on /tmp at first and 7.5 s a minute later, 1.3–1.5 s on tmpfs). Nothing is lost: fsync is
    /// off and the cluster is deleted at the end anyway.
    /// </summary>
    private static string ClusterRoot()
    {
        const string memory = "/dev/shm";
        const long needed = 4L << 30;
        try
        {
            if (OperatingSystem.IsLinux() && Directory.Exists(memory) && new DriveInfo(memory).AvailableFreeSpace >= needed)
            {
                return memory;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // No usable /dev/shm: the temp directory will do, only slower.
        }

        return Path.GetTempPath();
    }

    public static void Stop()
    {
        _cluster?.Dispose();
        _cluster = null;
    }

    private static async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(AdminConnectionString);
                await connection.OpenAsync();
                return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>The bin directory named by OGELBASE_TEST_PG_BIN; naming one that lacks the server is an error, not a fallback.</summary>
    private static string? ChosenServerBinaries()
    {
        var chosen = Environment.GetEnvironmentVariable("OGELBASE_TEST_PG_BIN");
        if (string.IsNullOrWhiteSpace(chosen))
        {
            return null;
        }

        return File.Exists(Path.Combine(chosen, "initdb")) && File.Exists(Path.Combine(chosen, "pg_ctl"))
            ? chosen
            : throw new InvalidOperationException($"OGELBASE_TEST_PG_BIN={chosen} holds no initdb and pg_ctl.");
    }
}
