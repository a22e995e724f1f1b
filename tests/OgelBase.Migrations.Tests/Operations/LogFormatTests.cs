using System.Text.Json;
using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>--log-format json / OGELBASE_LOG_FORMAT=json: every stderr line is one JSON object; results stay on stdout.</summary>
public sealed class LogFormatTests
{
    [Test]
    public async Task With_log_format_json_every_stderr_line_is_one_object_with_time_level_and_message_and_the_summary_carries_its_fields()
    {
        await using var db = await TestDatabase.CreateAsync();

        var result = await db.RunAsync("migrate", "up", "--to", "3", "--log-format", "json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = JsonLines(result.Stderr);
        Assert.That(lines, Is.Not.Empty);
        foreach (var line in lines)
        {
            Assert.That(line.GetProperty("time").GetString(), Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"));
            Assert.That(line.GetProperty("level").GetString(), Is.EqualTo("info"));
            Assert.That(line.GetProperty("message").GetString(), Is.Not.Empty);
        }

        var applied = lines.Where(l => l.GetProperty("message").GetString()!.StartsWith("applied ", StringComparison.Ordinal)).ToList();
        Assert.That(applied.Select(l => l.GetProperty("version").GetInt64()), Is.EqualTo(new long[] { 1, 2, 3 }));
        var summary = lines[^1];
        Assert.That(summary.GetProperty("message").GetString(), Does.StartWith("migrate up: applied 3 migrations"));
        Assert.That(summary.GetProperty("applied").EnumerateArray().Select(v => v.GetInt64()), Is.EqualTo(new long[] { 1, 2, 3 }));
        Assert.That(summary.GetProperty("elapsed_s").GetDouble(), Is.GreaterThan(0));
    }

    [Test]
    public async Task The_environment_variable_sets_json_for_a_service_and_an_error_is_one_object_of_level_error()
    {
        await using var db = await TestDatabase.CreateAsync();

        var result = await db.RunAsync(new Dictionary<string, string?> { ["OGELBASE_LOG_FORMAT"] = "json" }, "rollback", "99");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        var lines = JsonLines(result.Stderr);
        Assert.That(lines, Has.Count.EqualTo(1), result.ToString());
        Assert.That(lines[0].GetProperty("level").GetString(), Is.EqualTo("error"));
        Assert.That(lines[0].GetProperty("message").GetString(), Does.Contain("rollback 99"));
    }

    [Test]
    public async Task Status_json_stays_on_stdout_while_the_logs_are_json_on_stderr()
    {
        await using var db = await TestDatabase.CreateAsync();

        var result = await db.RunAsync("status", "--json", "--log-format", "json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var document = JsonDocument.Parse(result.Stdout);
        Assert.That(document.RootElement.ValueKind, Is.EqualTo(JsonValueKind.Object));
        Assert.That(JsonLines(result.Stderr), Is.Not.Empty);
    }

    [Test]
    public async Task A_log_format_that_is_neither_text_nor_json_is_a_usage_error()
    {
        await using var db = await TestDatabase.CreateAsync();

        var result = await db.RunAsync("migrate", "up", "--log-format", "xml");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr.Trim(), Is.EqualTo("error: --log-format must be text or json."));
        Assert.That(await db.RecordedVersionsAsync(), Is.Empty);
    }

    [Test]
    public async Task A_blocked_online_step_in_json_carries_the_blocker_as_a_structured_field()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await using var app = await AppTransaction.BeginAsync(db, "studio-json-blocker", "LOCK TABLE platform.users IN SHARE MODE");

        var result = await db.RunAsync("migrate", "up", "--to", "8", "--online-attempts", "4", "--log-format", "json");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        var lines = JsonLines(result.Stderr);
        var retries = lines.Where(l => l.TryGetProperty("blocker", out _)).ToList();
        Assert.That(retries, Is.Not.Empty, result.Stderr);
        var blocker = retries[^1].GetProperty("blocker")[0];
        Assert.That(blocker.GetProperty("pid").GetInt32(), Is.EqualTo(app.ProcessId));
        Assert.That(blocker.GetProperty("application_name").GetString(), Is.EqualTo("studio-json-blocker"));
        Assert.That(retries[^1].GetProperty("step").GetString(), Is.EqualTo("ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id uuid NULL"));
        Assert.That(lines[^1].GetProperty("level").GetString(), Is.EqualTo("error"));
    }

    internal static List<JsonElement> JsonLines(string stderr) =>
        stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line =>
            {
                try
                {
                    using var document = JsonDocument.Parse(line);
                    Assert.That(document.RootElement.ValueKind, Is.EqualTo(JsonValueKind.Object), line);
                    return document.RootElement.Clone();
                }
                catch (JsonException e)
                {
                    Assert.Fail($"not one JSON object: {line} ({e.Message})");
                    throw;
                }
            })
            .ToList();
}
