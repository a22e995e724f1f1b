using System.Diagnostics;
using Npgsql;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.Runner.Trace;

namespace OgelBase.Migrations.Runner.Services;

/// <param name="Scratch">Where to create the scratch database (a server, reached through the database it names); null: the target's server.</param>
/// <param name="Waivers">The waiver file; null: none.</param>
/// <param name="FailOnFindings">Exit 1 when a finding is not waived (CI); otherwise findings are reported and the exit is 0.</param>
public sealed record TraceOptions(long? To, IReadOnlySet<long> Include, TraceFormat Format, RunSettings? Scratch, string? Waivers, bool FailOnFindings);

/// <summary>
/// A rehearsal of <c>migrate up</c> that never changes the target: reads the target's recorded versions, builds a
/// scratch database at exactly those versions with this build, applies the pending migrations there with the lock
/// tracer watching, judges the record by the lock rules against the target's table sizes, reports, and drops the
/// scratch database, also on failure and on Ctrl-C / SIGTERM.
/// </summary>
public sealed class TraceService(RunSettings settings, RunnerConsole console)
{
    public async Task<int> RunAsync(TraceOptions options, CancellationToken cancellationToken)
    {
        MigrateUpService.Validate(new MigrateUpOptions(options.To, DryRun: false, options.Include));
        var waivers = options.Waivers is null ? [] : LockWaivers.Load(options.Waivers);
        var clock = Stopwatch.StartNew();
        console.Info($"trace: target {settings.Target} (read only){(options.Waivers is null ? "" : $"; waivers from {options.Waivers} ({waivers.Count})")}");

        await using var target = await TargetCatalog.OpenAsync(settings, console, cancellationToken);
        var applied = await VersionStore.ReadAsync(target.Connection, cancellationToken);
        await VersionStore.RefuseUnrecordedSchemaAsync(target.Connection, applied, "trace", cancellationToken);
        var plan = await PlanAsync(options, target, applied, cancellationToken);
        if (plan.Pending.Count == 0)
        {
            var empty = TraceDocument.Build(settings.Target, plan.Recorded.Select(m => m.Version), [], [], [], _ => RelationSize.New);
            console.Result(empty.Render(options.Format));
            console.Info($"trace: 0 migrations, 0 statements, 0 findings; nothing is pending, no scratch database was needed ({clock.Elapsed.TotalSeconds:0.0} s)",
                ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)));
            return ExitCodes.Success;
        }

        var (runs, dropped) = await RehearseAsync(options, plan, cancellationToken);
        var statements = runs.SelectMany(r => r.Run.Statements).ToList();
        var sizes = await target.SizesAsync(
            statements.SelectMany(s => s.Locks.Select(l => l.Relation).Concat(s.Rewritten).Concat(s.Scanned)), cancellationToken);
        RelationSize Size(string relation) => sizes.TryGetValue(relation, out var size) ? size : RelationSize.New;
        // On a target that records nothing every relation is new and no rule can fire: a silent waiver proves nothing there.
        var traced = plan.Recorded.Count == 0 ? [] : plan.Pending.Select(m => m.Version).ToHashSet();
        var (findings, unused) = LockWaivers.Apply(LockRules.Evaluate(statements, Size), waivers, traced);
        var document = TraceDocument.Build(settings.Target, plan.Recorded.Select(m => m.Version), runs, findings, unused, Size);
        console.Result(document.Render(options.Format));

        var summary = document.Summary;
        var notWaived = summary.NotWaived + summary.UnusedWaivers;
        console.Info($"trace: {summary.Migrations} migration{(summary.Migrations == 1 ? "" : "s")}, {summary.Statements} statements, {summary.Findings} finding{(summary.Findings == 1 ? "" : "s")} ({summary.Waived} waived)" +
                     $"{(summary.UnusedWaivers > 0 ? $", {summary.UnusedWaivers} waiver{(summary.UnusedWaivers == 1 ? "" : "s")} matching nothing" : "")}; " +
                     $"{(dropped ? "scratch database dropped" : "the scratch database could NOT be dropped (see above)")} ({clock.Elapsed.TotalSeconds:0.0} s)",
            ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("findings", summary.Findings), ("waived", summary.Waived), ("not_waived", notWaived));
        if (notWaived > 0 && options.FailOnFindings)
        {
            console.Fail($"trace: {notWaived} finding{(notWaived == 1 ? "" : "s")} not waived (--fail-on-findings); fix the migration or add a waiver with its reason to the waiver file");
            return ExitCodes.Failed;
        }

        return dropped ? ExitCodes.Success : ExitCodes.Failed;
    }

    /// <summary>What the scratch database must replay (the target's recorded versions) and what is traced, with every refusal made before anything is created.</summary>
    private static async Task<TracePlan> PlanAsync(TraceOptions options, TargetCatalog target, IReadOnlyList<AppliedVersion> applied, CancellationToken cancellationToken)
    {
        var recorded = applied.Select(a => a.Version).ToHashSet();
        var unknown = recorded.Where(v => KnownMigrations.Find(v) is null).ToList();
        if (unknown.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"trace refused: the target records {Formatting.Versions(unknown)}, unknown to this build, so no scratch database can be brought to its versions; trace with the build that applied them. Nothing was changed.");
        }

        var pending = KnownMigrations.All
            .Where(m => m.Version <= (options.To ?? long.MaxValue) && !recorded.Contains(m.Version) && (m.OptIn is null || options.Include.Contains(m.Version)))
            .ToList();

        // The same preconditions migrate up checks, asked of the target: a trace of what migrate up would refuse says so.
        foreach (var precondition in pending.SelectMany(m => m.Preconditions))
        {
            await using var command = new NpgsqlCommand($"SELECT ({precondition.Condition})", target.Connection);
            if (await command.ExecuteScalarAsync(cancellationToken) is not true)
            {
                throw new RunnerException(FailureKind.Failed, $"trace refused: migrate up would refuse this target: {precondition.Message}. Nothing was changed.");
            }
        }

        var replayed = KnownMigrations.All.Where(m => recorded.Contains(m.Version)).ToList();
        string? authUsers = null;
        var needAuth = replayed.Concat(pending).Where(m => m.Preconditions.Count > 0).Select(m => m.Version).ToList();
        if (needAuth.Count > 0)
        {
            // What a migration needs outside this tool's schema (9: GoTrue's auth.users) is copied, as the target has it.
            authUsers = await target.AuthUsersDdlAsync(cancellationToken)
                ?? throw new RunnerException(FailureKind.Failed,
                    $"trace refused: the target records {Formatting.Versions(needAuth)}, which needs GoTrue's auth.users, but has no auth.users to copy into the scratch database. Nothing was changed.");
        }

        return new TracePlan(replayed, pending, authUsers);
    }

    /// <summary>The scratch database, from creation to drop; the drop happens whatever the outcome, and a failure's one line says whether it did.</summary>
    private async Task<(IReadOnlyList<(KnownMigration Migration, MigrationRun Run)> Runs, bool Dropped)> RehearseAsync(TraceOptions options, TracePlan plan, CancellationToken cancellationToken)
    {
        var scratch = await ScratchDatabase.CreateAsync(options.Scratch ?? settings, console, cancellationToken);
        try
        {
            // Production's seed secrets have no business in a rehearsal; the data steps say they change nothing without them.
            var scratchSettings = settings with { Connection = scratch.Settings.Connection, Target = scratch.Settings.Target, Seeds = new(), Verbose = false };
            var includes = plan.Recorded.Concat(plan.Pending).Where(m => m.OptIn is not null).Select(m => m.Version).ToList();
            if (plan.AuthUsersDdl is not null)
            {
                await using var connection = await Database.ConnectAsync(scratchSettings, console, "scratch database", cancellationToken);
                await using var command = new NpgsqlCommand(plan.AuthUsersDdl, connection);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            var replay = Stopwatch.StartNew();
            if (plan.Recorded.Count > 0)
            {
                // The replay is preparation, not the subject: its log lines would bury the trace's own.
                var quiet = new RunnerConsole(TextWriter.Null, TextWriter.Null, console.Environment);
                await ApplyAsync(scratchSettings, quiet, includes, plan.Recorded, trace: false, cancellationToken);
                console.Info($"trace: scratch database at the target's versions ({Formatting.Versions(plan.Recorded.Select(m => m.Version))}) in {replay.Elapsed.TotalSeconds:0.0} s; " +
                             $"tracing {Formatting.Versions(plan.Pending.Select(m => m.Version))}");
            }

            var runs = await ApplyAsync(scratchSettings, console, includes, plan.Pending, trace: true, cancellationToken);
            return (runs, await scratch.DropAsync());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var dropped = await scratch.DropAsync();
            var what = $"{(dropped ? $"scratch database {scratch.Name} dropped" : $"scratch database {scratch.Name} NOT dropped, drop it by hand")}; the target was not changed";
            throw e switch
            {
                OperationCanceledException when cancellationToken.IsCancellationRequested => new RunnerException(FailureKind.Interrupted, $"trace interrupted; {what}.", e),
                RunnerException { Kind: FailureKind.Interrupted } => new RunnerException(FailureKind.Interrupted, $"trace interrupted; {what}.", e),
                RunnerException runner => new RunnerException(runner.Kind, $"trace failed on the scratch database: {runner.Message} ({what})", e),
                PostgresException pg => new RunnerException(FailureKind.Failed, $"trace failed on the scratch database: {pg.SqlState} {MigrationSession.OneLine(pg.MessageText)} ({what})", e),
                NpgsqlException or TimeoutException => new RunnerException(FailureKind.Unavailable, $"trace lost the scratch database's connection: {Database.Classify(e).Reason} ({what})", e),
                _ => new RunnerException(FailureKind.Failed, $"trace failed: unexpected {e.GetType().Name}: {MigrationSession.OneLine(e.Message)} ({what})", e),
            };
        }
    }

    private static async Task<List<(KnownMigration Migration, MigrationRun Run)>> ApplyAsync(RunSettings scratch, RunnerConsole console, IReadOnlyList<long> includes,
        IReadOnlyList<KnownMigration> migrations, bool trace, CancellationToken cancellationToken)
    {
        await using var session = await MigrationSession.OpenAsync(scratch, console, includes, cancellationToken);
        await session.PrepareAsync("trace");

        var runs = new List<(KnownMigration, MigrationRun)>();
        foreach (var migration in migrations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (trace)
            {
                console.Info($"trace: applying {migration.Label} to the scratch database{(migration.Transactional ? "" : " (online)")}", ("version", migration.Version));
            }

            runs.Add((migration, await session.UpAsync(migration)));
        }

        return runs;
    }

    private sealed record TracePlan(IReadOnlyList<KnownMigration> Recorded, IReadOnlyList<KnownMigration> Pending, string? AuthUsersDdl);
}
