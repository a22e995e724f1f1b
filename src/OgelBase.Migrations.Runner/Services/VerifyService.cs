using System.Diagnostics;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

/// <summary>Checks every applied version's manifest against the live catalog and reports drift per version.</summary>
public sealed class VerifyService(RunSettings settings, RunnerConsole console)
{
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await Database.ConnectAsync(settings, console, "verify", cancellationToken);
        var rows = await VersionStore.ReadAsync(connection, cancellationToken);
        var applied = rows.Select(a => a.Version).ToList();
        if (applied.Count == 0)
        {
            console.Info($"verify: no version is recorded on {settings.Target}; nothing to verify ({clock.Elapsed.TotalSeconds:0.0} s)");
            return ExitCodes.Success;
        }

        var live = await CatalogInventory.ReadAsync(connection, cancellationToken: cancellationToken);
        // A baselined version's objects were built by hand: checked by name and validity, not by definition.
        var baselined = rows.Where(a => a.Baselined).Select(a => a.Version).ToList();
        var drifts = Postconditions.Check(applied, live, only: applied.Except(baselined))
            .Concat(Postconditions.Check(applied, live, only: baselined, byName: true)).ToList();
        var expected = Postconditions.Expected(applied);
        foreach (var version in applied)
        {
            var mine = drifts.Where(d => d.Version == version).ToList();
            var label = KnownMigrations.Find(version)?.Label ?? $"{version:000} (unknown to this build: not checked)";
            var count = expected.TryGetValue(version, out var objects) ? objects.Count : 0;
            console.Result(mine.Count == 0
                ? $"{label}: ok ({count} objects)"
                : $"{label}: DRIFT ({mine.Count} of {count} objects)");
            foreach (var drift in mine)
            {
                console.Result($"  {drift.Problem}");
            }
        }

        var drifted = drifts.Select(d => d.Version).Distinct().ToList();
        if (drifted.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"verify: drift in version {Formatting.Versions(drifted)} ({drifts.Count} problems, listed above) on {settings.Target}");
        }

        console.Info($"verify: {applied.Count} applied versions checked on {settings.Target}, no drift ({clock.Elapsed.TotalSeconds:0.0} s)");
        return ExitCodes.Success;
    }
}
