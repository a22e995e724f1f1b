using System.Globalization;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Trace;

/// <summary>
/// One accepted finding: a row of the waiver file (rule, versions, relation, reason), in the style of
/// .ci/squawk-waivers.tsv: versions as <c>*</c>, <c>8</c>, <c>1-6</c> or a comma list of those; relation a
/// <c>schema.name</c> as the catalog prints it, or <c>*</c>.
/// </summary>
public sealed record LockWaiver(string Rule, string Versions, string Relation, string Reason, int Line)
{
    public bool Covers(long version) => Parts.Any(p => p.All || (version >= p.From && version <= p.To));

    public bool Matches(Finding finding) =>
        finding.Rule == Rule && Covers(finding.Version) && (Relation == "*" || string.Equals(Relation, finding.Relation, StringComparison.Ordinal));

    /// <summary>
    /// Whether a trace of <paramref name="traced"/> could have produced every finding this waiver names: only then does
    /// matching nothing make it stale (a waiver of 1-6 says nothing about a trace of 8).
    /// </summary>
    public bool FullyTraced(IReadOnlySet<long> traced) =>
        KnownMigrations.All.Where(m => Covers(m.Version)).All(m => traced.Contains(m.Version));

    private IReadOnlyList<(bool All, long From, long To)> Parts { get; } = ParseVersions(Versions);

    internal static IReadOnlyList<(bool All, long From, long To)> ParseVersions(string text) =>
        [.. text.Split(',', StringSplitOptions.TrimEntries).Select(part =>
        {
            if (part == "*")
            {
                return (true, 0L, 0L);
            }

            var range = part.Split('-', StringSplitOptions.TrimEntries);
            return range.Length switch
            {
                1 when long.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var v) => (false, v, v),
                2 when long.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                       && long.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out var to) && from <= to => (false, from, to),
                _ => throw new FormatException(part),
            };
        })];
}

/// <summary>The waiver file: rule, versions, relation, reason, tab-separated; blank lines and # comments ignored.</summary>
public static class LockWaivers
{
    /// <summary>Where CI keeps them, read when <c>--waivers</c> is not given and the file is in the working directory.</summary>
    public const string DefaultPath = ".ci/lock-waivers.tsv";

    public static IReadOnlyList<LockWaiver> Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new RunnerException(FailureKind.Usage, $"--waivers {path}: no such file.");
        }

        var waivers = new List<LockWaiver>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            var fields = line.Split('\t');
            if (fields.Length != 4 || fields.Any(string.IsNullOrWhiteSpace))
            {
                throw Malformed(path, number, "expected four tab-separated fields: rule, versions, relation, reason");
            }

            var (rule, versions, relation, reason) = (fields[0].Trim(), fields[1].Trim(), fields[2].Trim(), fields[3].Trim());
            if (!LockRules.Names.Contains(rule))
            {
                throw Malformed(path, number, $"unknown rule '{rule}' (rules: {string.Join(", ", LockRules.Names)})");
            }

            try
            {
                _ = LockWaiver.ParseVersions(versions);
            }
            catch (FormatException e)
            {
                throw Malformed(path, number, $"'{e.Message}' is not a version, a range like 1-6 or *");
            }

            waivers.Add(new LockWaiver(rule, versions, relation, reason, number));
        }

        return waivers;
    }

    /// <summary>Each finding with the first waiver that matches it, and the waivers that should have matched something and did not.</summary>
    public static (IReadOnlyList<Finding> Findings, IReadOnlyList<LockWaiver> Unused) Apply(IReadOnlyList<Finding> findings, IReadOnlyList<LockWaiver> waivers, IReadOnlySet<long> traced)
    {
        var judged = findings.Select(f => f with { WaivedBy = waivers.FirstOrDefault(w => w.Matches(f)) }).ToList();
        var unused = waivers.Where(w => w.FullyTraced(traced) && !judged.Any(f => f.WaivedBy == w)).ToList();
        return (judged, unused);
    }

    private static RunnerException Malformed(string path, int line, string reason) =>
        new(FailureKind.Usage, $"{path} line {line}: {reason}.");
}
