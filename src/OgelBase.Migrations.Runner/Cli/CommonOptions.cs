using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Connection;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary>Options every verb that reaches the database shares, and their translation into <see cref="RunSettings"/>.</summary>
/// <param name="configureServices">Passed on to <see cref="RunSettings.ConfigureServices"/>.</param>
public sealed class CommonOptions(Action<IServiceCollection>? configureServices = null)
{
    public Option<string?> Connection { get; } = new("--connection")
    {
        Description = "Target database as a postgres:// URI or key=value string; overrides DATABASE_URL.",
    };

    public Option<int> ConnectTimeout { get; } = new("--connect-timeout")
    {
        Description = "Seconds to keep retrying while the server is unreachable (DNS, refused, timeouts).",
        DefaultValueFactory = _ => 30,
    };

    public Option<int> LockTimeout { get; } = new("--lock-timeout")
    {
        Description = "Seconds to wait for another migration run to release the migration lock.",
        DefaultValueFactory = _ => 600,
    };

    public Option<int> StatementLockTimeout { get; } = new("--statement-lock-timeout")
    {
        Description = "Milliseconds any DDL statement may queue for a table lock before it gives up and is retried.",
        DefaultValueFactory = _ => 5000,
    };

    public Option<int> OnlineLockTimeout { get; } = new("--online-lock-timeout")
    {
        Description = "Milliseconds an online migration's DDL step may queue for a table lock (each retry waits at most this).",
        DefaultValueFactory = _ => 50,
    };

    public Option<int> OnlineAttempts { get; } = new("--online-attempts")
    {
        Description = "Attempts in all for an online DDL step that keeps hitting its lock timeout.",
        DefaultValueFactory = _ => 60,
    };

    public Option<int?> BatchSize { get; } = new("--batch-size")
    {
        Description = $"Rows per backfill batch in online migrations, fixed (default {OnlineDdlOptions.DefaultBatchSize}; with --backfill-steer, where batches begin).",
    };

    public Option<double?> BackfillPause { get; } = new("--backfill-pause")
    {
        Description = $"After each backfill batch, pause this fraction of the batch's own duration, fixed (default {OnlineDdlOptions.FixedPauseRatio}; 0 = flat out).",
    };

    public Option<bool> BackfillSteer { get; } = new("--backfill-steer")
    {
        Description = "Let backfills steer their batch size and pause by what the server shows (docs/backfill-steering.md); --batch-size or --backfill-pause still fix their half.",
    };

    public Option<string?> BackfillLimits { get; } = new("--backfill-limits")
    {
        Description = "Thresholds a steered backfill steers by, e.g. batch-ms=25,latency=2,archive=16,lag-mb=64,hibernate-s=10 (docs/backfill-steering.md).",
    };

    public Option<double> ProgressInterval { get; } = new("--progress-interval")
    {
        Description = "Seconds between progress lines of long steps (backfill batches, index builds): percent, rows/s, estimated time remaining.",
        DefaultValueFactory = _ => 2,
    };

    public Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = "Also echo every SQL statement FluentMigrator runs.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Connection);
        command.Options.Add(ConnectTimeout);
        command.Options.Add(LockTimeout);
        command.Options.Add(StatementLockTimeout);
        command.Options.Add(OnlineLockTimeout);
        command.Options.Add(OnlineAttempts);
        command.Options.Add(BatchSize);
        command.Options.Add(BackfillPause);
        command.Options.Add(BackfillSteer);
        command.Options.Add(BackfillLimits);
        command.Options.Add(ProgressInterval);
        command.Options.Add(Verbose);
    }

    public RunSettings Resolve(ParseResult parse, RunnerConsole console)
    {
        var connectTimeout = Positive(parse.GetValue(ConnectTimeout), "--connect-timeout");
        var lockTimeout = Positive(parse.GetValue(LockTimeout), "--lock-timeout");
        var statementLockTimeout = Positive(parse.GetValue(StatementLockTimeout), "--statement-lock-timeout");
        var onlineLockTimeout = Positive(parse.GetValue(OnlineLockTimeout), "--online-lock-timeout");
        var onlineAttempts = Positive(parse.GetValue(OnlineAttempts), "--online-attempts");
        var batchSize = parse.GetValue(BatchSize) is { } size ? Positive(size, "--batch-size") : (int?)null;
        var pause = parse.GetValue(BackfillPause);
        var steer = parse.GetValue(BackfillSteer);
        if (pause is { } ratio && ratio is not (>= 0 and <= 10))
        {
            throw new RunnerException(FailureKind.Usage, "--backfill-pause must be a number from 0 to 10.");
        }
        BackfillSteering steering;
        try
        {
            steering = BackfillSteering.Parse(parse.GetValue(BackfillLimits) ?? "");
        }
        catch (FormatException e)
        {
            throw new RunnerException(FailureKind.Usage, $"--backfill-limits: {e.Message}.");
        }

        var progressInterval = parse.GetValue(ProgressInterval) is var seconds && seconds is >= 0 and <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : throw new RunnerException(FailureKind.Usage, "--progress-interval must be a number of seconds from 0 to 3600.");
        var builder = ConnectionResolver.Resolve(parse.GetValue(Connection), console.Environment);

        return new RunSettings
        {
            Connection = builder,
            Target = DatabaseUrl.Describe(builder),
            ConnectTimeout = TimeSpan.FromSeconds(connectTimeout),
            LockWait = TimeSpan.FromSeconds(lockTimeout),
            StatementLockTimeout = TimeSpan.FromMilliseconds(statementLockTimeout),
            Verbose = parse.GetValue(Verbose),
            ConfigureServices = configureServices,
            Online = new OnlineDdlOptions
            {
                LockTimeout = TimeSpan.FromMilliseconds(onlineLockTimeout),
                MaxAttempts = onlineAttempts,
                BatchSize = batchSize ?? OnlineDdlOptions.DefaultBatchSize,
                BatchSizeFixed = batchSize is not null || !steer,
                BackfillPauseRatio = pause ?? (steer ? null : OnlineDdlOptions.FixedPauseRatio),
                Steering = steering,
                ProgressInterval = progressInterval,
            },
            Seeds = ProductionSeedOptions.FromEnvironment(console.Environment),
        };
    }

    private static int Positive(int value, string name) =>
        value > 0 ? value : throw new RunnerException(FailureKind.Usage, $"{name} must be a positive whole number.");
}
