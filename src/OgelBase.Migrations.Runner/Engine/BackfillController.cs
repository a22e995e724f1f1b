namespace OgelBase.Migrations.Runner.Engine;

/// <summary>What the controller chose after a batch, and why.</summary>
/// <param name="Signal">The bad signal that drove it (null: none).</param>
/// <param name="Changed">"backing off" when a signal came or another took its place with this batch, "speeding up" when the last one went.</param>
internal readonly record struct Pace(int BatchSize, TimeSpan Pause, string? Signal, string? Changed, bool Hibernate)
{
    /// <summary>The probe drove it (or its clearing): no server signal is bad.</summary>
    public bool ProbeDriven { get; init; }
}

/// <summary>
/// Steers a backfill after each batch (docs/backfill-steering.md). The batch size follows the batch's duration toward
/// <see cref="BackfillSteering.TargetBatch"/> (an exponential moving average; +10 % below three quarters of it, −20 %
/// above five quarters, within a tenth and twice the configured size). The pause answers the signals: a bad one
/// doubles it at once (at least the last batch's duration: half the time for the app), a clear one halves it down to
/// nothing. The server's signals (VACUUM, archiver, replication) may stretch it to <see cref="BackfillSteering.MaxPause"/>
/// and, when they stay bad for <see cref="BackfillSteering.HibernateAfter"/>, ask the loop to hibernate until they clear.
/// The probe compares what the app feels while a batch runs with what it feels between batches (the baseline follows
/// the latter, so an app that is slow on its own is not blamed on the backfill); a slow probe stretches the pause to
/// four batches at most, so the backfill keeps a fifth of the time. While the app is active and no probe has run
/// between batches for two seconds, one pause is made long enough for two. A fixed <c>--batch-size</c> or
/// <c>--backfill-pause</c> overrides its half of the steering.
/// </summary>
internal sealed class BackfillController(BackfillSteering steering, int batchSize, bool fixedSize, double? fixedPauseRatio, TimeSpan baseline)
{
    private static readonly TimeSpan ProbeFloor = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan BaselineEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan BaselinePause = TimeSpan.FromMilliseconds(45);

    private readonly int _minSize = Math.Max(1, batchSize / 10);
    // Ten times gave 170-190 ms WAL flush stalls to the app at 1M users (the save loop's batches are short, so they grew
    // to where one commit flushed megabytes): a batch may at most double.
    private readonly int _maxSize = batchSize * 2;
    private double? _average;
    private TimeSpan _badFor;
    private TimeSpan _sinceBaseline;
    private string? _signal;

    public int BatchSize { get; private set; } = batchSize;

    public TimeSpan Pause { get; private set; }

    /// <summary>What the probe takes with the app alone: at first the median before the backfill, then following the probes between batches.</summary>
    public TimeSpan Baseline { get; private set; } = baseline;

    /// <summary>The probe's allowed latency during a batch: <see cref="BackfillSteering.LatencyFactor"/> times the baseline, and at least 2 ms above it.</summary>
    public TimeSpan LatencyLimit => Max(Baseline * steering.LatencyFactor, Baseline + ProbeFloor);

    /// <summary>Time spent in pauses because a signal was bad.</summary>
    public TimeSpan BackedOff { get; private set; }

    public Pace Next(TimeSpan batch, ServerHealth health)
    {
        var ms = batch.TotalMilliseconds;
        _average = _average is { } a ? (0.7 * a) + (0.3 * ms) : ms;
        var target = steering.TargetBatch.TotalMilliseconds;
        if (!fixedSize)
        {
            BatchSize = _average > target * 1.25 ? Math.Max(_minSize, (int)(BatchSize * 0.8))
                : _average < target * 0.75 ? Math.Min(_maxSize, Math.Max(BatchSize + 1, (int)(BatchSize * 1.1)))
                : BatchSize;
        }

        _sinceBaseline += batch + Pause;
        if (health.ProbeBetween is { } between)
        {
            Baseline = (Baseline * 0.7) + (between * 0.3);
            _sinceBaseline = TimeSpan.Zero;
        }

        var bad = Bad(health);
        var changed = bad is null ? (_signal is null ? null : "speeding up") : bad.Value.Kind == _signal ? null : "backing off";
        var server = bad is { Kind: not "probe" };
        var probeDriven = !server && (bad is not null || _signal == "probe");
        _signal = bad?.Kind;
        var signal = bad?.Text;
        _badFor = server ? _badFor + batch + Pause : TimeSpan.Zero;
        if (fixedPauseRatio is { } ratio)
        {
            Pause = batch * ratio;
        }
        else if (signal is not null)
        {
            Pause = Min(Max(Pause * 2, batch), server ? BackfillSteering.MaxPause : batch * 4);
            BackedOff += Pause;
        }
        else
        {
            Pause = Pause.TotalMilliseconds < 2 ? TimeSpan.Zero : Pause / 2;
            if (health.AppActive && _sinceBaseline >= BaselineEvery)
            {
                _sinceBaseline = TimeSpan.Zero;
                return new Pace(BatchSize, Max(Pause, BaselinePause), null, changed, Hibernate: false) { ProbeDriven = probeDriven };
            }
        }

        return new Pace(BatchSize, Pause, signal, changed, Hibernate: server && _badFor >= steering.HibernateAfter) { ProbeDriven = probeDriven };
    }

    /// <summary>The first bad signal (which one, and in words), or null.</summary>
    public (string Kind, string Text)? Bad(ServerHealth health) => health switch
    {
        { Vacuumed: { } tables } => ("vacuum", $"VACUUM running on {tables}"),
        { ArchiveBacklog: { } backlog } when backlog > steering.ArchiveBacklog => ("archive", $"{backlog} WAL segments waiting for the archiver (limit {steering.ArchiveBacklog})"),
        { ReplicationLag: { } lag } when lag > steering.ReplicationLag => ("replication", $"a replication slot {lag >> 20} MB behind (limit {steering.ReplicationLag >> 20} MB)"),
        { AppActive: true, Probe: { } probe } when probe > LatencyLimit =>
            ("probe", $"probe {probe.TotalMilliseconds:0.0} ms while the app is active (limit {LatencyLimit.TotalMilliseconds:0.0} ms, {Baseline.TotalMilliseconds:0.0} ms between batches)"),
        _ => null,
    };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
