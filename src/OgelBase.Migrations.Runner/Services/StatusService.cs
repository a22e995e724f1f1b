using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

public sealed record StatusOptions(bool Json);

public static class MigrationStates
{
    public const string Applied = "applied";
    public const string ChangedSinceApplied = "changed_since_applied";
    public const string Pending = "pending";
    public const string HeldBack = "held_back";
    public const string UnknownToBuild = "unknown_to_build";
}

public sealed record StatusEntry(
    [property: JsonPropertyName("version")] long Version,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("applied_on")] DateTime? AppliedOn,
    [property: JsonPropertyName("baselined")] bool Baselined,
    [property: JsonPropertyName("opt_in")] bool OptIn,
    [property: JsonPropertyName("reason")] string? Reason);

public sealed record StatusDocument(
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("current_version")] long CurrentVersion,
    [property: JsonPropertyName("migrations")] IReadOnlyList<StatusEntry> Migrations);

/// <summary>
/// Every migration this build knows and every version the database records. Read-only, without the migration
/// lock, so it works while another run migrates; it never creates the version table.
/// </summary>
public sealed class StatusService(RunSettings settings, RunnerConsole console)
{
    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public async Task<int> RunAsync(StatusOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await Database.ConnectAsync(settings, console, "status", cancellationToken);
        var applied = await VersionStore.ReadAsync(connection, cancellationToken);
        var document = Build(settings.Target, applied);

        if (options.Json)
        {
            console.Result(JsonSerializer.Serialize(document, JsonOptions));
        }
        else
        {
            console.Result($"{"version",-8}{"state",-24}{"applied on (UTC)",-22}description");
            foreach (var entry in document.Migrations)
            {
                var state = entry.State + (entry.Baselined ? " (baselined)" : "");
                console.Result($"{entry.Version,-8:000}{state,-24}{entry.AppliedOn?.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) ?? "-",-22}{entry.Description}{(entry.Reason is null ? "" : $" — {entry.Reason}")}");
            }
        }

        var counts = document.Migrations.GroupBy(m => m.State).ToDictionary(g => g.Key, g => g.Count());
        int Count(string state) => counts.TryGetValue(state, out var n) ? n : 0;
        var changedNote = Count(MigrationStates.ChangedSinceApplied) == 0 ? "" : $", {Count(MigrationStates.ChangedSinceApplied)} changed since applied";
        console.Info($"status: {settings.Target} at version {document.CurrentVersion:000}; {Count(MigrationStates.Applied)} applied{changedNote}, {Count(MigrationStates.Pending)} pending, " +
                     $"{Count(MigrationStates.HeldBack)} held back (opt-in), {Count(MigrationStates.UnknownToBuild)} unknown to this build ({clock.Elapsed.TotalSeconds:0.0} s)");
        return ExitCodes.Success;
    }

    public static StatusDocument Build(string target, IReadOnlyList<AppliedVersion> applied)
    {
        var recorded = applied.ToDictionary(a => a.Version);
        var entries = new List<StatusEntry>();
        foreach (var migration in KnownMigrations.All)
        {
            if (recorded.TryGetValue(migration.Version, out var a))
            {
                var changed = a.Checksum is not null && !Checksums.Matches(migration.Version, a.Checksum);
                var earlier = a.Checksum is null ? null : Checksums.Supersedes(migration.Version, a.Checksum);
                entries.Add(new StatusEntry(migration.Version, migration.Description, changed ? MigrationStates.ChangedSinceApplied : MigrationStates.Applied,
                    a.AppliedOn, a.Baselined, migration.OptIn is not null,
                    changed ? "what this build executes for it differs from what was recorded when it was applied; migrate up and rollback refuse until --allow-changed"
                    : earlier is not null ? $"recorded by its earlier shape, which this build supersedes ({earlier}); the next migrate up or rollback records the new checksum"
                    : null));
            }
            else if (migration.OptIn is { } optIn)
            {
                entries.Add(new StatusEntry(migration.Version, migration.Description, MigrationStates.HeldBack, null, false, true,
                    $"opt-in: {optIn.Reason} Apply with 'migrate up --include {migration.Version}'."));
            }
            else
            {
                entries.Add(new StatusEntry(migration.Version, migration.Description, MigrationStates.Pending, null, false, false, null));
            }
        }

        foreach (var a in applied.Where(a => KnownMigrations.Find(a.Version) is null))
        {
            entries.Add(new StatusEntry(a.Version, a.Description, MigrationStates.UnknownToBuild, a.AppliedOn, a.Baselined, false,
                "recorded in the database, but this build has no such migration"));
        }

        return new StatusDocument(target, applied.Count == 0 ? 0 : applied.Max(a => a.Version), entries.OrderBy(e => e.Version).ToList());
    }
}
