using System.Diagnostics;
using OgelBase.Migrations.Runner.Engine;
using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>
/// A backfill steers itself: its batches follow a target duration, and it gives the server room when the server shows
/// strain (docs/backfill-steering.md). The rules first, then a real backfill against a real VACUUM.
/// </summary>
public sealed class BackfillSteeringTests
{
    private static readonly ServerHealth Clear = new(AppActive: true, Probe: TimeSpan.FromMilliseconds(1), null, null, null);
    private static readonly TimeSpan Batch = TimeSpan.FromMilliseconds(20);

    private static BackfillController Steered(double? fixedPause = null, bool fixedSize = false) =>
        new(new BackfillSteering(), batchSize: 1000, fixedSize, fixedPause, baseline: TimeSpan.FromMilliseconds(1));

    [Test]
    public void A_probe_slower_than_its_limit_while_the_app_is_active_makes_the_next_pause_at_least_the_batchs_duration()
    {
        var controller = Steered();

        var pace = controller.Next(Batch, Clear with { Probe = TimeSpan.FromMilliseconds(9) });

        Assert.That(pace.Changed, Is.EqualTo("backing off"));
        Assert.That(pace.Pause, Is.EqualTo(Batch));
        Assert.That(pace.Signal, Is.EqualTo("probe 9.0 ms while the app is active (limit 3.0 ms, 1.0 ms between batches)"));
    }

    [Test]
    public void A_probe_as_slow_between_batches_as_during_them_is_the_apps_own_load_and_no_reason_to_wait()
    {
        var controller = Steered();
        var busyApp = Clear with { ProbeBetween = TimeSpan.FromMilliseconds(10) };
        foreach (var _ in Enumerable.Range(0, 10))
        {
            controller.Next(Batch, busyApp);
        }

        var pace = controller.Next(Batch, Clear with { Probe = TimeSpan.FromMilliseconds(12) });

        Assert.That((pace.Pause, pace.Signal), Is.EqualTo((TimeSpan.Zero, (string?)null)));
    }

    [Test]
    public void A_probe_that_stays_slow_stretches_the_pause_to_four_batches_and_never_hibernates()
    {
        var controller = Steered();

        var paces = Enumerable.Range(0, 100).Select(_ => controller.Next(Batch, Clear with { Probe = TimeSpan.FromMilliseconds(50) })).ToList();

        Assert.That(paces.Max(p => p.Pause), Is.EqualTo(Batch * 4));
        Assert.That(paces.Select(p => p.Hibernate), Has.None.True);
    }

    [Test]
    public void While_the_app_is_active_and_no_probe_ran_between_batches_for_two_seconds_one_pause_is_long_enough_for_two()
    {
        var controller = Steered();

        var pauses = Enumerable.Range(0, 200).Select(_ => controller.Next(Batch, Clear).Pause.TotalMilliseconds).ToList();

        Assert.That(pauses.Take(99), Has.All.EqualTo(0), "2 s of 20 ms batches");
        Assert.That(pauses[99], Is.EqualTo(45));
        Assert.That(pauses.Count(p => p > 0), Is.EqualTo(pauses.Count / 100), "one pause every two seconds, none between");
    }

    [Test]
    public void A_slow_probe_with_nobody_else_using_the_database_is_not_a_reason_to_wait()
    {
        var pace = Steered().Next(Batch, Clear with { AppActive = false, Probe = TimeSpan.FromMilliseconds(50) });

        Assert.That((pace.Pause, pace.Signal), Is.EqualTo((TimeSpan.Zero, (string?)null)));
    }

    [Test]
    public void The_pause_doubles_while_a_signal_stays_bad_and_halves_to_nothing_once_it_clears()
    {
        var controller = Steered();
        var vacuum = Clear with { Vacuumed = "platform.users" };

        var backingOff = Enumerable.Range(0, 4).Select(_ => controller.Next(Batch, vacuum).Pause.TotalMilliseconds).ToList();
        var recovering = Enumerable.Range(0, 8).Select(_ => controller.Next(Batch, Clear)).ToList();

        Assert.That(backingOff, Is.EqualTo(new[] { 20.0, 40, 80, 160 }));
        Assert.That(controller.BackedOff, Is.EqualTo(TimeSpan.FromMilliseconds(300)));
        Assert.That(recovering[0].Changed, Is.EqualTo("speeding up"));
        Assert.That(recovering.Select(p => p.Pause.TotalMilliseconds), Is.EqualTo(new[] { 80.0, 40, 20, 10, 5, 2.5, 1.25, 0 }));
    }

    [Test]
    public void Another_signal_taking_the_place_of_the_first_is_announced_too()
    {
        var controller = Steered();

        var turns = new[] { Clear with { Probe = TimeSpan.FromMilliseconds(9) }, Clear with { Probe = TimeSpan.FromMilliseconds(7) }, Clear with { Vacuumed = "platform.users" } }
            .Select(health => controller.Next(Batch, health).Changed).ToList();

        Assert.That(turns, Is.EqualTo(new[] { "backing off", null, "backing off" }));
    }

    [Test]
    public void A_signal_bad_for_longer_than_the_hibernation_limit_asks_the_loop_to_hibernate()
    {
        var controller = Steered();
        var lagging = Clear with { ReplicationLag = 100L << 20 };

        var paces = Enumerable.Range(0, 12).Select(_ => controller.Next(Batch, lagging)).ToList();

        Assert.That(paces[0].Signal, Is.EqualTo("a replication slot 100 MB behind (limit 64 MB)"));
        Assert.That(paces.Select(p => p.Hibernate), Has.Some.True, "2 s pauses add up to the 10 s limit");
        Assert.That(paces.TakeWhile(p => !p.Hibernate).Sum(p => (p.Pause + Batch).TotalSeconds), Is.GreaterThanOrEqualTo(10 - 2.1));
    }

    [Test]
    public void The_batch_size_grows_while_batches_are_short_to_twice_its_start_and_shrinks_while_they_are_long_to_a_tenth()
    {
        var controller = Steered();

        var grown = Enumerable.Range(0, 100).Select(_ => controller.Next(TimeSpan.FromMilliseconds(5), Clear).BatchSize).ToList();
        var shrunk = Enumerable.Range(0, 100).Select(_ => controller.Next(TimeSpan.FromMilliseconds(200), Clear).BatchSize).ToList();

        Assert.That(grown, Is.Ordered.Ascending);
        Assert.That(grown[^1], Is.EqualTo(2000));
        Assert.That(shrunk, Is.Ordered.Descending);
        Assert.That(shrunk[^1], Is.EqualTo(100));
    }

    [Test]
    public void A_fixed_batch_size_and_a_fixed_pause_ratio_are_kept_whatever_the_signals_say()
    {
        var controller = Steered(fixedPause: 0.25, fixedSize: true);

        var pace = controller.Next(TimeSpan.FromMilliseconds(200), Clear with { Vacuumed = "platform.users" });

        Assert.That((pace.BatchSize, pace.Pause), Is.EqualTo((1000, TimeSpan.FromMilliseconds(50))));
    }

    [TestCase("batch-ms=40,latency=3", 40, 3.0)]
    [TestCase("", 25, 2.0)]
    public void Limits_are_read_from_name_value_pairs(string text, double batchMs, double latency)
    {
        var steering = BackfillSteering.Parse(text);

        Assert.That((steering.TargetBatch.TotalMilliseconds, steering.LatencyFactor), Is.EqualTo((batchMs, latency)));
    }

    [Test]
    public async Task An_unknown_limit_is_one_line_on_stderr_and_changes_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();

        var result = await db.RunAsync("migrate", "up", "--backfill-limits", "speed=11");

        Assert.That(result.ExitCode, Is.Not.EqualTo(0));
        Assert.That(result.Stderr.Trim(), Does.Contain("--backfill-limits: unknown limit 'speed'").And.Not.Contain("\n"));
        Assert.That(await db.RecordedVersionsAsync(), Is.Empty);
    }

    [Test]
    [NonParallelizable] // its subject is timing: a VACUUM and a backfill at the same time
    public async Task A_backfill_backs_off_when_a_VACUUM_works_on_its_table_hibernates_while_it_lasts_and_completes_once_it_ends()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 600);
        var expected = await ExpectedByRuleAsync(db);
        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_BATCH_DELAY_MS"] = "50" };

        using var runner = RunnerProcess.Start(environment, "migrate", "up", "--to", "8", "--batch-size", "10", "--backfill-steer", "--backfill-limits", "hibernate-s=0.5");
        var clock = Stopwatch.StartNew();
        while (await FilledAsync(db) is < 20)
        {
            Assert.That(runner.HasExited, Is.False, "the backfill was over before the VACUUM could start");
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromMinutes(2)), "the backfill never started");
            await Task.Delay(20);
        }

        // The cost-based delay makes a VACUUM of a few pages last as long as the test needs it.
        await using var vacuumSession = await db.OpenAsync();
        var vacuumPid = await ScalarAsync<int>(vacuumSession, "SELECT pg_backend_pid()");
        await ExecuteAsync(vacuumSession, "SET vacuum_cost_delay = 100");
        await ExecuteAsync(vacuumSession, "SET vacuum_cost_limit = 1");
        var vacuum = ExecuteAsync(vacuumSession, "VACUUM platform.users");
        while (await db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 'platform.users'::regclass") == 0)
        {
            Assert.That(vacuum.IsCompleted, Is.False, "the VACUUM ended before it was seen");
            await Task.Delay(10);
        }

        while (!runner.Output.Contains("hibernating", StringComparison.Ordinal))
        {
            Assert.That(runner.HasExited, Is.False, runner.Output);
            await Task.Delay(20);
        }

        var filledWhileHibernating = await FilledAsync(db);
        await Task.Delay(1500);
        Assert.That(await FilledAsync(db), Is.EqualTo(filledWhileHibernating), "no batch ran while it hibernated");
        await db.ExecuteAsync($"SELECT pg_cancel_backend({vacuumPid})");
        Assert.That(async () => await vacuum, Throws.InstanceOf<PostgresException>());

        var result = await runner.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain("backfill active_org_id: backing off: VACUUM running on platform.users;"));
        Assert.That(result.Stderr, Does.Contain("backfill active_org_id: hibernating: VACUUM running on platform.users"));
        Assert.That(result.Stderr, Does.Match(@"backfill active_org_id: resuming after \d+\.\d s of hibernation"));
        Assert.That(result.Stderr, Does.Match(@"backfill active_org_id: finished, .*; backed off \d+\.\d s, hibernated \d+\.\d s"));
        Assert.That(await ActiveOrgsAsync(db), Is.EqualTo(expected), "every member user has the organization the rule picks");
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
