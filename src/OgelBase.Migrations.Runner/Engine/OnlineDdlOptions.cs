using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// Knobs for migrations that run outside one transaction to stay online (e.g. 008). The runner
/// registers one instance in the service provider; migrations take it in their constructor.
/// </summary>
public sealed class OnlineDdlOptions
{
    /// <summary>How long one DDL statement may wait in the lock queue; everyone queued behind it waits at most this long.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How many times a DDL step that hit its lock timeout is tried in all before the migration fails.</summary>
    public int MaxAttempts { get; set; } = 60;

    /// <summary>First pause between attempts; it doubles up to <see cref="MaxRetryDelay"/>, with jitter.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Rows per backfill batch to begin with; each batch is its own short transaction and holds its rows' locks until
    /// it commits, so the batch size follows the batch's duration toward <see cref="BackfillSteering.TargetBatch"/>
    /// (5000 rows gave 278 ms stalls at 1M users; see docs/benchmarks.md), unless <see cref="BatchSizeFixed"/>.
    /// </summary>
    public int BatchSize { get; set; } = DefaultBatchSize;

    public const int DefaultBatchSize = 1000;

    /// <summary>Every batch has <see cref="BatchSize"/> rows (the default; <c>--backfill-steer</c> without <c>--batch-size</c> lets it follow the batches' duration).</summary>
    public bool BatchSizeFixed { get; set; } = true;

    /// <summary>
    /// After each batch, pause this fraction of the time the batch took, whatever the server shows. Null: the pause is
    /// steered (<c>--backfill-steer</c>).
    /// </summary>
    public double? BackfillPauseRatio { get; set; } = FixedPauseRatio;

    /// <summary>
    /// The default pause (0.25: the backfill writes at most four fifths of the time), so the application's commits do
    /// not queue behind the backfill's WAL flushes. Measured at 1M users (docs/benchmarks.md): 0 gave a 114 ms WAL
    /// stall, 0.5 lost the wall-time race, 0.25 met both targets. The steered pause has not yet beaten it everywhere.
    /// </summary>
    public const double FixedPauseRatio = 0.25;

    public BackfillSteering Steering { get; set; } = new();

    /// <summary>
    /// When the run's time budget ends (<c>migrate up --max-duration</c>): a backfill stops after the batch that
    /// crosses it, with its batches committed, and the migration stays unrecorded; the next run resumes it.
    /// </summary>
    public DateTimeOffset? Deadline { get; set; }

    /// <summary>How often a long step (backfill batches, index builds) reports percent done, rate and time left.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(2);
}
