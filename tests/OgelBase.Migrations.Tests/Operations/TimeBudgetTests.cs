using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>
/// A pre-deploy gate must never hang a deploy: <c>--max-duration</c> stops at the next safe point (between backfill
/// batches, or between migrations), exits 4, and the next run resumes where it stopped.
/// </summary>
[NonParallelizable] // its subject is timing (a budget of seconds): it runs alone
public sealed class TimeBudgetTests
{
    [Test]
    public async Task A_spent_budget_stops_8_between_batches_unrecorded_and_the_next_run_completes_every_member_user()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        // One organization, every user a member: a seed that takes seconds, not the rule's corner cases (other tests have those).
        var org = await OrgAsync(db, "budget");
        await db.ExecuteAsync("INSERT INTO platform.users (email) SELECT 'budget' || g || '@example.test' FROM generate_series(1, 100000) g");
        await db.ExecuteAsync($"INSERT INTO platform.organization_members (organization_id, user_id, role) SELECT '{org}', id, 'member' FROM platform.users");
        var expected = await ExpectedByRuleAsync(db);

        // 10 ms after each of 1,000 batches of 100: the backfill outlasts the budget however fast the machine is.
        var stopped = await db.RunAsync(new Dictionary<string, string?> { ["OGELBASE_TEST_BATCH_DELAY_MS"] = "10" },
            "migrate", "up", "--to", "8", "--max-duration", "2", "--batch-size", "100");

        Assert.That(stopped.ExitCode, Is.EqualTo(4), stopped.ToString());
        Assert.That(stopped.Stderr, Does.Contain("time budget spent during 008").And.Contain("the next run resumes it"), stopped.ToString());
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(0));
        var filled = await db.ScalarAsync<long>("SELECT count(*) FROM platform.users WHERE active_org_id IS NOT NULL");
        Assert.That(filled, Is.GreaterThan(0).And.LessThan(expected.Values.Count(v => v is not null)), "part of the users were backfilled");

        var resumed = await db.RunAsync("migrate", "up", "--to", "8");

        Assert.That(resumed.ExitCode, Is.EqualTo(0), resumed.ToString());
        Assert.That(await TimesVersionRecordedAsync(db, 8), Is.EqualTo(1));
        Assert.That(await ActiveOrgsAsync(db), Is.EqualTo(expected), "every member user has the organization the rule picks");
    }

    [Test]
    public async Task A_budget_spent_before_the_next_migration_stops_there_naming_what_is_pending()
    {
        await using var db = await TestDatabase.CreateAsync();

        var stopped = await db.RunAsync(new Dictionary<string, string?> { ["OGELBASE_MAX_DURATION"] = "0.001" }, "migrate", "up");

        Assert.That(stopped.ExitCode, Is.EqualTo(4), stopped.ToString());
        Assert.That(stopped.Stderr, Does.Contain("time budget spent").And.Contain("the next run applies them"), stopped.ToString());
        var recorded = await db.RecordedVersionsAsync();
        Assert.That(recorded, Has.Count.LessThan(9), "the run stopped before the last migration");
    }

    [TestCase("0")]
    [TestCase("-3")]
    public async Task A_budget_that_is_not_a_positive_number_exits_2(string seconds)
    {
        await using var db = await TestDatabase.CreateAsync();
        var result = await db.RunAsync("migrate", "up", "--max-duration", seconds);
        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("--max-duration"));
        Assert.That(await db.RecordedVersionsAsync(), Is.Empty);
    }
}
