using System.Diagnostics;
using System.Reflection;
using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

/// <param name="AllowChanged">Applied versions accepted although what they execute changed since (their new checksum is recorded).</param>
public sealed record MigrateUpOptions(long? To, bool DryRun, IReadOnlySet<long> Include, IReadOnlySet<long>? AllowChanged = null);

/// <summary>Applies pending migrations in version order, one transaction each unless a migration declares otherwise.</summary>
public sealed class MigrateUpService(RunSettings settings, RunnerConsole console)
{
    public async Task<int> RunAsync(MigrateUpOptions options, CancellationToken cancellationToken)
    {
        Validate(options);
        var clock = Stopwatch.StartNew();
        console.Info($"migrate up: target {settings.Target}");

        if (!settings.CheckManifests)
        {
            console.Info("migrate up: --no-manifest-check: migrations are recorded without comparing the catalog with their manifests (for generating one on a throwaway database)");
        }

        if (options.DryRun)
        {
            return await DryRunAsync(options, clock, cancellationToken);
        }

        await using var session = await MigrationSession.OpenAsync(settings, console, options.Include, cancellationToken);
        var plan = await PlanAsync(options, session.Connection, session.Applied, cancellationToken);
        await session.PrepareAsync("migrate up", options.AllowChanged);
        if (plan.Pending.Count == 0)
        {
            console.Info($"migrate up: nothing to apply; {Formatting.Describe(session.Applied)}{HeldBackNote(plan)} ({clock.Elapsed.TotalSeconds:0.0} s)",
                ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("applied", Array.Empty<long>()));
            return ExitCodes.Success;
        }

        var applied = new List<long>();
        foreach (var migration in plan.Pending)
        {
            if (settings.Online.Deadline is { } deadline && DateTimeOffset.UtcNow >= deadline)
            {
                throw new RunnerException(FailureKind.OutOfTime,
                    $"migrate up: time budget spent after {clock.Elapsed.TotalSeconds:0.0} s; applied {(applied.Count == 0 ? "none" : Formatting.Versions(applied))}, " +
                    $"still pending {Formatting.Versions(plan.Pending.Select(m => m.Version).Except(applied))}; the next run applies them.");
            }

            console.Info($"applying {migration.Label}{(migration.Transactional ? "" : " (online: several short transactions, not one)")}", ("version", migration.Version));
            var run = await session.UpAsync(migration);
            applied.Add(migration.Version);
            console.Info($"applied {migration.Label} in {run.Elapsed.TotalSeconds:0.00} s{run.LongestBlockingHold}", ("version", migration.Version), ("elapsed_s", Math.Round(run.Elapsed.TotalSeconds, 3)),
                ("longest_blocking_ms", run.LongestBlockingMs));
        }

        console.Info($"migrate up: applied {applied.Count} migration{(applied.Count == 1 ? "" : "s")} ({Formatting.Versions(applied)}) in {clock.Elapsed.TotalSeconds:0.0} s; {Formatting.Describe(session.Applied)}{HeldBackNote(plan)}",
            ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("applied", applied.ToArray()));
        return ExitCodes.Success;
    }

    internal static void Validate(MigrateUpOptions options)
    {
        if (options.To is { } to && to != 0 && KnownMigrations.Find(to) is null)
        {
            throw new RunnerException(FailureKind.Usage, $"--to {to}: no migration has that version (known: {Formatting.Versions(KnownMigrations.All.Select(m => m.Version))}).");
        }

        foreach (var version in options.Include)
        {
            if (KnownMigrations.Find(version)?.OptIn is null)
            {
                throw new RunnerException(FailureKind.Usage,
                    $"--include {version}: not an opt-in migration (opt-in: {Formatting.Versions(KnownMigrations.All.Where(m => m.OptIn is not null).Select(m => m.Version))}).");
            }
        }
    }

    /// <summary>
    /// The plan, from the one read of the version table, and every check that may refuse it before anything is created
    /// (a refused run changes nothing, not even the version table): a schema migrated by hand, a pending migration
    /// without a manifest, an unmet precondition (<see cref="PreconditionAttribute"/>: what a migration needs outside this tool's schema).
    /// </summary>
    private async Task<UpPlan> PlanAsync(MigrateUpOptions options, NpgsqlConnection connection, IReadOnlyList<AppliedVersion> applied, CancellationToken cancellationToken)
    {
        await VersionStore.RefuseUnrecordedSchemaAsync(connection, applied, options.DryRun ? "migrate up --dry-run" : "migrate up", cancellationToken);
        var candidates = KnownMigrations.All.Where(m => m.Version <= (options.To ?? long.MaxValue) && !applied.Any(a => a.Version == m.Version)).ToList();
        var heldBack = candidates.Where(m => m.OptIn is not null && !options.Include.Contains(m.Version)).ToList();
        var plan = new UpPlan(candidates.Except(heldBack).ToList(), heldBack);
        new ManifestCheck(settings.CheckManifests).RequireManifests(plan.Pending);
        foreach (var precondition in plan.Pending.SelectMany(m => m.Preconditions))
        {
            await using var command = new NpgsqlCommand($"SELECT ({precondition.Condition})", connection);
            if (await command.ExecuteScalarAsync(cancellationToken) is not true)
            {
                throw new RunnerException(FailureKind.Failed, $"migrate up refused: {precondition.Message}. Nothing was changed.");
            }
        }

        return plan;
    }

    private async Task<int> DryRunAsync(MigrateUpOptions options, Stopwatch clock, CancellationToken cancellationToken)
    {
        // A dry run changes nothing, not even the version table, so it neither takes the lock nor lets FluentMigrator create anything.
        await using var connection = await Database.ConnectAsync(settings, console, "dry run", cancellationToken);
        var plan = await PlanAsync(options, connection, await VersionStore.ReadAsync(connection, cancellationToken), cancellationToken);
        using var preview = FluentMigratorHost.Create(settings, console, options.Include, preview: true);
        var skipped = 0;
        foreach (var migration in plan.Pending)
        {
            console.Info($"would apply {migration.Label}{(migration.Transactional ? " (one transaction)" : " (online: several short transactions)")}; its SQL:");
            preview.Runner.ApplyMigrationUp(preview.Info(migration.Version), useTransaction: false);
            var steps = preview.CountConnectionSteps(migration.Version, up: true);
            if (steps > 0)
            {
                skipped += steps;
                console.Info($"  note: {steps} step{(steps == 1 ? "" : "s")} of {migration.Label} run as code (Execute.WithConnection: data, backfill, checks); a dry run cannot show or run them.");
            }
        }

        var what = plan.Pending.Count == 0 ? "nothing to apply" : $"would apply {plan.Pending.Count} migration{(plan.Pending.Count == 1 ? "" : "s")} ({Formatting.Versions(plan.Pending.Select(m => m.Version))})";
        console.Info($"migrate up --dry-run: {what}; nothing was changed{(skipped > 0 ? $"; {skipped} code steps not shown" : "")}{HeldBackNote(plan)} ({clock.Elapsed.TotalSeconds:0.0} s)");
        return ExitCodes.Success;
    }

    private static string HeldBackNote(UpPlan plan) =>
        plan.HeldBack.Count == 0 ? "" : $"; held back (opt-in): {string.Join(", ", plan.HeldBack.Select(m => $"{m.Version:000}, use --include {m.Version} to apply it"))}";
}

public sealed record UpPlan(IReadOnlyList<KnownMigration> Pending, IReadOnlyList<KnownMigration> HeldBack);
