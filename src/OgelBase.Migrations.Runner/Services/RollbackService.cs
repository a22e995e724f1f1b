using System.Diagnostics;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

public sealed record RollbackOptions(long Target, bool DryRun, bool AllowDataLoss, IReadOnlySet<long>? AllowChanged = null);

/// <summary>
/// Reverts every applied migration above the target version, newest first (FluentMigrator's MigrateDown
/// semantics, not "N steps"). It first says what each Down removes and how many rows that holds, and
/// refuses to delete data unless told so.
/// </summary>
public sealed class RollbackService(RunSettings settings, RunnerConsole console)
{
    public async Task<int> RunAsync(RollbackOptions options, CancellationToken cancellationToken)
    {
        Validate(options.Target);
        var clock = Stopwatch.StartNew();
        console.Info($"rollback to {options.Target:000}: target {settings.Target}");

        await using var session = await MigrationSession.OpenAsync(settings, console, OptInVersionsApplied(), cancellationToken, guardVerb: "rollback", allowChanged: options.AllowChanged);

        var toRevert = session.Applied.Where(a => a.Version > options.Target).OrderByDescending(a => a.Version).ToList();
        var unknown = toRevert.Where(a => KnownMigrations.Find(a.Version) is null).Select(a => a.Version).ToList();
        if (unknown.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"rollback refused: version {MigrateUpService.Versions(unknown)} is recorded in the database but unknown to this build, so its Down is not here; run the build that applied it. Nothing was changed.");
        }

        if (toRevert.Count == 0)
        {
            console.Info($"rollback: nothing to revert; {MigrateUpService.Describe(session.Applied)} ({clock.Elapsed.TotalSeconds:0.0} s)");
            return ExitCodes.Success;
        }

        var plan = toRevert.Select(a => (Applied: a, Migration: KnownMigrations.Find(a.Version)!)).ToList();
        var losses = new List<string>();
        foreach (var (applied, migration) in plan)
        {
            var impact = await RollbackImpact.MeasureAsync(session.Host.Info(migration.Version).Migration, session.Connection, cancellationToken);
            console.Info($"reverting {migration.Label} removes: {(impact.Count == 0 ? "schema objects only (no table, column or rows that hold data)" : "")}");
            foreach (var line in impact)
            {
                var preserved = line.Removed.Preserved ? " — saved by its Down and restored by the next up" : "";
                console.Info($"  {line.Removed.Name}: {line.Rows} row{(line.Rows == 1 ? "" : "s")}{preserved}{(line.Removed.Note is null ? "" : $" ({line.Removed.Note})")}");
                if (line.Rows > 0 && !line.Removed.Preserved)
                {
                    losses.Add($"{line.Removed.Name} ({line.Rows} row{(line.Rows == 1 ? "" : "s")})");
                }
            }

            if (applied.Baselined)
            {
                console.Info($"  warning: {migration.Label} was baselined, not applied by this tool: its Down has never run against this database.");
            }
        }

        if (losses.Count > 0 && !options.AllowDataLoss && !options.DryRun)
        {
            throw new RunnerException(FailureKind.Failed,
                $"rollback refused: it would delete data in {string.Join(", ", losses)}; re-run with --allow-data-loss to accept that. Nothing was changed.");
        }

        if (options.DryRun)
        {
            console.Info($"rollback --dry-run: would revert {plan.Count} migration{(plan.Count == 1 ? "" : "s")} ({MigrateUpService.Versions(plan.Select(p => p.Migration.Version))})" +
                         $"{(losses.Count > 0 ? $", deleting data in {string.Join(", ", losses)} (needs --allow-data-loss)" : "")}; nothing was changed ({clock.Elapsed.TotalSeconds:0.0} s)");
            return ExitCodes.Success;
        }

        foreach (var (_, migration) in plan)
        {
            console.Info($"reverting {migration.Label}");
            var elapsed = await session.DownAsync(migration);
            console.Info($"reverted {migration.Label} in {elapsed.TotalSeconds:0.00} s");
        }

        console.Info($"rollback: reverted {plan.Count} migration{(plan.Count == 1 ? "" : "s")} ({MigrateUpService.Versions(plan.Select(p => p.Migration.Version))}) in {clock.Elapsed.TotalSeconds:0.0} s; {MigrateUpService.Describe(session.Applied)}");
        return ExitCodes.Success;
    }

    internal static void Validate(long target)
    {
        if (target < 0 || (target != 0 && KnownMigrations.Find(target) is null))
        {
            throw new RunnerException(FailureKind.Usage,
                $"rollback {target}: the target must be 0 or a version this build knows ({MigrateUpService.Versions(KnownMigrations.All.Select(m => m.Version))}). Nothing was changed.");
        }
    }

    // An opt-in migration that was applied must be loadable to be reverted, whether or not --include was given.
    private static IEnumerable<long> OptInVersionsApplied() => KnownMigrations.All.Where(m => m.OptIn is not null).Select(m => m.Version);
}
