using System.Diagnostics;
using Npgsql;

namespace OgelBase.Migrations.Bench;

/// <summary>What one traffic backend was waiting on at one instant (pg_stat_activity).</summary>
public readonly record struct WaitSample(double At, int Pid, string Wait);

/// <summary>
/// Polls pg_stat_activity for the traffic's backends every few milliseconds, so a slow query can be attributed to
/// what the server says it waited on: a row lock held by a backfill batch (Lock:transactionid / tuple), a table lock
/// (Lock:relation), the WAL flush of its commit (IO:WALSync, LWLock:WALWrite), and so on.
/// </summary>
public sealed class WaitSampler : IAsyncDisposable
{
    public const string TrafficApplicationName = "ogelbase-bench-traffic";

    private readonly NpgsqlDataSource _data;
    private readonly Stopwatch _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<WaitSample> _samples = [];
    private Task _running = Task.CompletedTask;

    public WaitSampler(NpgsqlDataSource data, Stopwatch clock)
    {
        _data = data;
        _clock = clock;
    }

    public void Start() => _running = Task.Run(RunAsync);

    public async Task<IReadOnlyList<WaitSample>> StopAsync()
    {
        await _stop.CancelAsync();
        await _running;
        return _samples;
    }

    private async Task RunAsync()
    {
        await using var connection = await _data.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(
            "SELECT pid, wait_event_type || ':' || wait_event FROM pg_stat_activity " +
            "WHERE application_name = @app AND state = 'active' AND wait_event IS NOT NULL", connection);
        command.Parameters.AddWithValue("app", TrafficApplicationName);
        await command.PrepareAsync();
        while (!_stop.IsCancellationRequested)
        {
            var at = _clock.Elapsed.TotalSeconds;
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    _samples.Add(new WaitSample(at, reader.GetInt32(0), reader.GetString(1)));
                }
            }

            try
            {
                await Task.Delay(10, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>The wait events seen on <paramref name="pid"/> between two instants, most frequent first ("Lock:transactionid ×12, IO:WALSync ×1").</summary>
    public static string? Describe(IReadOnlyList<WaitSample> samples, int pid, double from, double to)
    {
        var seen = samples.Where(s => s.Pid == pid && s.At >= from && s.At <= to)
            .GroupBy(s => s.Wait)
            .OrderByDescending(g => g.Count())
            .Select(g => $"{g.Key} ×{g.Count()}")
            .ToList();
        return seen.Count == 0 ? null : string.Join(", ", seen);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }
}
