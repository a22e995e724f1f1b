using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// The check between a migration's last statement and its version row: the catalog must hold what the migration's
/// manifest says it leaves, definitions included. Run by the processor on the migration's own connection, inside
/// the migration's transaction when it has one, so a migration that did something else is rolled back whole (or,
/// online, stays unrecorded) and the failure names each difference.
/// </summary>
/// <param name="Enabled">Off only for <c>migrate up --no-manifest-check</c>, which generating a manifest needs.</param>
public sealed class ManifestCheck(bool enabled)
{
    public bool Enabled { get; } = enabled;

    public void BeforeRecording(long version, NpgsqlConnection connection)
    {
        if (!Enabled)
        {
            return;
        }

        if (Postconditions.For(version) is null)
        {
            throw new InvalidOperationException($"{Label(version)} has no manifest ({Postconditions.RelativePath(version)}); it is not recorded. Generate it with scripts/manifests.");
        }

        var applied = VersionStore.ReadAsync(connection).GetAwaiter().GetResult().Select(a => a.Version).Append(version).ToHashSet();
        var live = CatalogInventory.ReadAsync(connection).GetAwaiter().GetResult();
        var drifts = Postconditions.Check(applied, live, only: [version]);
        if (drifts.Count > 0)
        {
            throw new InvalidOperationException(
                $"the catalog does not match {Label(version)}'s manifest, so it is not recorded: {string.Join("; ", drifts.Take(5).Select(d => d.Problem))}" +
                $"{(drifts.Count > 5 ? $" (+{drifts.Count - 5} more)" : "")}");
        }
    }

    /// <summary>Refuses, before anything runs, a migration that could not be checked.</summary>
    public void RequireManifests(IEnumerable<KnownMigration> pending)
    {
        var missing = Enabled ? pending.Where(m => Postconditions.For(m.Version) is null).ToList() : [];
        if (missing.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"migrate up refused: {string.Join(", ", missing.Select(m => m.Label))} {(missing.Count == 1 ? "has" : "have")} no manifest " +
                $"({string.Join(", ", missing.Select(m => Postconditions.RelativePath(m.Version)))}), so what {(missing.Count == 1 ? "it leaves" : "they leave")} could not be checked before recording. " +
                "Generate it with scripts/manifests (docs/adding-a-migration.md). Nothing was changed.");
        }
    }

    private static string Label(long version) => KnownMigrations.Find(version)?.Label ?? $"{version:000}";
}
