using System.Globalization;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Trace;

/// <summary>
/// The target's size of one relation, read by name from its catalog. A rehearsal runs on an empty scratch database,
/// so what a lock costs in production is judged by this, not by how long it took there.
/// </summary>
/// <param name="Exists">False: the relation is not in the target ("new"), so nobody there can be waiting on it.</param>
/// <param name="Rows">pg_class.reltuples; null when the table was never vacuumed or analyzed (PostgreSQL's -1).</param>
/// <param name="Bytes">pg_total_relation_size: table, indexes and TOAST.</param>
/// <param name="HeapBytes">pg_relation_size of the main fork: whether a never-analyzed table holds anything.</param>
/// <param name="Kind">pg_class.relkind: a view (v) holds no rows of its own, and says so instead of a size.</param>
public sealed record RelationSize(bool Exists, double? Rows, long Bytes, long HeapBytes, string Kind = "r")
{
    public static readonly RelationSize New = new(false, null, 0, 0);

    /// <summary>Rows by the estimate, or, never analyzed, any page at all: an unknown count is not taken for empty.</summary>
    public bool HasRows => Exists && (Rows > 0 || (Rows is null && HeapBytes > 0));

    /// <summary>"~100,000 rows, 12.3 MB", "rows unknown (never analyzed), 8.0 kB", or "new".</summary>
    public override string ToString() =>
        !Exists ? "new" : Kind == "v" ? "view" : $"{(Rows is { } rows ? $"~{rows.ToString("N0", CultureInfo.InvariantCulture)} rows" : "rows unknown (never analyzed)")}, {Size(Bytes)}";

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} kB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024:0.0} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0 / 1024 / 1024:0.0} GB"),
    };
}

/// <summary>One thing a rule found: which migration, which statement, which relation, which lock, for how long, on how much.</summary>
public sealed record Finding(string Rule, StatementTrace Statement, string Relation, string Mode, TimeSpan Held, RelationSize Size, string Message)
{
    public long Version => Statement.Version;

    /// <summary>The waiver that accepts it, if any (<see cref="LockWaivers"/>).</summary>
    public LockWaiver? WaivedBy { get; init; }

    public string Describe() =>
        $"{Rule}: {Version:000} {Statement.Label}: {Mode} on {Relation} ({Size}) held {Progress.Duration(Held)}: {Message}";
}

/// <summary>The rules of docs/lock-rules.md, in its order.</summary>
public enum LockRule
{
    ScanUnderBlockingLock,
    LockHeldThroughLaterStatements,
    LockWithoutTimeout,
    BlockingIndexBuild,
    TableRewrite,
}

/// <summary>
/// The rules of docs/lock-rules.md, each a small function of the lock record and the target's sizes. They read only
/// what <see cref="LockTracer"/> recorded, so a statement written any way at all (fluent expression, Execute.Sql,
/// code step) is judged by what it did, not by how its text looks.
/// </summary>
public static class LockRules
{
    /// <summary>Every rule's name ("blocking-index-build"), in the order docs/lock-rules.md explains them.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Enum.GetValues<LockRule>().Select(Name)];

    /// <summary>A rule's name as waivers and reports spell it: its words in lower case, joined by dashes.</summary>
    public static string Name(LockRule rule) => string.Concat(rule.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? $"-{char.ToLowerInvariant(c)}" : $"{char.ToLowerInvariant(c)}"));

    /// <summary>
    /// Every finding of every rule over <paramref name="statements"/> (one run's record, in order).
    /// <paramref name="size"/> answers for any relation name; a relation the target does not have is <see cref="RelationSize.New"/>.
    /// </summary>
    public static IReadOnlyList<Finding> Evaluate(IReadOnlyList<StatementTrace> statements, Func<string, RelationSize> size)
    {
        var transactions = statements.GroupBy(s => (s.Version, s.Transaction)).Select(g => g.ToList()).ToList();
        var specific = transactions.SelectMany(t => IndexBuilds(t, size).Concat(Rewrites(t, size))).ToList();

        // A rewrite or an index build also scans under its lock; the scan rule would only repeat, less precisely, what
        // the more specific rule already says about that statement and table.
        var scans = transactions.SelectMany(t => Scans(t, size))
            .Where(f => !specific.Any(s => ReferenceEquals(s.Statement, f.Statement) && s.Relation == f.Relation));

        return [.. scans
            .Concat(transactions.SelectMany(t => HeldThrough(t, size)))
            .Concat(transactions.SelectMany(t => WithoutTimeout(t, size)))
            .Concat(specific)
            .OrderBy(f => statements.IndexOf(f.Statement)).ThenBy(f => Names.IndexOf(f.Rule)).ThenBy(f => f.Relation, StringComparer.Ordinal)];
    }

    /// <summary>(a) A lock that blocks the app, held (taken by this statement or earlier in its transaction) while this statement reads or rewrites that table in full.</summary>
    private static IEnumerable<Finding> Scans(List<StatementTrace> transaction, Func<string, RelationSize> size)
    {
        var held = new List<(TracedLock Lock, StatementTrace By)>();
        foreach (var statement in transaction)
        {
            held.AddRange(statement.Blocking.Select(l => (l, statement)));
            foreach (var relation in statement.Scanned.Concat(statement.Rewritten).Distinct())
            {
                if (Strongest(held.Where(h => h.Lock.Relation == relation)) is not { } found || !IsTable(found.Lock.Kind) || size(relation) is not { HasRows: true } target)
                {
                    continue;
                }

                var what = statement.Rewritten.Contains(relation) ? "rewrites" : "reads every row of";
                yield return new Finding(Name(LockRule.ScanUnderBlockingLock), statement, relation, found.Lock.Mode, HeldTime(found.Lock, found.By), target,
                    $"{what} the table while holding a lock that blocks the app's {found.Lock.Blocks}; add constraints NOT VALID and VALIDATE them separately, " +
                    "SET NOT NULL only after a validated CHECK (col IS NOT NULL)");
            }
        }
    }

    /// <summary>(b) A lock that blocks the app, taken before other statements of the same transaction: it is held until they are done too.</summary>
    private static IEnumerable<Finding> HeldThrough(List<StatementTrace> transaction, Func<string, RelationSize> size)
    {
        for (var i = 0; i < transaction.Count; i++)
        {
            var later = transaction.Skip(i + 1).Where(s => !Bookkeeping(s)).ToList();
            if (later.Count == 0)
            {
                continue;
            }

            foreach (var held in transaction[i].Blocking.Where(l => size(l.Relation).Exists))
            {
                var names = string.Join("; ", later.Take(3).Select(s => s.Label)) + (later.Count > 3 ? $"; and {later.Count - 3} more" : "");
                yield return new Finding(Name(LockRule.LockHeldThroughLaterStatements), transaction[i], held.Relation, held.Mode, HeldTime(held, transaction[i]), size(held.Relation),
                    $"held through {later.Count} later statement{(later.Count == 1 ? "" : "s")} of its transaction ({names}); give the statement a transaction of its own");
            }
        }
    }

    /// <summary>(c) A lock that blocks the app, requested with lock_timeout 0: behind one long transaction it waits, and the app's queries queue behind it, for ever.</summary>
    private static IEnumerable<Finding> WithoutTimeout(List<StatementTrace> transaction, Func<string, RelationSize> size) =>
        transaction.Where(s => s.LockTimeout is "0" or "0ms" or "0s")
            .SelectMany(s => s.Blocking.Where(l => size(l.Relation).Exists).Select(l => new Finding(Name(LockRule.LockWithoutTimeout), s, l.Relation, l.Mode, HeldTime(l, s), size(l.Relation),
                $"requested with no lock_timeout: while it waits behind any open transaction, every query of the app on {l.Relation} waits behind it; set lock_timeout and retry")));

    /// <summary>
    /// (d) An index built without CONCURRENTLY on a table that holds rows: the build reads the table under a SHARE lock
    /// (taken by this statement, or by an earlier build in the same transaction, which keeps it).
    /// </summary>
    private static IEnumerable<Finding> IndexBuilds(List<StatementTrace> transaction, Func<string, RelationSize> size)
    {
        var held = new List<(TracedLock Lock, StatementTrace By)>();
        foreach (var statement in transaction)
        {
            held.AddRange(statement.Locks.Where(l => l.Mode == "ShareLock" && !l.Created && IsTable(l.Kind)).Select(l => (l, statement)));
            foreach (var (share, by) in held.Where(h => ReferenceEquals(h.By, statement) || statement.Scanned.Contains(h.Lock.Relation)))
            {
                // A rewrite rebuilds the table's indexes under the same SHARE lock; that is the rewrite's finding, not an index build's.
                if (statement.Rewritten.Contains(share.Relation) || size(share.Relation) is not { HasRows: true } target)
                {
                    continue;
                }

                var built = statement.Locks.FirstOrDefault(l => l.Created && l.Kind is "i" or "I")?.Relation;
                yield return new Finding(Name(LockRule.BlockingIndexBuild), statement, share.Relation, share.Mode, HeldTime(share, by), target,
                    $"{(built is null ? "an index" : $"index {built}")} built without CONCURRENTLY: the app's writes wait for the whole build; use CREATE INDEX CONCURRENTLY IF NOT EXISTS in an online migration");
            }
        }
    }

    /// <summary>(e) A table that holds rows written out again in full (new relfilenode): volatile default, type change, SET LOGGED, VACUUM FULL.</summary>
    private static IEnumerable<Finding> Rewrites(List<StatementTrace> transaction, Func<string, RelationSize> size)
    {
        var held = new List<(TracedLock Lock, StatementTrace By)>();
        foreach (var statement in transaction)
        {
            held.AddRange(statement.Locks.Select(l => (l, statement)));
            foreach (var relation in statement.Rewritten)
            {
                var taken = Strongest(held.Where(h => h.Lock.Relation == relation));
                if (taken is { } found && !IsTable(found.Lock.Kind) || size(relation) is not { HasRows: true } target)
                {
                    continue;
                }

                yield return new Finding(Name(LockRule.TableRewrite), statement, relation, taken?.Lock.Mode ?? "unknown", taken is { } t ? HeldTime(t.Lock, t.By) : statement.Duration, target,
                    "rewrites every row (and rebuilds every index) of a table that holds data, under a lock that blocks the app; add the column without a volatile default " +
                    "and backfill in batches, or add a new column instead of changing a type");
            }
        }
    }

    /// <summary>The runner's own record of a migration (the version row), which follows a transactional migration's statements in its transaction.</summary>
    private static bool Bookkeeping(StatementTrace statement) =>
        statement.Locks.Count > 0 && statement.Locks.All(l => l.Relation.StartsWith(VersionTable.Schema + ".", StringComparison.Ordinal));

    private static bool IsTable(string kind) => kind is "r" or "p" or "m";

    private static TimeSpan HeldTime(TracedLock held, StatementTrace by) => held.Held ?? by.Duration;

    private static (TracedLock Lock, StatementTrace By)? Strongest(IEnumerable<(TracedLock Lock, StatementTrace By)> locks) =>
        locks.OrderByDescending(l => Strength(l.Lock.Mode)).Select(l => ((TracedLock, StatementTrace)?)l).FirstOrDefault();

    // PostgreSQL's table lock modes from weakest to strongest.
    internal static int Strength(string mode) => Array.IndexOf(
        ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"], mode);

    private static int IndexOf<T>(this IReadOnlyList<T> list, T item)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (EqualityComparer<T>.Default.Equals(list[i], item))
            {
                return i;
            }
        }

        return -1;
    }
}
