using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// Watches a CREATE INDEX CONCURRENTLY of one session from a second connection while it runs: its phase and
/// progress from <c>pg_stat_progress_create_index</c> (PostgreSQL 12+, the same columns through 18), with percent
/// and time left for the phase, and, in the phases that wait for older transactions, the sessions it waits for.
/// A diagnosis only: if the second connection fails, the build goes on unobserved.
/// </summary>
internal sealed class IndexBuildMonitor : IDisposable
{
    private const string ProgressSql = """
        SELECT phase, blocks_total, blocks_done, tuples_total, tuples_done
        FROM pg_stat_progress_create_index WHERE pid = @pid
        """;

    private readonly Func<NpgsqlConnection?> _connect;
    private readonly ILogger _logger;
    private readonly string _step;
    private readonly int _pid;
    private readonly TimeSpan _every;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();
    private NpgsqlConnection? _connection;

    private IndexBuildMonitor(Func<NpgsqlConnection?> connect, ILogger logger, string step, int pid, TimeSpan every)
    {
        _connect = connect;
        _logger = logger;
        _step = step;
        _pid = pid;
        _every = every;
        _thread = new Thread(Loop) { IsBackground = true, Name = "index build monitor" };
        _thread.Start();
    }

    public static IndexBuildMonitor Start(OnlineDdl ddl, string step)
    {
        var pid = ddl.MonitoredPid;

        // The second connection is opened only when the build outlasts the first poll: most builds (small tables, a
        // re-run that finds the index in place) end before that, and a connection costs the server a new backend.
        NpgsqlConnection? Connect()
        {
            try
            {
                return ddl.OpenSideConnection("progress");
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                ddl.Logger.LogInformation($"{step}: no second connection to report progress ({e.Message})");
                return null;
            }
        }

        return new IndexBuildMonitor(Connect, ddl.Logger, step, pid, ddl.Options.ProgressInterval);
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
        _connection?.Dispose();
        _stop.Dispose();
    }

    private void Loop()
    {
        var phaseClock = Stopwatch.StartNew();
        var lastReport = Stopwatch.StartNew();
        string? phase = null;
        var poll = TimeSpan.FromMilliseconds(Math.Clamp(_every.TotalMilliseconds / 2, 20, 1000));
        while (!_stop.Wait(poll))
        {
            _connection ??= _connect();
            if (_connection is null)
            {
                return;
            }

            try
            {
                using var command = new NpgsqlCommand(ProgressSql, _connection);
                command.Parameters.AddWithValue("pid", _pid);
                string current;
                long blocksTotal, blocksDone, tuplesTotal, tuplesDone;
                using (var reader = command.ExecuteReader())
                {
                    if (!reader.Read())
                    {
                        continue;
                    }

                    current = reader.GetString(0);
                    (blocksTotal, blocksDone, tuplesTotal, tuplesDone) = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
                }

                if (current != phase)
                {
                    phase = current;
                    phaseClock.Restart();
                }

                if (lastReport.Elapsed < _every)
                {
                    continue;
                }

                lastReport.Restart();
                if (current.StartsWith("waiting for", StringComparison.Ordinal))
                {
                    var blockers = LockBlockers.Read(_connection, _pid);
                    _logger.Info($"{_step}: {current} for {Progress.Duration(phaseClock.Elapsed)}{(blockers.Count == 0 ? "" : "; " + LockBlockers.Describe(blockers))}",
                        ("step", _step), ("phase", current), ("elapsed_s", Math.Round(phaseClock.Elapsed.TotalSeconds, 3)), ("blocker", blockers.Count == 0 ? null : blockers));
                }
                else if (blocksTotal > 0 || tuplesTotal > 0)
                {
                    var (unit, done, total) = blocksTotal > 0 ? ("blocks", blocksDone, blocksTotal) : ("tuples", tuplesDone, tuplesTotal);
                    var remaining = Progress.Remaining(done, total, phaseClock.Elapsed);
                    _logger.Info($"{_step}: {current}, {done}/{total} {unit}, {Progress.Line(done, total, phaseClock.Elapsed)}",
                        ("step", _step), ("phase", current), (unit, done), ("total", total), ("percent", Math.Round(Progress.Percent(done, total), 1)),
                        ("eta_s", remaining is { } r ? Math.Round(r.TotalSeconds) : null), ("elapsed_s", Math.Round(phaseClock.Elapsed.TotalSeconds, 3)));
                }
                else
                {
                    _logger.Info($"{_step}: {current} for {Progress.Duration(phaseClock.Elapsed)}",
                        ("step", _step), ("phase", current), ("elapsed_s", Math.Round(phaseClock.Elapsed.TotalSeconds, 3)));
                }
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                return;
            }
        }
    }
}
