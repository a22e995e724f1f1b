using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Npgsql;
using OgelBase.Migrations.Runner.Connection;

namespace OgelBase.Migrations.Bench;

public sealed record GoTrueBenchOptions
{
    public string? ServerUrl { get; init; }

    public int Users { get; init; } = 100_000;

    /// <summary>Traffic connections; connection c sends kind c mod 3 (sign-up, sign-in, Studio lookup).</summary>
    public int Clients { get; init; } = 6;

    public double Rate { get; init; } = 20;

    public double WarmupSeconds { get; init; } = 5;

    public double SettleSeconds { get; init; } = 5;

    public string RunnerDll { get; init; } = Path.Combine(AppContext.BaseDirectory, "ogelbase-migrate.dll");

    public IReadOnlyList<string> RunnerArguments { get; init; } = [];

    public string OutputDirectory { get; init; } = Path.Combine("bench", "out");
}

/// <summary>
/// Migration 9's backfill under GoTrue and Studio traffic (issue #13): N GoTrue users exist before 9; while
/// <c>migrate up --include 9</c> mirrors them, clients keep signing up (INSERT into auth.users, mirrored by the
/// trigger), signing in (UPDATE of last_sign_in_at) and running Studio's request lookup (apiAuthenticate.ts).
/// Every query's latency is what its client waited; the report gives them per phase and kind.
/// </summary>
public static class GoTrueBenchmark
{
    private enum Kind
    {
        SignUp,
        SignIn,
        StudioLookup,
    }

    private enum Phase
    {
        Before,
        During,
        After,
    }

    private readonly record struct Sample(double Start, double LatencyMs, Kind Kind, string? Error);

    private const string StudioLookup = """
        SELECT s.id as session_id, s.user_id, s.expires_at, s.last_activity_at, u.email, u.first_name, u.last_name, u.username
        FROM platform.user_sessions s
        JOIN platform.users u ON s.user_id = u.id
        WHERE s.token = $1 AND s.expires_at > NOW() AND u.deleted_at IS NULL AND u.banned_until IS NULL
        """;

    private const int Sessions = 1000;

    public static async Task<int> RunAsync(GoTrueBenchOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        log = TextWriter.Synchronized(log);
        Directory.CreateDirectory(options.OutputDirectory);
        using var server = options.ServerUrl is null ? ThrowawayServer.Start(log) : null;
        var admin = DatabaseUrl.Parse(options.ServerUrl ?? server!.Url);
        admin.Pooling = false;
        var database = $"ogelbase_bench9_{Guid.NewGuid().ToString("N")[..8]}";
        await ExecuteAsync(admin.ConnectionString, $"CREATE DATABASE \"{database}\"", cancellationToken);
        try
        {
            return await RunOnAsync(options, new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database }, log, cancellationToken);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(admin.ConnectionString, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", CancellationToken.None);
        }
    }

    private static async Task<int> RunOnAsync(GoTrueBenchOptions options, NpgsqlConnectionStringBuilder target, TextWriter log, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var setup = await PublishedRunner.RunAsync("setup", options.RunnerDll, target.ConnectionString, ["migrate", "up"], clock, log, cancellationToken);
        if (!setup.Succeeded)
        {
            throw new InvalidOperationException($"migrate up failed (exit {setup.ExitCode})");
        }

        log.WriteLine($"generating {options.Users:N0} GoTrue users, {Sessions} of them already platform users with a Studio session");
        await ExecuteAsync(target.ConnectionString, GoTrueSchema.AuthUsersDdl, cancellationToken);
        await ExecuteAsync(target.ConnectionString, $$"""
            INSERT INTO auth.users (instance_id, id, aud, "role", email, encrypted_password, email_confirmed_at, raw_app_meta_data,
                                    raw_user_meta_data, created_at, updated_at, last_sign_in_at)
            SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', 'user' || i || '@example.com',
                   '$2a$10$hash', CASE WHEN i % 3 <> 0 THEN now() END, '{"provider":"email"}',
                   CASE WHEN i % 2 = 0 THEN jsonb_build_object('first_name', 'User' || i) ELSE '{}'::jsonb END,
                   now() - (i || ' minutes')::interval, now(), CASE WHEN i % 4 = 0 THEN now() END
            FROM generate_series(1, {{options.Users}}) i;
            INSERT INTO platform.users (id, email) SELECT id, email FROM auth.users ORDER BY email LIMIT {{Sessions}};
            INSERT INTO platform.user_sessions (user_id, token, expires_at)
            SELECT u.id, encode(sha256(convert_to('token-' || u.email, 'UTF8')), 'hex'), now() + interval '1 day' FROM platform.users u;
            """, cancellationToken);
        await ExecuteAsync(target.ConnectionString, "VACUUM ANALYZE auth.users", cancellationToken);
        await ExecuteAsync(target.ConnectionString, "VACUUM ANALYZE platform.users", cancellationToken);
        var tokens = await ColumnAsync(target.ConnectionString, "SELECT 'token-' || email FROM platform.users", cancellationToken);
        var signInIds = (await ColumnAsync(target.ConnectionString, "SELECT id::text FROM auth.users ORDER BY random() LIMIT 5000", cancellationToken)).Select(Guid.Parse).ToArray();

        var traffic = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Pooling = true, MaxPoolSize = options.Clients + 2, ApplicationName = "bench traffic" };
        await using var data = NpgsqlDataSource.Create(traffic.ConnectionString);
        var samples = new ConcurrentBag<Sample>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var trafficClock = Stopwatch.StartNew();
        var clients = Enumerable.Range(0, options.Clients)
            .Select(c => Task.Run(() => ClientAsync(data, (Kind)(c % 3), options.Rate, c, tokens, signInIds, samples, trafficClock, stop.Token), CancellationToken.None))
            .ToArray();

        await Task.Delay(TimeSpan.FromSeconds(options.WarmupSeconds), cancellationToken);
        var migrationStart = trafficClock.Elapsed.TotalSeconds;
        var migrate = await PublishedRunner.RunAsync("migrate", options.RunnerDll, target.ConnectionString,
            ["migrate", "up", "--include", "9", .. options.RunnerArguments], clock, log, cancellationToken);
        var migrationEnd = trafficClock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds), cancellationToken);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        var checks = await ScalarsAsync(target.ConnectionString, """
            SELECT (SELECT count(*) FROM auth.users),
                   (SELECT count(*) FROM platform.users u WHERE EXISTS (SELECT 1 FROM auth.users a WHERE a.id = u.id)),
                   (SELECT count(*) FROM platform.auth_user_sync_failures),
                   (SELECT count(*) FROM (SELECT user_id FROM platform.organization_members WHERE role = 'owner' GROUP BY user_id HAVING count(*) > 1) d),
                   (SELECT count(*) FROM platform.organizations)
            """, cancellationToken);

        var report = Report(options, samples.ToList(), migrationStart, migrationEnd, migrate.ExitCode, checks);
        log.WriteLine();
        log.WriteLine(report);
        var file = Path.Combine(options.OutputDirectory, $"gotrue-{options.Users}.md");
        await File.WriteAllTextAsync(file, report, cancellationToken);
        log.WriteLine($"report written to {file}");
        return migrate.ExitCode != 0 || samples.Any(s => s.Error is not null) ? 1 : 0;
    }

    private static async Task ClientAsync(NpgsqlDataSource data, Kind kind, double rate, int client, List<string> tokens, Guid[] signInIds,
        ConcurrentBag<Sample> samples, Stopwatch clock, CancellationToken stop)
    {
        var random = new Random(7 + client);
        var interval = 1.0 / rate;
        var next = clock.Elapsed.TotalSeconds + (random.NextDouble() * interval);
        var serial = 0;
        while (!stop.IsCancellationRequested)
        {
            var wait = next - clock.Elapsed.TotalSeconds;
            if (wait > 0)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait), stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            next += interval;
            var start = clock.Elapsed.TotalSeconds;
            string? error = null;
            try
            {
                await using var command = kind switch
                {
                    Kind.SignUp => data.CreateCommand($$"""
                        INSERT INTO auth.users (instance_id, id, aud, "role", email, encrypted_password, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
                        VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
                                'signup-{{client}}-{{serial++}}-{{Guid.NewGuid():N}}@example.com', '$2a$10$hash', '{"provider":"email"}', '{"first_name":"New"}', now(), now())
                        """),
                    Kind.SignIn => data.CreateCommand("UPDATE auth.users SET last_sign_in_at = now(), updated_at = now() WHERE id = $1"),
                    _ => data.CreateCommand(StudioLookup),
                };
                if (kind == Kind.SignIn)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = signInIds[random.Next(signInIds.Length)] });
                }
                else if (kind == Kind.StudioLookup)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = Sha256Hex(tokens[random.Next(tokens.Count)]) });
                }

                command.CommandTimeout = 30;
                await using var reader = await command.ExecuteReaderAsync(CancellationToken.None);
                while (await reader.ReadAsync(CancellationToken.None))
                {
                }
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                error = e.Message;
            }

            samples.Add(new Sample(start, (clock.Elapsed.TotalSeconds - start) * 1000, kind, error));
        }
    }

    private static string Report(GoTrueBenchOptions options, List<Sample> samples, double migrationStart, double migrationEnd, int exitCode, long[] checks)
    {
        Phase PhaseOf(Sample s) => s.Start < migrationStart ? Phase.Before : s.Start < migrationEnd ? Phase.During : Phase.After;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"### 009 backfill of {options.Users:N0} GoTrue users under traffic");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"`migrate up --include 9` exit {exitCode}, {migrationEnd - migrationStart:0.0} s wall time (runner process start to exit); " +
                                                      $"{options.Clients} clients at {options.Rate} queries/s each.");
        text.AppendLine();
        text.AppendLine("| phase | kind | queries | failed | p50 ms | p99 ms | max ms | > 100 ms |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var group in samples.GroupBy(s => (Phase: PhaseOf(s), s.Kind)).OrderBy(g => g.Key.Phase).ThenBy(g => g.Key.Kind))
        {
            var latencies = group.Where(s => s.Error is null).Select(s => s.LatencyMs).Order().ToArray();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {group.Key.Phase.ToString().ToLowerInvariant()} | {group.Key.Kind} | {group.Count()} | {group.Count(s => s.Error is not null)} | " +
                $"{Percentile(latencies, 0.50):0.0} | {Percentile(latencies, 0.99):0.0} | {(latencies.Length == 0 ? 0 : latencies[^1]):0.0} | {latencies.Count(l => l > 100)} |");
        }

        var during = samples.Where(s => PhaseOf(s) == Phase.During).ToList();
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"During the migration: max wait {(during.Count == 0 ? 0 : during.Max(s => s.LatencyMs)):0.0} ms, " +
                                                      $"{during.Count(s => s.Error is not null)} failed of {during.Count}; overall {samples.Count(s => s.Error is not null)} failed of {samples.Count}.");
        text.AppendLine(CultureInfo.InvariantCulture, $"After: GoTrue users {checks[0]:N0}, mirrored {checks[1]:N0}, listed as not mirrored {checks[2]:N0}, " +
                                                      $"users owning more than one org {checks[3]}, organizations {checks[4]:N0}.");
        foreach (var error in samples.Where(s => s.Error is not null).Select(s => s.Error).Distinct().Take(5))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- error: {error}");
        }

        return text.ToString();
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static string Sha256Hex(string value) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<List<string>> ColumnAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var values = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    private static async Task<long[]> ScalarsAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return Enumerable.Range(0, reader.FieldCount).Select(reader.GetInt64).ToArray();
    }
}
