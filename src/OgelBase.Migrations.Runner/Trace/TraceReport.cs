using System.Globalization;
using System.Text;
using System.Text.Json;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Trace;

public enum TraceFormat
{
    Text,
    Json,
    Markdown,
}

/// <summary>The target's size of a relation in the report: exists false means "new" (not in the target).</summary>
public sealed record SizeEntry(bool Exists, string? Kind, double? Rows, long? Bytes);

public sealed record LockEntry(string Relation, string Kind, string Mode, bool Created, string Blocks, double? HeldMs, SizeEntry Target);

public sealed record StatementEntry(
    int Transaction, string Label, string LockTimeout, double DurationMs, long? Rows, long WalBytes, int Batches, bool Sampled,
    IReadOnlyList<LockEntry> Locks, IReadOnlyList<string> Rewritten, IReadOnlyList<string> Scanned);

public sealed record FindingEntry(
    string Rule, long Version, int Transaction, string Statement, string Relation, string Mode, double HeldMs, SizeEntry Target,
    string Message, bool Waived, string? WaiverReason);

public sealed record MigrationEntry(
    long Version, string Description, bool Transactional, double ElapsedMs, IReadOnlyList<StatementEntry> Statements,
    IReadOnlyList<FindingEntry> Findings);

public sealed record WaiverEntry(string Rule, string Versions, string Relation, string Reason, int Line);

public sealed record TraceSummary(int Migrations, int Statements, int Findings, int Waived, int NotWaived, int UnusedWaivers);

/// <summary>The trace's result as a stable document: what <c>--format json</c> writes, and what text and markdown are rendered from.</summary>
public sealed record TraceDocument(
    string Target, IReadOnlyList<long> TargetVersions, IReadOnlyList<MigrationEntry> Migrations, IReadOnlyList<WaiverEntry> UnusedWaivers,
    TraceSummary Summary)
{
    // Every field in snake_case, as in the runner's JSON logs.
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static TraceDocument Build(string target, IEnumerable<long> targetVersions, IReadOnlyList<(KnownMigration Migration, MigrationRun Run)> runs,
        IReadOnlyList<Finding> findings, IReadOnlyList<LockWaiver> unused, Func<string, RelationSize> size)
    {
        var migrations = runs.Select(r => new MigrationEntry(
            r.Migration.Version, r.Migration.Description, r.Migration.Transactional, Ms(r.Run.Elapsed),
            [.. r.Run.Statements.Select(s => new StatementEntry(s.Transaction, s.Label, s.LockTimeout, Ms(s.Duration), s.Rows, s.WalBytes, s.Batches, s.Sampled,
                [.. s.Locks.Select(l => new LockEntry(l.Relation, l.Kind, l.Mode, l.Created, l.Blocks, l.Held is { } held ? Ms(held) : null, Size(size(l.Relation))))],
                s.Rewritten, s.Scanned))],
            [.. findings.Where(f => f.Version == r.Migration.Version).Select(f => new FindingEntry(
                f.Rule, f.Version, f.Statement.Transaction, f.Statement.Label, f.Relation, f.Mode, Ms(f.Held), Size(f.Size), f.Message,
                f.WaivedBy is not null, f.WaivedBy?.Reason))])).ToList();
        var waived = findings.Count(f => f.WaivedBy is not null);
        return new TraceDocument(target, [.. targetVersions], migrations,
            [.. unused.Select(w => new WaiverEntry(w.Rule, w.Versions, w.Relation, w.Reason, w.Line))],
            new TraceSummary(migrations.Count, migrations.Sum(m => m.Statements.Count), findings.Count, waived, findings.Count - waived, unused.Count));
    }

    public string Render(TraceFormat format) => format switch
    {
        TraceFormat.Json => JsonSerializer.Serialize(this, JsonOptions),
        TraceFormat.Markdown => Markdown(),
        _ => Text(),
    };

    private string Text()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"lock trace of {Summary.Migrations} migration{S(Summary.Migrations)} for {Target} (at {Versions(TargetVersions)}); sizes are the target's");
        foreach (var migration in Migrations)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"{migration.Version:000} {migration.Description} ({(migration.Transactional ? "one transaction" : "online")}): {migration.Statements.Count} statements, {Duration(migration.ElapsedMs)}");
            foreach (var statement in migration.Statements)
            {
                var shown = Shown(statement);
                var locks = shown.Count == 0
                    ? "no lock stronger than the app's own"
                    : string.Join(", ", shown.Select(l => $"{l.Mode} on {l.Relation} [{Describe(l.Target)}]{(l.Blocks == "nothing" ? "" : $" blocks {l.Blocks}")}{(l.HeldMs is { } held ? $" held {Duration(held)}" : "")}"));
                var extra = (statement.Rewritten.Count > 0 ? $"; rewrote {string.Join(", ", statement.Rewritten)}" : "") + (statement.Scanned.Count > 0 ? $"; scanned {string.Join(", ", statement.Scanned)}" : "");
                text.AppendLine(CultureInfo.InvariantCulture, $"  [{statement.Transaction}] {statement.Label}: {locks}{extra}; lock_timeout {statement.LockTimeout}; {statement.WalBytes} bytes of WAL, {Duration(statement.DurationMs)}");
            }
        }

        text.AppendLine();
        var findings = Migrations.SelectMany(m => m.Findings).ToList();
        text.AppendLine(findings.Count == 0 ? "findings: none" : "findings:");
        foreach (var f in findings)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {(f.Waived ? "waived" : "FINDING")} {f.Rule}: {f.Version:000} {f.Statement}: {f.Mode} on {f.Relation} [{Describe(f.Target)}] held {Duration(f.HeldMs)}: {f.Message}{(f.Waived ? $" (waived: {f.WaiverReason})" : "")}");
        }

        foreach (var w in UnusedWaivers)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  FINDING waiver matches nothing: line {w.Line}: {w.Rule} {w.Versions} {w.Relation} ({w.Reason})");
        }

        return text.ToString().TrimEnd();
    }

    private string Markdown()
    {
        var md = new StringBuilder();
        var notWaived = Summary.NotWaived + Summary.UnusedWaivers;
        md.AppendLine(CultureInfo.InvariantCulture, $"### Lock trace: {Summary.Migrations} migration{S(Summary.Migrations)}, {Summary.Statements} statements, " +
                                                    $"{Summary.Findings} finding{S(Summary.Findings)} ({Summary.Waived} waived){(notWaived > 0 ? $", **{notWaived} not waived**" : "")}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Rehearsed on an empty scratch copy of `{Target}` (at {Versions(TargetVersions)}); \"target\" is that table's size in the target (rows estimate, total size), so hold times here are for empty tables.");
        foreach (var migration in Migrations)
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"#### {migration.Version:000} {Cell(migration.Description)} ({(migration.Transactional ? "one transaction" : "online")}, {migration.Statements.Count} statements, {Duration(migration.ElapsedMs)})");
            md.AppendLine();
            md.AppendLine("| tx | statement | lock | relation | target | blocks | held | rewrite / scan | WAL | time |");
            md.AppendLine("|---:|---|---|---|---|---|---:|---|---:|---:|");
            var quiet = 0;
            foreach (var statement in migration.Statements)
            {
                var shown = Shown(statement);
                if (shown.Count == 0 && statement.Rewritten.Count == 0 && statement.Scanned.Count == 0)
                {
                    quiet++;
                    continue;
                }

                var touched = statement.Rewritten.Select(r => $"rewrote {r}").Concat(statement.Scanned.Select(s => $"scanned {s}"));
                var rows = shown.Count == 0 ? [null] : shown.Cast<LockEntry?>().ToList();
                for (var i = 0; i < rows.Count; i++)
                {
                    var l = rows[i];
                    var first = i == 0;
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {(first ? statement.Transaction.ToString(CultureInfo.InvariantCulture) : "")} | {(first ? $"`{Cell(statement.Label)}`" : "")} | {l?.Mode ?? "—"} | {l?.Relation ?? ""} | {(l is null ? "" : Describe(l.Target))} " +
                        $"| {(l is null || l.Blocks == "nothing" ? "—" : $"**{l.Blocks}**")} | {(l?.HeldMs is { } held ? Duration(held) : l is null ? "" : "sampled")} " +
                        $"| {(first ? Cell(string.Join(", ", touched)) : "")} | {(first ? RelationSize.Size(statement.WalBytes) : "")} | {(first ? Duration(statement.DurationMs) : "")} |");
                }
            }

            if (quiet > 0)
            {
                md.AppendLine();
                md.AppendLine(CultureInfo.InvariantCulture, $"{quiet} more statement{S(quiet)} took no lock stronger than the app's own reads and writes take.");
            }

            if (migration.Findings.Count > 0)
            {
                md.AppendLine();
                foreach (var f in migration.Findings.Where(f => !f.Waived))
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"- **finding** `{f.Rule}`: `{Cell(f.Statement)}`: {f.Mode} on {f.Relation} ({Describe(f.Target)}) held {Duration(f.HeldMs)}. {Cell(f.Message)}");
                }

                // A reviewer reads a waiver once, not once per table it covers.
                foreach (var group in migration.Findings.Where(f => f.Waived).GroupBy(f => (f.Rule, f.WaiverReason)))
                {
                    var relations = group.Select(f => f.Relation).Distinct().ToList();
                    md.AppendLine(CultureInfo.InvariantCulture, $"- waived `{group.Key.Rule}` ×{group.Count()} ({string.Join(", ", relations.Take(6))}{(relations.Count > 6 ? $" and {relations.Count - 6} more" : "")}; " +
                                                                $"longest held {Duration(group.Max(f => f.HeldMs))}): _{Cell(group.Key.WaiverReason ?? "")}_");
                }
            }
        }

        if (UnusedWaivers.Count > 0)
        {
            md.AppendLine();
            foreach (var w in UnusedWaivers)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- **waiver matches nothing**: line {w.Line} (`{w.Rule}`, {w.Versions}, {w.Relation}): {Cell(w.Reason)}");
            }
        }

        return md.ToString().TrimEnd();
    }

    /// <summary>
    /// What a person reading the report needs of a statement's locks: per table or view the strongest mode, when it is
    /// stronger than what the app's own statements take, or when that table was scanned or rewritten. Index and sequence
    /// locks, and ACCESS SHARE / ROW EXCLUSIVE locks of ordinary reads and writes, stay in the json document only.
    /// </summary>
    private static List<LockEntry> Shown(StatementEntry statement) =>
        [.. statement.Locks
            .Where(l => l.Kind is not ("i" or "I" or "S"))
            .GroupBy(l => l.Relation)
            .Select(g => g.MaxBy(l => LockRules.Strength(l.Mode))!)
            .Where(l => LockRules.Strength(l.Mode) >= LockRules.Strength("ShareUpdateExclusiveLock") || statement.Scanned.Contains(l.Relation) || statement.Rewritten.Contains(l.Relation))];

    private static SizeEntry Size(RelationSize size) => size.Exists ? new SizeEntry(true, size.Kind, size.Rows, size.Bytes) : new SizeEntry(false, null, null, null);

    private static string Describe(SizeEntry size) => new RelationSize(size.Exists, size.Rows, size.Bytes ?? 0, 0, size.Kind ?? "r").ToString();

    private static double Ms(TimeSpan span) => Math.Round(span.TotalMilliseconds, 1);

    private static string Duration(double ms) => ms < 10 ? string.Create(CultureInfo.InvariantCulture, $"{ms:0.0} ms") : Progress.Duration(TimeSpan.FromMilliseconds(ms));

    private static string Versions(IReadOnlyList<long> versions) => versions.Count == 0 ? "no version" : string.Join(", ", versions.Select(v => v.ToString("000", CultureInfo.InvariantCulture)));

    private static string S(int count) => count == 1 ? "" : "s";

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("`", "'", StringComparison.Ordinal).ReplaceLineEndings(" ");
}
