using static OgelBase.Migrations.Tests.Support.ActiveOrgData;

namespace OgelBase.Migrations.Tests.Migrations;

public sealed class M008_AddActiveOrgTrackingBackfillTests
{
    // Ids chosen so that the tie-break (smaller organization id) disagrees with insertion order.
    private static readonly Guid Low = Guid.Parse("10000000-0000-0000-0000-000000000001");
    private static readonly Guid Mid = Guid.Parse("80000000-0000-0000-0000-000000000002");
    private static readonly Guid High = Guid.Parse("f0000000-0000-0000-0000-000000000003");

    private static DateTimeOffset Day(int month, int day) => new(2024, month, day, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task Backfill_picks_the_earliest_joined_at_puts_null_joined_at_last_breaks_ties_by_organization_id_and_leaves_users_without_membership_null()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await OrgAsync(db, "high-org", High);
        await OrgAsync(db, "mid-org", Mid);
        await OrgAsync(db, "low-org", Low);

        var earliest = await UserAsync(db, "earliest");
        await MemberAsync(db, High, earliest, Day(3, 1));
        await MemberAsync(db, Mid, earliest, Day(1, 1));

        var nullLast = await UserAsync(db, "null.last");
        await MemberAsync(db, Low, nullLast, null);
        await MemberAsync(db, High, nullLast, Day(6, 1));

        var allNull = await UserAsync(db, "all.null");
        await MemberAsync(db, High, allNull, null);
        await MemberAsync(db, Low, allNull, null);

        var tie = await UserAsync(db, "tie");
        await MemberAsync(db, High, tie, Day(2, 1));
        await MemberAsync(db, Mid, tie, Day(2, 1));
        await MemberAsync(db, Low, tie, Day(2, 1));

        var none = await UserAsync(db, "no.membership");

        var result = await db.UpAsync("--to", "8");

        var active = await ActiveOrgsAsync(db);
        Assert.Multiple(() =>
        {
            Assert.That(active[earliest], Is.EqualTo(Mid), "earliest joined_at wins");
            Assert.That(active[nullLast], Is.EqualTo(High), "a NULL joined_at sorts after every date");
            Assert.That(active[allNull], Is.EqualTo(Low), "all NULL: smallest organization id");
            Assert.That(active[tie], Is.EqualTo(Low), "same joined_at: smallest organization id, not insertion order");
            Assert.That(active[none], Is.Null, "no membership, no active organization");
        });
        Assert.That(result.Stderr, Does.Contain("users: 5, with active org: 4, without any membership: 1"));
    }

    [Test]
    public async Task Backfill_over_many_small_batches_matches_the_rule_for_every_user()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await SeedManyAsync(db, users: 250);
        var expected = await ExpectedByRuleAsync(db);
        Assert.That(expected.Values.Count(v => v is null), Is.GreaterThan(10), "the seed has users without membership");

        var result = await db.UpAsync("--to", "8", "--batch-size", "7");

        Assert.That(await ActiveOrgsAsync(db), Is.EquivalentTo(expected));
        Assert.That(result.Stderr, Does.Contain($"users: 250, with active org: {expected.Values.Count(v => v is not null)}, without any membership: {expected.Values.Count(v => v is null)}"));
        Assert.That(result.Stderr, Does.Contain("backfill active_org_id: finished, 250/250 rows"), "a final progress line");
    }

    [Test]
    public async Task A_user_whose_active_org_is_already_set_keeps_it_when_8_runs_again_over_an_existing_column()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", Below8);
        await OrgAsync(db, "mid-org", Mid);
        await OrgAsync(db, "high-org", High);
        var chose = await UserAsync(db, "already.chose");
        await MemberAsync(db, Mid, chose, Day(1, 1));
        await MemberAsync(db, High, chose, Day(5, 1));
        var fresh = await UserAsync(db, "not.yet");
        await MemberAsync(db, High, fresh, Day(5, 1));
        await MemberAsync(db, Mid, fresh, Day(1, 1));

        // What an interrupted earlier run leaves: the column exists and the app has already written to it.
        await db.ExecuteAsync("ALTER TABLE platform.users ADD COLUMN active_org_id uuid");
        await ExecuteAsync(db, "UPDATE platform.users SET active_org_id = @org WHERE id = @user", ("org", High), ("user", chose));

        var result = await db.UpAsync("--to", "8");

        var active = await ActiveOrgsAsync(db);
        Assert.That(active[chose], Is.EqualTo(High), "an existing choice is never overwritten by the backfill");
        Assert.That(active[fresh], Is.EqualTo(Mid));
        Assert.That(result.Stderr, Does.Contain("ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS active_org_id uuid NULL: done; PostgreSQL: column \"active_org_id\" of relation \"users\" already exists, skipping"));
    }
}
