using System.Diagnostics;
using Npgsql;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// What a busy neighbour does to a backfill: a second writer that inserts as fast as it can for ten seconds (WAL
/// flushes and checkpoints pile up) while a VACUUM works on platform.users, the table the backfill writes.
/// </summary>
public static class Disturbance
{
    private static readonly TimeSpan Length = TimeSpan.FromSeconds(10);

    /// <returns>The writer's window, in seconds of the run's clock.</returns>
    public static async Task<(double From, double To)> RunAsync(NpgsqlDataSource data, Stopwatch clock, TimeSpan after, TextWriter log, CancellationToken cancellationToken)
    {
        await Task.Delay(after, cancellationToken);
        await using var writer = await data.OpenConnectionAsync(cancellationToken);
        await using var vacuumSession = await data.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(writer, "CREATE TABLE IF NOT EXISTS public.bench_disturbance (id bigint, payload text)", cancellationToken);
        var from = clock.Elapsed.TotalSeconds;
        log.WriteLine($"disturbance at {from:0.000} s: a second writer saturating the WAL for {Length.TotalSeconds:0} s, and VACUUM platform.users");
        var vacuum = ExecuteAsync(vacuumSession, "VACUUM platform.users", cancellationToken);
        var until = clock.Elapsed + Length;
        var rows = 0L;
        while (clock.Elapsed < until)
        {
            await ExecuteAsync(writer, "INSERT INTO public.bench_disturbance SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g", cancellationToken);
            rows += 20_000;
        }

        var to = clock.Elapsed.TotalSeconds;
        await vacuum;
        log.WriteLine($"disturbance over: the writer stopped at {to:0.000} s after {rows:N0} rows, the VACUUM at {clock.Elapsed.TotalSeconds:0.000} s");
        await ExecuteAsync(writer, "DROP TABLE public.bench_disturbance", cancellationToken);
        return (from, to);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
