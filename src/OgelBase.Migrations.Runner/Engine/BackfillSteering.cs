using System.Globalization;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// The thresholds a backfill steers by (docs/backfill-steering.md), settable as
/// <c>--backfill-limits batch-ms=25,latency=2,archive=16,lag-mb=64,hibernate-s=10</c>.
/// </summary>
public sealed record BackfillSteering
{
    /// <summary>The time one batch should take (batch-ms): a batch holds its rows' locks that long, so it bounds an app UPDATE's wait on one of them.</summary>
    public TimeSpan TargetBatch { get; init; } = TimeSpan.FromMilliseconds(25);

    /// <summary>How many times its latency before the backfill the probe may take while the app is active (latency).</summary>
    public double LatencyFactor { get; init; } = 2;

    /// <summary>WAL segments waiting for the archiver (archive).</summary>
    public long ArchiveBacklog { get; init; } = 16;

    /// <summary>Bytes of WAL an active replication slot may be behind (lag-mb).</summary>
    public long ReplicationLag { get; init; } = 64L << 20;

    /// <summary>A signal that stays bad this long makes the backfill stop and wait for it to clear (hibernate-s).</summary>
    public TimeSpan HibernateAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest pause between two batches while backing off.</summary>
    public static TimeSpan MaxPause { get; } = TimeSpan.FromSeconds(2);

    /// <summary>A backfill of fewer batches than this is over before steering matters: it runs flat out, unprobed.</summary>
    public const int SteeredFromBatches = 10;

    public static BackfillSteering Parse(string text)
    {
        var steering = new BackfillSteering();
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (key, value) = pair.Split('=', 2) is [var k, var v] && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number > 0
                ? (k.Trim(), number)
                : throw new FormatException($"'{pair}' is not name=positive number");
            steering = key switch
            {
                "batch-ms" => steering with { TargetBatch = TimeSpan.FromMilliseconds(value) },
                "latency" => steering with { LatencyFactor = value },
                "archive" => steering with { ArchiveBacklog = (long)value },
                "lag-mb" => steering with { ReplicationLag = (long)(value * (1 << 20)) },
                "hibernate-s" => steering with { HibernateAfter = TimeSpan.FromSeconds(value) },
                _ => throw new FormatException($"unknown limit '{key}' (batch-ms, latency, archive, lag-mb, hibernate-s)"),
            };
        }

        return steering;
    }
}
