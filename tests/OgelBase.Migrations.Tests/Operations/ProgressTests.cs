using System.Text.RegularExpressions;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.TestRunner;
using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>Long steps say how far they are and how long they still need, GitLab style: "42.5% (estimated time remaining: 5 minutes)".</summary>
[NonParallelizable] // its subject is timing (lock waits, concurrent processes, progress intervals): it runs alone
public sealed class ProgressTests
{
    [TestCase(0, "less than a minute")]
    [TestCase(59, "less than a minute")]
    [TestCase(60, "1 minute")]
    [TestCase(300, "5 minutes")]
    [TestCase(89 * 60, "89 minutes")]
    [TestCase(2 * 3600, "about 2 hours")]
    [TestCase(3 * 86400, "about 3 days")]
    public void Time_left_is_worded_like_gitlab_batched_migrations(int seconds, string expected) =>
        Assert.That(Progress.Words(TimeSpan.FromSeconds(seconds)), Is.EqualTo(expected));

    [Test]
    public void A_quarter_done_after_a_minute_has_three_minutes_left()
    {
        Assert.That(Progress.Line(250, 1000, TimeSpan.FromMinutes(1)), Is.EqualTo("25.0% (estimated time remaining: 3 minutes)"));
        Assert.That(Progress.Remaining(250, 1000, TimeSpan.FromMinutes(1)), Is.EqualTo(TimeSpan.FromMinutes(3)));
    }

    [Test]
    public void Nothing_done_yet_has_no_estimate_and_more_than_the_total_stops_at_100_percent()
    {
        Assert.That(Progress.Line(0, 1000, TimeSpan.FromSeconds(5)), Is.EqualTo("0.0% (estimated time remaining: unknown yet)"));
        Assert.That(Progress.Line(1200, 1000, TimeSpan.FromSeconds(5)), Is.EqualTo("100.0% (estimated time remaining: less than a minute)"));
    }

    [Test]
    public async Task The_backfill_of_a_few_thousand_users_reports_percent_rate_and_time_left_as_it_goes()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 3000);

        var result = await db.RunAsync("migrate", "up", "--to", "8", "--batch-size", "100", "--progress-interval", "0", "--backfill-pause", "0");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var progress = Regex.Matches(result.Stderr, @"backfill active_org_id: (\d+)/3000 rows, \d+\.\d% \(estimated time remaining: [a-z0-9 ]+\), \d+ changed, 100 per batch, pause 0 ms, \d+ rows/s")
            .Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        TestContext.Out.WriteLine(string.Join('\n', result.Stderr.Split('\n').Where(l => l.Contains("backfill active_org_id", StringComparison.Ordinal)).Take(5)));
        Assert.That(progress, Has.Count.EqualTo(30), "one line per batch with --progress-interval 0");
        Assert.That(progress, Is.Ordered.Ascending);
        Assert.That(progress[^1], Is.EqualTo(3000));
    }

    [Test]
    public async Task In_json_a_progress_line_carries_percent_rows_per_second_and_seconds_left_as_numbers()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 1000);

        // A pause after each committed batch (the test hook) stretches the backfill over a few seconds, so the estimates
        // are whole seconds, not all zero: a wrong formula would show in them.
        var result = await db.RunAsync(
            new Dictionary<string, string?> { [TestPauses.BatchDelayVariable] = "300" },
            "migrate", "up", "--to", "8", "--batch-size", "100", "--progress-interval", "0", "--log-format", "json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = LogFormatTests.JsonLines(result.Stderr)
            .Where(l => l.TryGetProperty("step", out var step) && step.GetString() == "backfill active_org_id" && l.TryGetProperty("eta_s", out _))
            .ToList();
        TestContext.Out.WriteLine(string.Join('\n', result.Stderr.Split('\n').Where(l => l.Contains("\"eta_s\"", StringComparison.Ordinal))));
        Assert.That(lines, Has.Count.EqualTo(10));
        var half = lines[4];
        Assert.That(half.GetProperty("rows").GetInt64(), Is.EqualTo(500));
        Assert.That(half.GetProperty("total").GetInt64(), Is.EqualTo(1000));
        Assert.That(half.GetProperty("percent").GetDouble(), Is.EqualTo(50.0));
        Assert.That(half.GetProperty("rows_per_second").GetDouble(), Is.GreaterThan(0));
        Assert.That(half.GetProperty("message").GetString(), Does.Contain("50.0% (estimated time remaining: "));

        // The estimate is the time left at the rate so far: elapsed × rows left / rows done, in whole seconds. Checked
        // against each line's own logged figures; the bound is the rounding of eta_s (0.5 s) and of elapsed_s (0.5 ms,
        // scaled by rows left / rows done).
        var worst = 0.0;
        foreach (var line in lines)
        {
            var done = line.GetProperty("rows").GetInt64();
            var left = line.GetProperty("total").GetInt64() - done;
            var expected = line.GetProperty("elapsed_s").GetDouble() * left / done;
            var bound = 0.5 + (0.0005 * left / done) + 1e-9;
            Assert.That(line.GetProperty("eta_s").GetDouble(), Is.EqualTo(expected).Within(bound), $"eta_s of {line}");
            worst = Math.Max(worst, expected);
        }

        Assert.That(worst, Is.GreaterThanOrEqualTo(1.0), "the premise: some estimate was a second or more, so one computed otherwise would differ");
        var last = lines[^1];
        Assert.That(last.GetProperty("rows").GetInt64(), Is.EqualTo(last.GetProperty("total").GetInt64()));
        Assert.That(last.GetProperty("eta_s").GetDouble(), Is.Zero, "nothing is left once every row is done");
    }
}
