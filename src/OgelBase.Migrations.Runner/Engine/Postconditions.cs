namespace OgelBase.Migrations.Runner.Engine;

/// <summary>What one migration's Up leaves in schema platform: objects it creates, and objects of earlier versions it removes.</summary>
public sealed record VersionPostconditions(long Version, IReadOnlyList<ConditionalObject> Creates, IReadOnlyList<ConditionalObject> Removes);

public sealed record Drift(long Version, string Problem);

/// <summary>
/// Post-conditions per version, read from each migration's own <c>Migrations/M0NN/postconditions.txt</c> (embedded in the
/// migrations assembly). Those files are generated from a real
/// build of each version (catalog after minus catalog before) by a test that also fails whenever they fall out of
/// date, so they cannot drift from the migrations themselves. Lines are <c>+kind\tidentity\tfacts[\tcondition]</c>
/// or <c>-…</c>; the optional condition is <c>with:V</c> or <c>without:V</c> for an opt-in version V.
/// </summary>
public static class Postconditions
{
    private const string ResourceSuffix = "/postconditions.txt";

    private static readonly Lazy<Dictionary<long, VersionPostconditions>> Manifests = new(Load);

    public static VersionPostconditions? For(long version) => Manifests.Value.GetValueOrDefault(version);

    /// <summary>The manifest's path under the migrations project, e.g. <c>Migrations/M008/postconditions.txt</c>.</summary>
    public static string RelativePath(long version) => $"Migrations/M{version:000}{ResourceSuffix}";

    /// <summary>The objects each applied version should have left, after later applied versions removed theirs.</summary>
    public static Dictionary<long, List<CatalogObject>> Expected(IEnumerable<long> appliedVersions)
    {
        var ordered = appliedVersions.Order().ToList();
        var appliedSet = ordered.ToHashSet();
        var expected = new Dictionary<long, List<CatalogObject>>();
        foreach (var version in ordered)
        {
            var manifest = For(version);
            if (manifest is null)
            {
                continue;
            }

            var removedLater = ordered.Where(v => v > version)
                .SelectMany(v => For(v)?.Removes ?? [])
                .Where(o => o.Holds(appliedSet))
                .Select(o => (o.Item.Kind, o.Item.Identity))
                .ToHashSet();
            expected[version] = manifest.Creates
                .Where(o => o.Holds(appliedSet) && !removedLater.Contains((o.Item.Kind, o.Item.Identity)))
                .Select(o => o.Item)
                .ToList();
        }

        return expected;
    }

    /// <summary>
    /// Compares what the applied versions should have left with the live catalog: each object's definition, or with
    /// <paramref name="byName"/> only that it exists and is valid (objects built by hand, whose definitions may differ).
    /// </summary>
    public static List<Drift> Check(IEnumerable<long> appliedVersions, IReadOnlySet<CatalogObject> live, IEnumerable<long>? only = null, bool byName = false)
    {
        var byIdentity = live.GroupBy(o => (o.Kind, o.Identity)).ToDictionary(g => g.Key, g => g.First());
        var filter = only?.ToHashSet();
        var drifts = new List<Drift>();
        foreach (var (version, objects) in Expected(appliedVersions))
        {
            if (filter is not null && !filter.Contains(version))
            {
                continue;
            }

            foreach (var expected in byName ? objects.Where(o => Creates(version, o)) : objects)
            {
                if (!byIdentity.TryGetValue((expected.Kind, expected.Identity), out var found))
                {
                    drifts.Add(new Drift(version, $"missing {expected}"));
                }
                else if (found.Invalid && !expected.Invalid)
                {
                    drifts.Add(new Drift(version, $"invalid {found}"));
                }
                else if (!byName && found.Facts != expected.Facts)
                {
                    drifts.Add(new Drift(version, $"changed {expected.Kind} {expected.Identity}: expected {Show(expected.Facts)}, found {Show(found.Facts)}"));
                }
            }
        }

        return drifts;
    }

    /// <summary>Whether the version created the object, rather than changing the definition of one an earlier version created.</summary>
    public static bool Creates(long version, CatalogObject item) =>
        For(version)?.Removes.Any(r => r.Item.Kind == item.Kind && r.Item.Identity == item.Identity) != true;

    private static string Show(string facts) => facts.Length == 0 ? "(none)" : facts;

    // The migrations project embeds them as "postconditions/M0NN/postconditions.txt".
    private static string PostconditionsResource(long version) => $"postconditions/M{version:000}{ResourceSuffix}";

    private static Dictionary<long, VersionPostconditions> Load()
    {
        var assembly = KnownMigrations.Assembly;
        var manifests = new Dictionary<long, VersionPostconditions>();
        foreach (var migration in KnownMigrations.All)
        {
            var name = PostconditionsResource(migration.Version);
            if (assembly.GetManifestResourceInfo(name) is null)
            {
                continue;
            }

            var version = migration.Version;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            var creates = new List<ConditionalObject>();
            var removes = new List<ConditionalObject>();
            while (reader.ReadLine() is { } line)
            {
                if (line.Length < 2 || line[0] == '#')
                {
                    continue;
                }

                (line[0] == '-' ? removes : creates).Add(ConditionalObject.Parse(line[1..]));
            }

            manifests[version] = new VersionPostconditions(version, creates, removes);
        }

        return manifests;
    }
}
