using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using OgelBase.Migrations.Runner.Connection;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// One benchmark: a throwaway database at version 6 (7 held back), N users of data, live traffic, then migration 8
/// and its rollback while the traffic runs; latency per phase, a report, a chart.
/// </summary>
public static partial class BenchmarkRun
{
    public static async Task<IReadOnlyList<RunSummary>> RunAsync(BenchOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();

        // Runner output arrives on its own threads.
        log = TextWriter.Synchronized(log);
        Directory.CreateDirectory(options.OutputDirectory);

        using var server = options.ServerUrl is null ? ThrowawayServer.Start(log) : null;
        var admin = DatabaseUrl.Parse(options.ServerUrl ?? server!.Url);
        admin.Pooling = false;
        var serverKind = server is null ? "server from --server-url" : "throwaway cluster started by the benchmark";
        var modes = options.Mode == BenchMode.Both ? new[] { BenchMode.Online, BenchMode.Original } : [options.Mode];

        // The data set is built once. With both modes each runs on a file copy of it, so both measure the very
        // same rows (and the second run does not pay for generating a million users again).
        var source = $"ogelbase_bench_{Guid.NewGuid().ToString("N")[..8]}";
        var databases = new List<string> { source };
        var runs = new List<RunSummary>();
        try
        {
            var (dataSet, setup) = await PrepareAsync(options, admin, source, log, cancellationToken);
            var arms = options.Compare.Count == 0
                ? modes.Select(m => (Mode: m, Label: Name(m), Options: options)).ToList()
                : [.. Enumerable.Range(1, options.Repeat).SelectMany(round => options.Compare.Select(c =>
                    (Mode: BenchMode.Online, Label: $"{c.Name}-{round}", Options: options with { RunnerDll = c.Dll, RunnerArguments = [.. options.RunnerArguments, .. c.Args] })))];
            foreach (var arm in arms)
            {
                var database = source;
                if (arms.Count > 1)
                {
                    database = $"{source}_{arm.Label.Replace('-', '_')}";
                    databases.Add(database);
                    log.WriteLine($"copying {source} to {database} (CREATE DATABASE ... TEMPLATE, FILE_COPY)");
                    await ExecuteAsync(admin.ConnectionString, $"CREATE DATABASE \"{database}\" TEMPLATE \"{source}\" STRATEGY FILE_COPY", cancellationToken);
                }

                runs.Add(await RunModeAsync(arm.Options, arm.Mode, arm.Label, admin, database, serverKind, dataSet, setup, log, cancellationToken));
                if (arms.Count > 1)
                {
                    // Each copy is a million users: drop it before the next one is made.
                    await ExecuteAsync(admin.ConnectionString, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", CancellationToken.None);
                }
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            foreach (var database in databases)
            {
                if (options.KeepDatabase)
                {
                    log.WriteLine($"kept database {database}");
                }
                else
                {
                    await ExecuteAsync(admin.ConnectionString, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", CancellationToken.None);
                }
            }
        }

        if (server is not null)
        {
            // Checkpoints and autovacuum runs, to match against stalls that hit every write at once.
            File.Copy(server.LogFile, Path.Combine(options.OutputDirectory, "server.log"), overwrite: true);
        }

        if (runs.Count > 1)
        {
            var comparison = Report.Comparison(runs);
            var file = Path.Combine(options.OutputDirectory, $"comparison-{options.Users}.md");
            await File.WriteAllTextAsync(file, comparison, cancellationToken);
            log.WriteLine();
            log.WriteLine(comparison);
            log.WriteLine($"comparison written to {file}");
        }

        return runs;
    }

    private static string Name(BenchMode mode) => mode == BenchMode.Online ? "online" : "original";

    private static NpgsqlConnectionStringBuilder Target(NpgsqlConnectionStringBuilder admin, string database, int poolSize) =>
        new(admin.ConnectionString) { Database = database, Pooling = poolSize > 0, MaxPoolSize = Math.Max(1, poolSize) };

    /// <summary>Creates the database, brings it to version 6 through the runner (7 held back) and loads the data set.</summary>
    private static async Task<(DataSetCounts Data, MigrationWindow Setup)> PrepareAsync(BenchOptions options, NpgsqlConnectionStringBuilder admin, string database,
        TextWriter log, CancellationToken cancellationToken)
    {
        log.WriteLine($"== {options.Users:N0} users: database {database} on {admin.Host}:{admin.Port}");
        await ExecuteAsync(admin.ConnectionString, $"CREATE DATABASE \"{database}\"", cancellationToken);
        var clock = Stopwatch.StartNew();

        // Version 6 with 7 held back: the state production is in before 008.
        var setup = await PublishedRunner.RunAsync("setup", options.RunnerDll, Target(admin, database, 0).ConnectionString, ["migrate", "up", "--to", "6"], clock, log, cancellationToken);
        if (!setup.Succeeded)
        {
            throw new InvalidOperationException($"migrate up --to 6 failed (exit {setup.ExitCode}); see the lines above");
        }

        DataSetCounts dataSet;
        await using (var data = NpgsqlDataSource.Create(Target(admin, database, 2).ConnectionString))
        {
            dataSet = await DataGenerator.GenerateAsync(data, options.Users, log, cancellationToken);
        }

        NpgsqlConnection.ClearAllPools();
        return (dataSet, setup);
    }

    private static async Task<RunSummary> RunModeAsync(BenchOptions options, BenchMode mode, string modeName, NpgsqlConnectionStringBuilder admin, string database,
        string serverKind, DataSetCounts dataSet, MigrationWindow setup, TextWriter log, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(options.OutputDirectory, $"{modeName}-{options.Users}");
        Directory.CreateDirectory(directory);
        var startedAt = DateTimeOffset.UtcNow;
        log.WriteLine($"== {modeName} 008, {options.Users:N0} users: database {database}");
        var runnerTarget = Target(admin, database, 0).ConnectionString;
        await using var data = NpgsqlDataSource.Create(Target(admin, database, options.Clients + 8).ConnectionString);
        var machine = await MachineAsync(data, serverKind, cancellationToken) with { LoadAtStart = LoadAverage() };
        var clock = Stopwatch.StartNew();
        var trafficStartedAt = DateTimeOffset.UtcNow;
        var trafficTarget = Target(admin, database, options.Clients + 2);
        trafficTarget.ApplicationName = WaitSampler.TrafficApplicationName;
        await using var trafficData = NpgsqlDataSource.Create(trafficTarget.ConnectionString);
        await using var sampler = new WaitSampler(data, clock);
        if (options.Clients > 0)
        {
            // On an idle server there is no traffic to attribute waits to, and its polls would be the only session
            // the backfill's signals see besides the runner's.
            sampler.Start();
        }
        await using var traffic = new Traffic(trafficData, options.Users, options.Clients, options.Rate, options.Seed, clock);
        traffic.Start();
        log.WriteLine($"traffic: {options.Clients} clients × {options.Rate:0.#} q/s; warming up for {options.WarmupSeconds:0.#} s");
        await Task.Delay(TimeSpan.FromSeconds(options.WarmupSeconds), cancellationToken);

        log.WriteLine($"migrate ({modeName}) at {clock.Elapsed.TotalSeconds:0.000} s, {traffic.CountSoFar()} queries so far");
        var disturbance = options.DisturbAt is { } at ? Disturbance.RunAsync(data, clock, TimeSpan.FromSeconds(at), log, cancellationToken) : null;
        var migrate = mode == BenchMode.Online
            ? await PublishedRunner.RunAsync("migrate", options.RunnerDll, runnerTarget, ["migrate", "up", "--to", "8", .. options.RunnerArguments], clock, log, cancellationToken)
            : await OriginalMigration.UpAsync(data, clock, log, cancellationToken);
        log.WriteLine($"migrate finished at {clock.Elapsed.TotalSeconds:0.000} s: exit {migrate.ExitCode}, {migrate.Seconds:0.00} s");
        var disturbed = disturbance is null ? ((double From, double To)?)null : await disturbance;

        var settle = Stopwatch.StartNew();
        var backfill = await BackfillAsync(data, cancellationToken);
        log.WriteLine($"backfill: {backfill.Users} users, {backfill.WithActiveOrg} with an active organization, {backfill.WithoutMembership} without membership, {backfill.MemberWithoutActiveOrg} members without one, {backfill.NotEarliestMembership} not their earliest membership");
        await SleepRestAsync(options.SettleSeconds, settle, cancellationToken);

        log.WriteLine($"rollback ({modeName}) at {clock.Elapsed.TotalSeconds:0.000} s, {traffic.CountSoFar()} queries so far");
        var rollback = mode == BenchMode.Online
            ? await PublishedRunner.RunAsync("rollback", options.RunnerDll, runnerTarget, ["rollback", "7", .. options.RunnerArguments], clock, log, cancellationToken)
            : await OriginalMigration.DownAsync(data, clock, log, cancellationToken);
        log.WriteLine($"rollback finished at {clock.Elapsed.TotalSeconds:0.000} s: exit {rollback.ExitCode}, {rollback.Seconds:0.00} s");

        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken);
        var samples = await traffic.StopAsync();
        var waits = await sampler.StopAsync();
        var end = clock.Elapsed.TotalSeconds;
        machine = machine with { LoadAtEnd = LoadAverage() };
        log.WriteLine($"traffic stopped at {end:0.000} s: {samples.Count} queries, {samples.Count(s => s.Failed)} failed");

        var phases = Report.Phases(samples, migrate, rollback, end);
        var files = (Report: Path.Combine(directory, "report.md"), Png: Path.Combine(directory, "chart.png"), Svg: Path.Combine(directory, "chart.svg"),
            Samples: Path.Combine(directory, "samples.csv"), Json: Path.Combine(directory, "summary.json"));
        var summary = new RunSummary
        {
            Mode = modeName,
            UsersRequested = options.Users,
            Clients = options.Clients,
            Rate = options.Rate,
            StartedAt = startedAt,
            TrafficStartedAt = trafficStartedAt,
            Machine = machine,
            Data = dataSet,
            MigrateCommand = migrate.Command,
            MigrateSeconds = migrate.Seconds,
            MigrateReportedSeconds = ReportedSeconds(migrate),
            MigrateExitCode = migrate.ExitCode,
            RollbackCommand = rollback.Command,
            RollbackSeconds = rollback.Seconds,
            RollbackReportedSeconds = ReportedSeconds(rollback),
            RollbackExitCode = rollback.ExitCode,
            Backfill = backfill,
            Phases = phases,
            Disturbance = disturbed is { } window ? Report.Stats("disturbance", samples, window.From, window.To, window.To - window.From) : null,
            Waits = Report.WaitsByPhase(phases, waits),
            SlowQueries = Report.Slow(samples, migrate, rollback, waits),
            FailedQueries = samples.Count(s => s.Failed),
            Errors = samples.Where(s => s.Failed).GroupBy(s => (s.Kind, Code: s.Error!.Split(' ')[0]))
                .Select(g => $"{Traffic.Describe(g.Key.Kind)} ×{g.Count()}: {g.First().Error}").ToList(),
            ReportFile = files.Report,
            ChartFile = files.Png,
            ChartSvgFile = files.Svg,
            SamplesFile = files.Samples,
        };

        Chart.Save(Chart.Title(summary), samples, migrate, rollback, files.Png, files.Svg);
        await File.WriteAllTextAsync(files.Samples, Report.Csv(samples), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "steps.log"),
            string.Join('\n', new[] { setup, migrate, rollback }.SelectMany(w => w.Lines.Select(l => $"[{w.Name} {l.At:0.000}s] {l.Text}"))) + "\n", cancellationToken);
        var markdown = Report.Markdown(summary);
        await File.WriteAllTextAsync(files.Report, markdown, cancellationToken);
        await File.WriteAllTextAsync(files.Json, JsonSerializer.Serialize(summary, Report.Json), cancellationToken);
        log.WriteLine();
        log.WriteLine(markdown);
        log.WriteLine($"written: {files.Report}, {files.Png}, {files.Svg}, {files.Samples}, {files.Json}");

        if (!migrate.Succeeded || !rollback.Succeeded)
        {
            throw new InvalidOperationException($"{modeName}: the migration (exit {migrate.ExitCode}) or the rollback (exit {rollback.ExitCode}) failed; the report says what ran");
        }

        return summary;
    }

    private static async Task<BackfillCounts> BackfillAsync(NpgsqlDataSource data, CancellationToken cancellationToken)
    {
        await using var connection = await data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            WITH earliest AS (
              SELECT DISTINCT ON (m.user_id) m.user_id, m.organization_id
              FROM platform.organization_members m
              ORDER BY m.user_id, m.joined_at ASC NULLS LAST, m.organization_id
            )
            SELECT (SELECT count(*) FROM platform.users),
                   (SELECT count(*) FROM platform.users WHERE active_org_id IS NOT NULL),
                   (SELECT count(*) FROM platform.users u WHERE NOT EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = u.id)),
                   (SELECT count(*) FROM platform.users u WHERE u.active_org_id IS NULL AND EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = u.id)),
                   (SELECT count(*) FROM platform.users u JOIN earliest e ON e.user_id = u.id WHERE u.active_org_id IS DISTINCT FROM e.organization_id AND u.active_org_id IS NOT NULL)
            """, connection) { CommandTimeout = 0 };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new BackfillCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
    }

    private static async Task<MachineInfo> MachineAsync(NpgsqlDataSource data, string serverKind, CancellationToken cancellationToken)
    {
        await using var connection = await data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT version()", connection);
        var version = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        var short_ = version.Split(" on ")[0];
        return new MachineInfo(System.Environment.ProcessorCount, MemoryTotal(), short_, serverKind);
    }

    private static string MemoryTotal()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture, out var kb))
            {
                return $"{kb / 1024.0 / 1024.0:0.0} GiB";
            }
        }
        catch (IOException)
        {
        }

        return "unknown";
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static double? ReportedSeconds(MigrationWindow window)
    {
        // The runner's last line: "migrate up: applied 1 migration (008) in 12.3 s; ..." / "rollback: ... in 4.5 s".
        for (var i = window.Lines.Count - 1; i >= 0; i--)
        {
            var match = SummaryDuration().Match(window.Lines[i].Text);
            if (match.Success && double.TryParse(match.Groups[1].Value, CultureInfo.InvariantCulture, out var seconds))
            {
                return seconds;
            }
        }

        return null;
    }

    [GeneratedRegex(@"^(?:migrate up|rollback): .* in ([0-9]+(?:\.[0-9]+)?) s\b")]
    private static partial Regex SummaryDuration();

    private static async Task SleepRestAsync(double seconds, Stopwatch since, CancellationToken cancellationToken)
    {
        var rest = TimeSpan.FromSeconds(seconds) - since.Elapsed;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest, cancellationToken);
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
