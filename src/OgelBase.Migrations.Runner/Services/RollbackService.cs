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
        console.Info($"rollback to {options.Target:000}{(options.DryRun ? " --dry-run" : "")}: target {settings.Target}");

        if (options.DryRun)
        {
            return await DryRunAsync(options, clock, cancellationToken);
        }

        await using var session = await MigrationSession.OpenAsync(settings, console, OptInVersionsApplied(), cancellationToken);
        await VersionStore.RefuseUnrecordedSchemaAsync(session.Connection, session.Applied, "rollback", cancellationToken);
        var plan = Plan(options, session.Applied);
        await session.PrepareAsync("rollback", options.AllowChanged);
        if (plan.Count == 0)
        {
            console.Info($"rollback: nothing to revert; {Formatting.Describe(session.Applied)} ({clock.Elapsed.TotalSeconds:0.0} s)",
                ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("reverted", Array.Empty<long>()));
            return ExitCodes.Success;
        }

        var losses = await ReportImpactAsync(plan, session.Host, session.Connection, cancellationToken);
        if (losses.Count > 0 && !options.AllowDataLoss)
        {
            throw new RunnerException(FailureKind.Failed,
                $"rollback refused: it would delete data in {string.Join(", ", losses)}; re-run with --allow-data-loss to accept that. Nothing was changed.");
        }

        foreach (var (_, migration) in plan)
        {
            console.Info($"reverting {migration.Label}", ("version", migration.Version));
            var run = await session.DownAsync(migration);
            console.Info($"reverted {migration.Label} in {run.Elapsed.TotalSeconds:0.00} s{run.LongestBlockingHold}", ("version", migration.Version), ("elapsed_s", Math.Round(run.Elapsed.TotalSeconds, 3)),
                ("longest_blocking_ms", run.LongestBlockingMs));
        }

        console.Info($"rollback: reverted {plan.Count} migration{(plan.Count == 1 ? "" : "s")} ({Formatting.Versions(plan.Select(p => p.Migration.Version))}) in {clock.Elapsed.TotalSeconds:0.0} s{(losses.Count > 0 ? $"; deleted data in {string.Join(", ", losses)} (--allow-data-loss)" : "")}; {Formatting.Describe(session.Applied)}",
            ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("reverted", plan.Select(p => p.Migration.Version).ToArray()));
        return ExitCodes.Success;
    }

    /// <summary>
    /// What a rollback would do, read without the migration lock and without creating anything: a dry run that
    /// created the tool's schema (as it once did on a fresh database) would be a write the operator did not ask for.
    /// </summary>
    private async Task<int> DryRunAsync(RollbackOptions options, Stopwatch clock, CancellationToken cancellationToken)
    {
        await using var connection = await Database.ConnectAsync(settings, console, "dry run", cancellationToken);
        var applied = await VersionStore.ReadAsync(connection, cancellationToken);
        await VersionStore.RefuseUnrecordedSchemaAsync(connection, applied, "rollback --dry-run", cancellationToken);
        var plan = Plan(options, applied);
        var losses = new List<string>();
        if (plan.Count > 0)
        {
            using var preview = FluentMigratorHost.Create(settings, console, OptInVersionsApplied(), preview: true);
            losses = await ReportImpactAsync(plan, preview, connection, cancellationToken);
        }

        var what = plan.Count == 0
            ? $"nothing to revert; {Formatting.Describe(applied)}"
            : $"would revert {plan.Count} migration{(plan.Count == 1 ? "" : "s")} ({Formatting.Versions(plan.Select(p => p.Migration.Version))})" +
              $"{(losses.Count > 0 ? $", deleting data in {string.Join(", ", losses)} (needs --allow-data-loss)" : "")}";
        console.Info($"rollback --dry-run: {what}; nothing was changed ({clock.Elapsed.TotalSeconds:0.0} s)",
            ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("would_revert", plan.Select(p => p.Migration.Version).ToArray()));
        return ExitCodes.Success;
    }

    private static List<(AppliedVersion Applied, KnownMigration Migration)> Plan(RollbackOptions options, IReadOnlyList<AppliedVersion> applied)
    {
        var toRevert = applied.Where(a => a.Version > options.Target).OrderByDescending(a => a.Version).ToList();
        var unknown = toRevert.Where(a => KnownMigrations.Find(a.Version) is null).Select(a => a.Version).ToList();
        if (unknown.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"rollback refused: version {Formatting.Versions(unknown)} is recorded in the database but unknown to this build, so its Down is not here; run the build that applied it. Nothing was changed.");
        }

        return toRevert.Select(a => (Applied: a, Migration: KnownMigrations.Find(a.Version)!)).ToList();
    }

    /// <summary>Prints what each Down removes with its rows; returns the data that would be lost.</summary>
    private async Task<List<string>> ReportImpactAsync(List<(AppliedVersion Applied, KnownMigration Migration)> plan, FluentMigratorHost host,
        Npgsql.NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var losses = new List<string>();
        foreach (var (applied, migration) in plan)
        {
            var impact = await RollbackImpact.MeasureAsync(host.Info(migration.Version).Migration, migration.Version, connection, cancellationToken);
            console.Info($"reverting {migration.Label} removes: {(impact.Count == 0 ? "schema objects only (no table, column or rows that hold data)" : "")}", ("version", migration.Version));
            foreach (var line in impact)
            {
                var preserved = line.Removed.Preserved ? " — saved by its Down and restored by the next up" : "";
                console.Info($"  {line.Removed.Name}: {line.Rows} row{(line.Rows == 1 ? "" : "s")}{preserved}{(line.Removed.Note is null ? "" : $" ({line.Removed.Note})")}",
                    ("version", migration.Version), ("object", line.Removed.Name), ("rows", line.Rows), ("preserved", line.Removed.Preserved));
                if (line.Rows > 0 && !line.Removed.Preserved)
                {
                    losses.Add($"{line.Removed.Name} ({line.Rows} row{(line.Rows == 1 ? "" : "s")})");
                }
            }

            if (applied.Baselined)
            {
                console.Info($"  warning: {migration.Label} was baselined, not applied by this tool: its Down has never run against this database.", ("version", migration.Version));
            }
        }

        return losses;
    }

    internal static void Validate(long target)
    {
        if (target < 0 || (target != 0 && KnownMigrations.Find(target) is null))
        {
            throw new RunnerException(FailureKind.Usage,
                $"rollback {target}: the target must be 0 or a version this build knows ({Formatting.Versions(KnownMigrations.All.Select(m => m.Version))}). Nothing was changed.");
        }
    }

    // An opt-in migration that was applied must be loadable to be reverted, whether or not --include was given.
    private static IEnumerable<long> OptInVersionsApplied() => KnownMigrations.All.Where(m => m.OptIn is not null).Select(m => m.Version);
}
