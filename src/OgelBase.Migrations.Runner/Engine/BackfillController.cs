namespace OgelBase.Migrations.Runner.Engine;

/// <summary>What the controller chose after a batch, and why.</summary>
/// <param name="Signal">The bad signal that drove it (null: none).</param>
/// <param name="Changed">"backing off" when a signal came or another took its place with this batch, "speeding up" when the last one went.</param>
internal readonly record struct Pace(int BatchSize, TimeSpan Pause, string? Signal, string? Changed, bool Hibernate);

/// <summary>
/// Steers a backfill after each batch (docs/backfill-steering.md). The batch size follows the batch's duration toward
/// <see cref="BackfillSteering.TargetBatch"/> (an exponential moving average; +10 % below three quarters of it, −20 %
/// above five quarters, within a tenth and ten times the configured size). The pause answers the server's signals: a
/// bad one doubles it at once (at least the last batch's duration: half the time for the app, up to
/// <see cref="BackfillSteering.MaxPause"/>), a clear one halves it down to nothing; a signal that stays bad for
/// <see cref="BackfillSteering.HibernateAfter"/> asks the loop to hibernate until it clears. A fixed
/// <c>--batch-size</c> or <c>--backfill-pause</c> overrides its half of the steering.
/// </summary>
internal sealed class BackfillController(BackfillSteering steering, int batchSize, bool fixedSize, double? fixedPauseRatio, TimeSpan baseline)
{
    private readonly int _minSize = Math.Max(1, batchSize / 10);
    private readonly int _maxSize = batchSize * 10;
    private double? _average;
    private TimeSpan _badFor;
    private string? _signal;

    public int BatchSize { get; private set; } = batchSize;

    public TimeSpan Pause { get; private set; }

    /// <summary>The probe's allowed latency: <see cref="BackfillSteering.LatencyFactor"/> times its baseline, and never less than a millisecond above it.</summary>
    public TimeSpan LatencyLimit { get; } = baseline + TimeSpan.FromMilliseconds(Math.Max(1, baseline.TotalMilliseconds * (steering.LatencyFactor - 1)));

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

        var bad = Bad(health);
        var changed = bad is null ? (_signal is null ? null : "speeding up") : bad.Value.Kind == _signal ? null : "backing off";
        _signal = bad?.Kind;
        var signal = bad?.Text;
        _badFor = signal is null ? TimeSpan.Zero : _badFor + batch + Pause;
        if (fixedPauseRatio is { } ratio)
        {
            Pause = batch * ratio;
        }
        else if (signal is not null)
        {
            Pause = Min(Max(Pause * 2, batch), BackfillSteering.MaxPause);
            BackedOff += Pause;
        }
        else
        {
            Pause = Pause.TotalMilliseconds < 2 ? TimeSpan.Zero : Pause / 2;
        }

        return new Pace(BatchSize, Pause, signal, changed, Hibernate: signal is not null && _badFor >= steering.HibernateAfter);
    }

    /// <summary>The first bad signal (which one, and in words), or null.</summary>
    public (string Kind, string Text)? Bad(ServerHealth health) => health switch
    {
        { Vacuumed: { } tables } => ("vacuum", $"VACUUM running on {tables}"),
        { ArchiveBacklog: { } backlog } when backlog > steering.ArchiveBacklog => ("archive", $"{backlog} WAL segments waiting for the archiver (limit {steering.ArchiveBacklog})"),
        { ReplicationLag: { } lag } when lag > steering.ReplicationLag => ("replication", $"a replication slot {lag >> 20} MB behind (limit {steering.ReplicationLag >> 20} MB)"),
        { AppActive: true, Probe: { } probe } when probe > LatencyLimit =>
            ("probe", $"probe {probe.TotalMilliseconds:0.0} ms while the app is active (limit {LatencyLimit.TotalMilliseconds:0.0} ms, {baseline.TotalMilliseconds:0.0} ms before the backfill)"),
        _ => null,
    };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
