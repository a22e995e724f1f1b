using System.Diagnostics;
using Npgsql;

namespace OgelBase.Migrations.Bench;

public enum QueryKind
{
    ReadUser,
    UpdateUser,
    InsertUser,
    InsertMembership,
}

/// <summary>One query the traffic sent: when it started (seconds since traffic start), how long it took, and how it ended.</summary>
public readonly record struct Sample(double Start, double LatencyMs, QueryKind Kind, int Client, string? Error, int Pid = 0)
{
    public bool Failed => Error is not null;

    public double End => Start + (LatencyMs / 1000.0);
}

/// <summary>
/// The live traffic: several connections, each sending one query at a time on a fixed schedule (a stalled query
/// does not shift the schedule: slots missed while it waited are skipped rather than burst afterwards). Connection c
/// sends kind c mod 4 when there are at least four connections, so every kind is measured on its own connections. Statements name their columns (no SELECT *), as an app with prepared statements
/// must to survive an added column. Every query's start and latency is kept.
/// </summary>
public sealed class Traffic : IAsyncDisposable
{
    /// <summary>Longer than any stall worth measuring: a query the migration blocks shows its full wait, not a client timeout.</summary>
    private const int CommandTimeoutSeconds = 300;

    private readonly NpgsqlDataSource _data;
    private readonly int _users;
    private readonly int _organizations;
    private readonly int _clients;
    private readonly double _rate;
    private readonly int _seed;
    private readonly Stopwatch _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Sample>[] _samples;
    private Task[] _running = [];

    public Traffic(NpgsqlDataSource data, int users, int clients, double rate, int seed, Stopwatch clock)
    {
        _data = data;
        _users = users;
        _organizations = DataGenerator.OrganizationCount(users);
        _clients = clients;
        _rate = rate;
        _seed = seed;
        _clock = clock;
        _samples = Enumerable.Range(0, clients).Select(_ => new List<Sample>()).ToArray();
    }

    public static IReadOnlyList<QueryKind> Kinds { get; } = Enum.GetValues<QueryKind>();

    public static string Describe(QueryKind kind) => kind switch
    {
        QueryKind.ReadUser => "read user (PK)",
        QueryKind.UpdateUser => "update users.updated_at",
        QueryKind.InsertUser => "insert user",
        QueryKind.InsertMembership => "insert membership",
        _ => kind.ToString(),
    };

    public void Start()
    {
        _running = Enumerable.Range(0, _clients).Select(c => Task.Run(() => ClientAsync(c))).ToArray();
    }

    /// <summary>Stops sending and waits for every query in flight; returns all samples ordered by start.</summary>
    public async Task<IReadOnlyList<Sample>> StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_running);
        return _samples.SelectMany(s => s).OrderBy(s => s.Start).ToList();
    }

    public int CountSoFar() => _samples.Sum(s => s.Count);

    private async Task ClientAsync(int client)
    {
#pragma warning disable CA5394 // workload choice, not security
        var random = new Random(_seed * 1000 + client);
        var interval = 1.0 / _rate;

        // Clients start spread over one interval so their queries do not arrive in lockstep.
        var next = _clock.Elapsed.TotalSeconds + (interval * client / _clients);
        var slot = client;
        NpgsqlConnection? connection = null;
        try
        {
            // One unrecorded query of each kind first: connection opening and JIT are not the database's latency.
            connection = await _data.OpenConnectionAsync(CancellationToken.None);
            foreach (var warm in Kinds)
            {
                await using var command = Build(warm, connection, random);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }

            next = Math.Max(next, _clock.Elapsed.TotalSeconds);
            while (!_stop.IsCancellationRequested)
            {
                var wait = next - _clock.Elapsed.TotalSeconds;
                if (wait > 0)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(wait), _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                // With at least one connection per kind, each connection sends one kind only: a kind that a lock
                // blocks then shows its own full stall, instead of its client sitting blocked on another kind's
                // query and never sending the blocked kind at all. With fewer connections they take turns.
                var kind = _clients >= Kinds.Count ? Kinds[client % Kinds.Count] : Kinds[slot++ % Kinds.Count];
                var start = _clock.Elapsed;
                string? error = null;
                var pid = connection?.ProcessID ?? 0;
                try
                {
                    connection ??= await _data.OpenConnectionAsync(CancellationToken.None);
                    pid = connection.ProcessID;
                    await using var command = Build(kind, connection, random);
                    await command.ExecuteNonQueryAsync(CancellationToken.None);
                }
                catch (PostgresException e)
                {
                    error = $"{e.SqlState} {e.MessageText}";
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    error = $"{e.GetType().Name}: {e.Message}";
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }
                }

                var end = _clock.Elapsed;
                _samples[client].Add(new Sample(start.TotalSeconds, (end - start).TotalMilliseconds, kind, client, error, pid));

                // Open loop: the next slot is on the fixed schedule; slots that passed while this query ran are skipped.
                next += interval;
                var now = _clock.Elapsed.TotalSeconds;
                if (next < now)
                {
                    next += Math.Ceiling((now - next) / interval) * interval;
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
#pragma warning restore CA5394
    }

#pragma warning disable CA5394 // workload choice, not security
    private NpgsqlCommand Build(QueryKind kind, NpgsqlConnection connection, Random random)
    {
        var command = connection.CreateCommand();
        command.CommandTimeout = CommandTimeoutSeconds;
        switch (kind)
        {
            case QueryKind.ReadUser:
                command.CommandText = "SELECT id, email, username, first_name, last_name, last_sign_in_at, updated_at FROM platform.users WHERE id = $1";
                command.Parameters.Add(new NpgsqlParameter { Value = DataGenerator.UserId(1 + random.NextInt64(_users)) });
                break;
            case QueryKind.UpdateUser:
                command.CommandText = "UPDATE platform.users SET updated_at = now() WHERE id = $1";
                command.Parameters.Add(new NpgsqlParameter { Value = DataGenerator.UserId(1 + random.NextInt64(_users)) });
                break;
            case QueryKind.InsertUser:
                var id = Guid.NewGuid().ToString("N");
                command.CommandText = "INSERT INTO platform.users (email, username, first_name) VALUES ($1, $2, $3)";
                command.Parameters.Add(new NpgsqlParameter { Value = $"live-{id}@bench.example.com" });
                command.Parameters.Add(new NpgsqlParameter { Value = $"live_{id}" });
                command.Parameters.Add(new NpgsqlParameter { Value = "Live" });
                break;
            case QueryKind.InsertMembership:
                // An existing user joins a random organization; a pair that already exists is a no-op, not an error.
                command.CommandText = """
                    INSERT INTO platform.organization_members (organization_id, user_id, role, joined_at)
                    VALUES ($1, $2, 'member', now())
                    ON CONFLICT (organization_id, user_id) DO NOTHING
                    """;
                command.Parameters.Add(new NpgsqlParameter { Value = DataGenerator.OrganizationId(1 + random.NextInt64(_organizations)) });
                command.Parameters.Add(new NpgsqlParameter { Value = DataGenerator.UserId(1 + random.NextInt64(_users)) });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }

        return command;
    }
#pragma warning restore CA5394

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }
}
