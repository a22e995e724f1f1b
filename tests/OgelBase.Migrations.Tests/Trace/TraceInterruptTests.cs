using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Trace;

/// <summary>Ctrl-C and SIGTERM during a trace: the runner stops, drops its scratch database and exits 130; the target never changed.</summary>
[NonParallelizable] // its subject is timing (signals to a separate process): it runs alone
public sealed class TraceInterruptTests
{
    [TestCase(2, TestName = "Ctrl_C_during_a_trace_drops_the_scratch_database_and_exits_130")]
    [TestCase(15, TestName = "SIGTERM_during_a_trace_drops_the_scratch_database_and_exits_130")]
    public async Task A_signal_during_a_trace_drops_the_scratch_database(int signal)
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "7");
        var image = await Catalog.ImageAsync(db);
        using var runner = RunnerProcess.Start(
            new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_STATEMENT_DELAY_MS"] = "100" },
            "trace", "--waivers", TraceRun.Waivers);

        Assert.That(await ScratchAppearsAsync(TimeSpan.FromSeconds(60)), Is.True, "the trace created its scratch database");
        await Task.Delay(1000);
        Assert.That(runner.HasExited, Is.False, "the premise: the signal lands while the scratch database is being migrated");
        runner.Signal(signal);

        var result = await runner.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Multiple(async () =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(130), result.ToString());
            Assert.That(result.Stderr, Does.Match(@"error: trace interrupted; scratch database ogelbase_trace_[0-9a-f]+ dropped; the target was not changed\."));
            Assert.That(result.Stderr, Does.Not.Contain("   at "));
            Assert.That(await TraceRun.ScratchDatabasesAsync(), Is.Empty, "no scratch database remains");
            Assert.That(await Catalog.ImageAsync(db), Is.EqualTo(image));
        });
    }

    private static async Task<bool> ScratchAppearsAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if ((await TraceRun.ScratchDatabasesAsync()).Count > 0)
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }
}
