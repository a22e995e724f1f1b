using System.Diagnostics;
using System.Reflection;
using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

public sealed record BaselineOptions(bool DryRun, IReadOnlyList<long>? Versions);

public enum Presence
{
    Present,
    Absent,
    Partial,

    /// <summary>The hand-applied original of a version whose Up replaces it (<see cref="ReplacesHandAppliedAttribute"/>): reported, never recorded.</summary>
    Original,
}

public sealed record ProbeResult(KnownMigration Migration, bool ProbeSaysPresent, Presence Presence, IReadOnlyList<string> Missing);

/// <summary>
/// Adopts a database that was migrated by hand: probes each version, records the ones that are there as applied
/// (marked as baselined), leaves the rest pending. Peers offer "baseline to version N"; production has a gap at 7,
/// so this records a set, not a prefix. A partly present version stops it: nothing is recorded.
/// </summary>
public sealed class BaselineService(RunSettings settings, RunnerConsole console)
{
    public async Task<int> RunAsync(BaselineOptions options, CancellationToken cancellationToken)
    {
        var explicitVersions = options.Versions;
        foreach (var version in explicitVersions ?? [])
        {
            if (KnownMigrations.Find(version) is null)
            {
                throw new RunnerException(FailureKind.Usage, $"--versions: {version} is not a version this build knows ({Formatting.Versions(KnownMigrations.All.Select(m => m.Version))}).");
            }

            if (KnownMigrations.Find(version)!.ReplacesHandApplied is { } replaces)
            {
                throw new RunnerException(FailureKind.Usage, $"--versions: {version:000} is never baselined: {replaces.Advice}.");
            }
        }

        var clock = Stopwatch.StartNew();
        console.Info($"baseline{(options.DryRun ? " --dry-run" : "")}: target {settings.Target}");

        if (options.DryRun)
        {
            await using var connection = await Database.ConnectAsync(settings, console, "baseline dry run", cancellationToken);
            await RefuseIfRecordedAsync(await VersionStore.ReadAsync(connection, cancellationToken));
            var results = await ProbeAsync(connection, cancellationToken);
            Print(results);
            var toRecord = Decide(results, explicitVersions);
            console.Info($"baseline --dry-run: would record {Formatting.Versions(toRecord)} as applied; nothing was changed ({clock.Elapsed.TotalSeconds:0.0} s)");
            return ExitCodes.Success;
        }

        await using var session = await MigrationSession.OpenAsync(settings, console, [], cancellationToken);
        await RefuseIfRecordedAsync(session.Applied);
        var probed = await ProbeAsync(session.Connection, cancellationToken);
        Print(probed);
        var versions = Decide(probed, explicitVersions);

        // Only now, refusals behind, the version table is created; all rows go in one transaction.
        await session.PrepareAsync("baseline");
        await using (var transaction = await session.Connection.BeginTransactionAsync(cancellationToken))
        {
            foreach (var version in versions)
            {
                await using var insert = new NpgsqlCommand(
                    $"INSERT INTO {VersionStore.QualifiedTable} (version, applied_on, description, checksum) VALUES (@v, now() AT TIME ZONE 'utc', @d, @c)",
                    session.Connection, transaction);
                insert.Parameters.AddWithValue("v", version);
                insert.Parameters.AddWithValue("c", Checksums.Of(version));
                insert.Parameters.AddWithValue("d", AppliedVersion.BaselineMarker + KnownMigrations.Find(version)!.Description);
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        var pending = KnownMigrations.All.Where(m => !versions.Contains(m.Version)).ToList();
        console.Info($"baseline: recorded {versions.Count} version{(versions.Count == 1 ? "" : "s")} as applied ({Formatting.Versions(versions)}); " +
                     $"left pending: {(pending.Count == 0 ? "none" : string.Join(", ", pending.Select(m => $"{m.Version:000}{(m.OptIn is null ? "" : " (opt-in)")}")))} ({clock.Elapsed.TotalSeconds:0.0} s)");
        return ExitCodes.Success;
    }

    private static Task RefuseIfRecordedAsync(IReadOnlyList<AppliedVersion> applied)
    {
        if (applied.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"baseline refused: {applied.Count} versions are already recorded ({Formatting.Versions(applied.Select(a => a.Version))}); baseline only adopts a database this tool has never recorded. Nothing was changed.");
        }

        return Task.CompletedTask;
    }

    private List<long> Decide(IReadOnlyList<ProbeResult> results, IReadOnlyList<long>? explicitVersions)
    {
        if (explicitVersions is not null)
        {
            console.Info($"recording the explicit list {Formatting.Versions(explicitVersions)} (--versions), whatever the probes say");
            return explicitVersions.Order().Distinct().ToList();
        }

        var partial = results.Where(r => r.Presence == Presence.Partial).ToList();
        if (partial.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                "baseline refused: " + string.Join("; ", partial.Select(p => $"version {p.Migration.Label} is partly present, missing {string.Join(", ", p.Missing.Take(8))}{(p.Missing.Count > 8 ? $" (+{p.Missing.Count - 8} more)" : "")}")) +
                ". Nothing was recorded: complete or remove those objects by hand, or record an explicit list with --versions.");
        }

        return results.Where(r => r.Presence == Presence.Present).Select(r => r.Migration.Version).ToList();
    }

    private void Print(IReadOnlyList<ProbeResult> results)
    {
        console.Result($"{"version",-8}{"found",-10}evidence");
        foreach (var r in results)
        {
            var found = r.Presence switch { Presence.Present => "present", Presence.Absent => "absent", Presence.Original => "original", _ => "PARTIAL" };
            var detail = r.Presence switch
            {
                Presence.Partial => $"; missing: {string.Join(", ", r.Missing)}",
                Presence.Original => $"; not recorded: {r.Migration.ReplacesHandApplied!.Advice}",
                _ => "",
            };
            console.Result($"{r.Migration.Version,-8:000}{found,-10}{PresenceProbes.Evidence(r.Migration)} {(r.ProbeSaysPresent ? "exists" : "does not exist")}{detail}");
        }
    }

    public static async Task<IReadOnlyList<ProbeResult>> ProbeAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var live = await CatalogInventory.ReadAsync(connection, cancellationToken: cancellationToken);
        var probes = new Dictionary<long, bool>();
        foreach (var migration in KnownMigrations.All)
        {
            probes[migration.Version] = await PresenceProbes.RunAsync(migration, connection, cancellationToken);
        }

        var probedPresent = probes.Where(p => p.Value).Select(p => p.Key).ToList();
        var results = new List<ProbeResult>();
        foreach (var migration in KnownMigrations.All)
        {
            var version = migration.Version;
            var assumed = probedPresent.Append(version).Distinct().ToList();
            var expected = (Postconditions.Expected(assumed).GetValueOrDefault(version) ?? []).Where(o => Postconditions.Creates(version, o)).ToList();
            var missing = Postconditions.Check(assumed, live, only: [version], byName: true).Select(d => d.Problem).ToList();
            Presence presence;
            if (migration.ReplacesHandApplied is not null)
            {
                // What a probe finds here is the defective original, not this version's objects.
                results.Add(new ProbeResult(migration, probes[version], probes[version] ? Presence.Original : Presence.Absent, []));
                continue;
            }

            if (probes[version])
            {
                presence = missing.Count == 0 ? Presence.Present : Presence.Partial;
            }
            else
            {
                // Absent unless some of the objects this version creates are there anyway: a half-applied hand run.
                presence = expected.Count > 0 && missing.Count < expected.Count ? Presence.Partial : Presence.Absent;
                if (presence == Presence.Partial)
                {
                    missing.Insert(0, $"its probe evidence ({PresenceProbes.Evidence(migration)})");
                }
            }

            results.Add(new ProbeResult(migration, probes[version], presence, missing));
        }

        return results;
    }
}
