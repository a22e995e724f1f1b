using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OgelBase.Migrations.Bench;

/// <summary>Latency figures of one query kind (or all) in one phase.</summary>
public sealed record KindStats(string Kind, int Count, double P50Ms, double P99Ms, double MaxMs, int Failed);

public sealed record PhaseStats(string Phase, double From, double To, double? WallSeconds, IReadOnlyList<KindStats> Kinds)
{
    public KindStats All => Kinds[^1];
}

/// <summary>What the backfill left, counted right after the migration (the traffic keeps writing meanwhile).</summary>
public sealed record BackfillCounts(long Users, long WithActiveOrg, long WithoutMembership, long MemberWithoutActiveOrg, long NotEarliestMembership);

/// <summary>One query slower than the target, with what the migration was doing around it.</summary>
public sealed record SlowQuery(string Phase, string Kind, double Start, double LatencyMs, string? Error, string? StepBefore, string? StepAfter, string? ServerWaits);

public sealed record PhaseWaits(string Phase, int Samples, string Events);

public sealed record MachineInfo(int Cores, string Memory, string PostgresVersion, string Server)
{
    /// <summary>/proc/loadavg (1, 5, 15 min) when the traffic started and when it stopped: other work on the machine shows here.</summary>
    public string LoadAtStart { get; init; } = "";

    public string LoadAtEnd { get; init; } = "";
}

/// <summary>The result of one benchmark run (one mode), as written to summary.json and rendered as report.md.</summary>
public sealed record RunSummary
{
    public required string Mode { get; init; }
    public required int UsersRequested { get; init; }
    public required int Clients { get; init; }
    public required double Rate { get; init; }
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>Wall-clock time of t = 0 on the traffic clock, to match the server log's timestamps.</summary>
    public required DateTimeOffset TrafficStartedAt { get; init; }
    public required MachineInfo Machine { get; init; }
    public required DataSetCounts Data { get; init; }
    public required string MigrateCommand { get; init; }
    public required double MigrateSeconds { get; init; }
    public double? MigrateReportedSeconds { get; init; }
    public required int MigrateExitCode { get; init; }
    public required string RollbackCommand { get; init; }
    public required double RollbackSeconds { get; init; }
    public double? RollbackReportedSeconds { get; init; }
    public required int RollbackExitCode { get; init; }
    public required BackfillCounts Backfill { get; init; }
    public required IReadOnlyList<PhaseStats> Phases { get; init; }

    /// <summary>The queries that started while <c>--disturb-at</c>'s writer ran (null: no disturbance).</summary>
    public PhaseStats? Disturbance { get; init; }
    public required IReadOnlyList<SlowQuery> SlowQueries { get; init; }

    /// <summary>Per phase, what the traffic's backends were seen waiting on (pg_stat_activity samples), most frequent first.</summary>
    public required IReadOnlyList<PhaseWaits> Waits { get; init; }
    public required int FailedQueries { get; init; }
    public required IReadOnlyList<string> Errors { get; init; }
    public required string ReportFile { get; init; }
    public required string ChartFile { get; init; }
    public required string ChartSvgFile { get; init; }
    public required string SamplesFile { get; init; }

    /// <summary>Max latency of any query kind while the migration or the rollback ran.</summary>
    public double MaxDuringMigrationMs => Phases.Where(p => p.Phase is Report.Migration).Select(p => p.All.MaxMs).DefaultIfEmpty(0).Max();

    public double MaxDuringRollbackMs => Phases.Where(p => p.Phase is Report.Rollback).Select(p => p.All.MaxMs).DefaultIfEmpty(0).Max();
}

public static class Report
{
    public const string Before = "before";
    public const string Migration = "during migration";
    public const string Between = "between";
    public const string Rollback = "during rollback";
    public const string After = "after";

    /// <summary>The issue's target for every concurrent query while the migration or rollback runs.</summary>
    public const double TargetMaxMs = 100;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static IReadOnlyList<PhaseStats> Phases(IReadOnlyList<Sample> samples, MigrationWindow migrate, MigrationWindow rollback, double end)
    {
        // A query belongs to the phase in which it started: one that a migration blocks starts inside its window.
        return
        [
            Stats(Before, samples, 0, migrate.Start, null),
            Stats(Migration, samples, migrate.Start, migrate.End, migrate.Seconds),
            Stats(Between, samples, migrate.End, rollback.Start, null),
            Stats(Rollback, samples, rollback.Start, rollback.End, rollback.Seconds),
            Stats(After, samples, rollback.End, end, null),
        ];
    }

    public static PhaseStats Stats(string phase, IReadOnlyList<Sample> samples, double from, double to, double? wall)
    {
        var inPhase = samples.Where(s => s.Start >= from && s.Start < to).ToList();
        var kinds = Traffic.Kinds.Select(k => Of(Traffic.Describe(k), inPhase.Where(s => s.Kind == k).ToList())).ToList();
        kinds.Add(Of("all", inPhase));
        return new PhaseStats(phase, from, to, wall, kinds);
    }

    private static KindStats Of(string kind, List<Sample> samples)
    {
        var latencies = samples.Select(s => s.LatencyMs).OrderBy(l => l).ToArray();
        return new KindStats(kind, samples.Count, Percentile(latencies, 0.50), Percentile(latencies, 0.99),
            latencies.Length == 0 ? 0 : latencies[^1], samples.Count(s => s.Failed));
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static IReadOnlyList<PhaseWaits> WaitsByPhase(IReadOnlyList<PhaseStats> phases, IReadOnlyList<WaitSample> waits) =>
        phases.Select(p =>
        {
            var inPhase = waits.Where(w => w.At >= p.From && w.At < p.To).ToList();
            var events = inPhase.GroupBy(w => w.Wait).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} ×{g.Count()}");
            return new PhaseWaits(p.Phase, inPhase.Count, inPhase.Count == 0 ? "none" : string.Join(", ", events));
        }).ToList();

    public static IReadOnlyList<SlowQuery> Slow(IReadOnlyList<Sample> samples, MigrationWindow migrate, MigrationWindow rollback, IReadOnlyList<WaitSample> waits) =>
        samples
            .Select(s => (Sample: s, Window: s.Start >= migrate.Start && s.Start < migrate.End ? migrate
                : s.Start >= rollback.Start && s.Start < rollback.End ? rollback : null))
            .Where(x => x.Window is not null && (x.Sample.LatencyMs > TargetMaxMs || x.Sample.Failed))
            .OrderByDescending(x => x.Sample.LatencyMs)
            .Take(15)
            .Select(x => new SlowQuery(x.Window == migrate ? Migration : Rollback, Traffic.Describe(x.Sample.Kind), x.Sample.Start, x.Sample.LatencyMs,
                x.Sample.Error, x.Window!.LineBefore(x.Sample.Start)?.Text, x.Window.LineAfter(x.Sample.End)?.Text,
                WaitSampler.Describe(waits, x.Sample.Pid, x.Sample.Start, x.Sample.End)))
            .ToList();

    public static string Markdown(RunSummary run)
    {
        var md = new StringBuilder();
        var title = run.Mode == "online"
            ? "online 008 through the runner (`migrate up --to 8`, `rollback 7`)"
            : "original single-transaction 008 (docs/schema-facts.md §8) run directly, for comparison";
        md.AppendLine(Inv, $"# Migration 008 benchmark: {title}, {run.Data.Users:N0} users");
        md.AppendLine();
        md.AppendLine(Inv, $"- Run: {run.StartedAt:yyyy-MM-dd HH:mm} UTC; {run.Machine.Cores} cores, {run.Machine.Memory} RAM; {run.Machine.PostgresVersion} ({run.Machine.Server}); load average {run.Machine.LoadAtStart} at traffic start, {run.Machine.LoadAtEnd} at its end.");
        md.AppendLine(Inv, $"- Data at version 6 (7 held back): {run.Data.Users:N0} users, {run.Data.Organizations:N0} organizations, {run.Data.Memberships:N0} memberships, {run.Data.UsersWithoutMembership:N0} users without membership; generated in {run.Data.Seconds:0.0} s.");
        md.AppendLine(Inv, $"- Traffic: {run.Clients} connections × {run.Rate:0.#} queries/s{(run.Clients >= 4 ? $", {run.Clients / 4.0:0.#} connections per kind" : ", taking turns")}: read user by PK, update users.updated_at, insert user, insert membership. A connection waits for its query before sending the next; missed slots are skipped.");
        md.AppendLine(Inv, $"- Migration: `{run.MigrateCommand}`: {run.MigrateSeconds:0.00} s wall{Reported(run.MigrateReportedSeconds)}, exit {run.MigrateExitCode}.");
        md.AppendLine(Inv, $"- Rollback: `{run.RollbackCommand}`: {run.RollbackSeconds:0.00} s wall{Reported(run.RollbackReportedSeconds)}, exit {run.RollbackExitCode}.");
        var b = run.Backfill;
        md.AppendLine(Inv, $"- Backfill (counted right after the migration): {b.Users:N0} users, {b.WithActiveOrg:N0} with an active organization, {b.WithoutMembership:N0} without membership, {b.MemberWithoutActiveOrg:N0} members without an active organization, {b.NotEarliestMembership:N0} whose active organization is not their earliest membership.");
        md.AppendLine(Inv, $"- Failed queries: {run.FailedQueries}. Times below are seconds since the traffic started, at {run.TrafficStartedAt:HH:mm:ss.fff} UTC.");
        md.AppendLine();
        md.AppendLine("| phase | wall time | query | count | p50 ms | p99 ms | max ms | failed |");
        md.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|");
        foreach (var phase in run.Phases)
        {
            var first = true;
            foreach (var k in phase.Kinds)
            {
                var wall = first && phase.WallSeconds is { } w ? $"{w:0.00} s" : "";
                var name = first ? $"{phase.Phase} ({phase.From:0.0}–{phase.To:0.0} s)" : "";
                var kind = k.Kind == "all" ? "**all**" : k.Kind;
                md.AppendLine(Inv, $"| {name} | {wall} | {kind} | {k.Count} | {k.P50Ms:0.0} | {k.P99Ms:0.0} | {k.MaxMs:0.0} | {k.Failed} |");
                first = false;
            }
        }

        md.AppendLine();
        AppendSection(md, run.Waits,
            "What the traffic's backends were seen waiting on, per phase (pg_stat_activity sampled every ~10 ms; a backend running on CPU or idle is not counted):",
            ["| phase | samples | wait events |", "|---|---:|---|"],
            w => string.Create(Inv, $"| {w.Phase} | {w.Samples} | {w.Events} |"));

        md.AppendLine(Inv, $"Target (issue #7): every query kind's max ≤ {TargetMaxMs:0} ms during migration and rollback, 0 failed queries: " +
            $"migration max {run.MaxDuringMigrationMs:0.0} ms ({Verdict(run.MaxDuringMigrationMs)}), rollback max {run.MaxDuringRollbackMs:0.0} ms ({Verdict(run.MaxDuringRollbackMs)}), " +
            $"failed {run.FailedQueries} ({(run.FailedQueries == 0 ? "met" : "missed")}).");
        md.AppendLine();
        AppendSection(md, run.SlowQueries,
            string.Create(Inv, $"Queries over {TargetMaxMs:0} ms (or failed) during migration or rollback, slowest first: what the server said the query's backend waited on (pg_stat_activity sampled every ~10 ms), and the migration's last line before the query started and first line after it ended:"),
            ["| phase | query | started at | latency ms | error | server wait events | last step line before | next step line after |", "|---|---|---:|---:|---|---|---|---|"],
            q => string.Create(Inv, $"| {q.Phase} | {q.Kind} | {q.Start:0.000} s | {q.LatencyMs:0.0} | {Cell(q.Error)} | {Cell(q.ServerWaits)} | {Cell(q.StepBefore)} | {Cell(q.StepAfter)} |"));
        AppendSection(md, run.Errors, "Errors seen by the traffic (first of each kind):", [], e => $"- {e}");

        md.AppendLine(Inv, $"Chart: `{Path.GetFileName(run.ChartFile)}` (latency of every query over time, log scale; migration and rollback shaded). Raw samples: `{Path.GetFileName(run.SamplesFile)}`.");
        return md.ToString();
    }

    /// <summary>A lead-in line, a blank line, the heading lines, one line per item and a blank line; nothing when there are no items.</summary>
    private static void AppendSection<T>(StringBuilder md, IReadOnlyList<T> items, string leadIn, string[] heading, Func<T, string> line)
    {
        if (items.Count == 0)
        {
            return;
        }

        md.AppendLine(leadIn);
        md.AppendLine();
        foreach (var text in heading.Concat(items.Select(line)))
        {
            md.AppendLine(text);
        }

        md.AppendLine();
    }

    public static string Comparison(IReadOnlyList<RunSummary> runs)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv, $"# Migration 008: online vs original single transaction, {runs[0].Data.Users:N0} users");
        md.AppendLine();
        md.AppendLine("| mode | phase | wall time | read user max ms | update user max ms | insert user max ms | insert membership max ms | all p99 ms | failed |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var run in runs)
        {
            foreach (var phase in run.Phases.Where(p => p.Phase is Before or Migration or Rollback))
            {
                var wall = phase.WallSeconds is { } w ? $"{w:0.00} s" : "";
                var kinds = string.Join(" | ", phase.Kinds.Take(Traffic.Kinds.Count).Select(k => $"{k.MaxMs:0.0}"));
                md.AppendLine(Inv, $"| {run.Mode} | {phase.Phase} | {wall} | {kinds} | {phase.All.P99Ms:0.0} | {phase.All.Failed} |");
            }
        }

        md.AppendLine();
        var online = runs.FirstOrDefault(r => r.Mode == "online");
        var original = runs.FirstOrDefault(r => r.Mode == "original");
        if (online is not null && original is not null)
        {
            md.AppendLine(Inv, $"- Migration wall time: online {online.MigrateSeconds:0.00} s (runner process included) vs original {original.MigrateSeconds:0.00} s: target online ≤ original {(online.MigrateSeconds <= original.MigrateSeconds ? "met" : "MISSED")}.");
            md.AppendLine(Inv, $"- Online max latency: {online.MaxDuringMigrationMs:0.0} ms during migration ({Verdict(online.MaxDuringMigrationMs)}), {online.MaxDuringRollbackMs:0.0} ms during rollback ({Verdict(online.MaxDuringRollbackMs)}); failed queries {online.FailedQueries}. Original: {original.MaxDuringMigrationMs:0.0} ms and {original.MaxDuringRollbackMs:0.0} ms; failed {original.FailedQueries}.");
        }

        // --compare: NAME-ROUND runs; the medians of each build over its rounds.
        foreach (var build in runs.Where(r => r.Mode.Contains('-', StringComparison.Ordinal)).GroupBy(r => r.Mode[..r.Mode.LastIndexOf('-')]))
        {
            static double Median(IEnumerable<double> values) => values.Order().ToList() is var v && v.Count % 2 == 1 ? v[v.Count / 2] : (v[(v.Count / 2) - 1] + v[v.Count / 2]) / 2;
            double P99(RunSummary run, string phase) => run.Phases.First(p => p.Phase == phase).All.P99Ms;
            var disturbed = build.All(r => r.Disturbance is not null) ? $", p99 while disturbed {Median(build.Select(r => r.Disturbance!.All.P99Ms)):0.0} ms" : "";
            md.AppendLine(Inv, $"- {build.Key}, median of {build.Count()}: migration {Median(build.Select(r => r.MigrateSeconds)):0.00} s, max latency during it {Median(build.Select(r => r.MaxDuringMigrationMs)):0.0} ms, " +
                $"p99 during it {Median(build.Select(r => P99(r, Migration))):0.0} ms (before it {Median(build.Select(r => P99(r, Before))):0.0} ms, ratio {Median(build.Select(r => P99(r, Migration) / Math.Max(P99(r, Before), 0.001))):0.00}×){disturbed}; rollback {Median(build.Select(r => r.RollbackSeconds)):0.00} s, max {Median(build.Select(r => r.MaxDuringRollbackMs)):0.0} ms " +
                $"(runs: {string.Join(", ", build.Select(r => $"{r.MigrateSeconds:0.00} s/{r.MaxDuringMigrationMs:0.0} ms"))})");
        }

        foreach (var run in runs)
        {
            md.AppendLine(Inv, $"- {run.Mode}: backfill set {run.Backfill.WithActiveOrg:N0} of {run.Backfill.Users:N0} users ({run.Backfill.WithoutMembership:N0} without membership); report `{run.Mode}-{run.UsersRequested}/report.md`.");
        }

        return md.ToString();
    }

    public static string Csv(IReadOnlyList<Sample> samples)
    {
        var csv = new StringBuilder("start_s,latency_ms,kind,client,error\n");
        foreach (var s in samples)
        {
            csv.AppendLine(Inv, $"{s.Start:0.000000},{s.LatencyMs:0.000},{s.Kind},{s.Client},{(s.Error is null ? "" : "\"" + s.Error.Replace("\"", "'", StringComparison.Ordinal) + "\"")}");
        }

        return csv.ToString();
    }

    private static string Reported(double? seconds) => seconds is { } s ? $" (the runner's own summary: {s:0.00} s)" : "";

    private static string Verdict(double ms) => ms <= TargetMaxMs ? "met" : "MISSED";

    private static string Cell(string? text) => string.IsNullOrEmpty(text) ? "" : "`" + text.Replace("|", "\\|", StringComparison.Ordinal).Replace("`", "'", StringComparison.Ordinal) + "`";
}
