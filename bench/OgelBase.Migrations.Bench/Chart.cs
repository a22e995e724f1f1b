using ScottPlot;
using ScottPlot.TickGenerators;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// Latency of every query over time, one colour per kind, on a log scale (a healthy query takes about a millisecond,
/// a blocked one seconds), with the migration and rollback windows shaded and the 100 ms target drawn across.
/// ScottPlot 5 has no native log axis: values are plotted as log10 and the ticks are labelled back in milliseconds.
/// Markers are opaque: translucent ones blend into thousands of colours and make the PNG several times larger.
/// </summary>
public static class Chart
{
    private static readonly Color[] KindColors =
    [
        Color.FromHex("#1f77b4"),
        Color.FromHex("#2ca02c"),
        Color.FromHex("#9467bd"),
        Color.FromHex("#8c564b"),
    ];

    public static void Save(string title, IReadOnlyList<Sample> samples, MigrationWindow migrate, MigrationWindow rollback, string pngFile, string svgFile)
        => Save(title, samples, (migrate.Start, migrate.End), (rollback.Start, rollback.End), pngFile, svgFile);

    /// <summary>Draws the chart again from a finished run's summary.json and samples.csv (--replot).</summary>
    public static void Replot(string directory)
    {
        var summary = System.Text.Json.JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(Path.Combine(directory, "summary.json")), Report.Json)
            ?? throw new InvalidOperationException($"{directory}/summary.json is empty");
        var samples = File.ReadLines(Path.Combine(directory, "samples.csv")).Skip(1).Select(ParseSample).ToList();
        var migration = summary.Phases.Single(p => p.Phase == Report.Migration);
        var rollback = summary.Phases.Single(p => p.Phase == Report.Rollback);
        Save(Title(summary), samples, (migration.From, migration.To), (rollback.From, rollback.To),
            Path.Combine(directory, "chart.png"), Path.Combine(directory, "chart.svg"));
    }

    public static string Title(RunSummary run) =>
        $"{run.Mode} 008 at {run.Data.Users:N0} users: latency of every query ({run.Clients} clients × {run.Rate:0.#} q/s)";

    private static Sample ParseSample(string line)
    {
        var f = line.Split(',', 5);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return new Sample(double.Parse(f[0], inv), double.Parse(f[1], inv), Enum.Parse<QueryKind>(f[2]), int.Parse(f[3], inv),
            f[4].Length == 0 ? null : f[4].Trim('"'));
    }

    private static void Save(string title, IReadOnlyList<Sample> samples, (double Start, double End) migrate, (double Start, double End) rollback, string pngFile, string svgFile)
    {
        var plot = new Plot();
        var floor = 0.05; // ms; keeps log10 finite for the fastest queries
        var top = Math.Max(1000, samples.Count == 0 ? 1 : samples.Max(s => s.LatencyMs) * 1.5);

        var migration = plot.Add.HorizontalSpan(migrate.Start, migrate.End);
        migration.FillStyle.Color = Color.FromHex("#ff7f0e").WithAlpha(0.18);
        migration.LineStyle.Width = 0;
        migration.LegendText = $"migration ({Seconds(migrate.End - migrate.Start)})";
        var back = plot.Add.HorizontalSpan(rollback.Start, rollback.End);
        back.FillStyle.Color = Color.FromHex("#17becf").WithAlpha(0.22);
        back.LineStyle.Width = 0;
        back.LegendText = $"rollback ({Seconds(rollback.End - rollback.Start)})";

        foreach (var kind in Traffic.Kinds)
        {
            var ofKind = samples.Where(s => s.Kind == kind && !s.Failed).ToArray();
            if (ofKind.Length == 0)
            {
                continue;
            }

            var points = plot.Add.ScatterPoints(
                ofKind.Select(s => s.Start).ToArray(),
                ofKind.Select(s => Math.Log10(Math.Max(floor, s.LatencyMs))).ToArray());
            points.Color = KindColors[(int)kind % KindColors.Length];
            points.MarkerSize = 3;
            points.LegendText = Traffic.Describe(kind);
        }

        // A query slower than the target also gets a bar from its start to its end at its latency: a blocked
        // query then shows the whole time it waited, not just a dot where it began.
        foreach (var slow in samples.Where(s => s.LatencyMs > Report.TargetMaxMs).OrderByDescending(s => s.LatencyMs).Take(400))
        {
            var y = Math.Log10(slow.LatencyMs);
            var bar = plot.Add.Line(slow.Start, y, slow.End, y);
            bar.Color = KindColors[(int)slow.Kind % KindColors.Length].WithAlpha(0.5);
            bar.LineWidth = 1.5f;
        }

        var failed = samples.Where(s => s.Failed).ToArray();
        if (failed.Length > 0)
        {
            var marks = plot.Add.ScatterPoints(failed.Select(s => s.Start).ToArray(), failed.Select(s => Math.Log10(Math.Max(floor, s.LatencyMs))).ToArray());
            marks.Color = Colors.Red;
            marks.MarkerShape = MarkerShape.Eks;
            marks.MarkerSize = 7;
            marks.LegendText = $"failed ({failed.Length})";
        }

        var target = plot.Add.HorizontalLine(Math.Log10(Report.TargetMaxMs));
        target.Color = Colors.Red.WithAlpha(0.7);
        target.LinePattern = LinePattern.Dashed;
        target.LineWidth = 1;
        target.LegendText = $"target {Report.TargetMaxMs:0} ms";

        plot.Axes.Left.TickGenerator = new NumericAutomatic
        {
            MinorTickGenerator = new LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Label(Math.Pow(10, y)),
        };
        plot.Axes.SetLimitsY(Math.Log10(floor), Math.Log10(top));
        var end = samples.Count == 0 ? rollback.End : Math.Max(rollback.End, samples[^1].End);
        plot.Axes.SetLimitsX(0, end * 1.01);
        plot.Grid.MinorLineWidth = 1;
        plot.Grid.MinorLineColor = Colors.Black.WithAlpha(0.04);
        plot.Title(title, size: 14);
        plot.XLabel("seconds since traffic start");
        plot.YLabel("query latency (ms, log scale)");
        plot.ShowLegend(Edge.Right);

        plot.SavePng(pngFile, 1200, 520);
        plot.SaveSvg(svgFile, 1200, 520);
    }

    private static string Seconds(double s) => s < 1 ? $"{s * 1000:0} ms" : $"{s:0.0} s";

    private static string Label(double ms) => ms switch
    {
        >= 1000 => $"{ms / 1000:0.#} s",
        >= 1 => $"{ms:0}",
        _ => $"{ms:0.##}",
    };
}
