namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>
/// The object counts docs/schema-facts.md gives for each version (§0 for 6), reached by migrating up from nothing. One
/// table of versions, so that a migration that adds an object shows up as one changed row here.
/// </summary>
public sealed class SpecCountsTests
{
    private static IEnumerable<TestCaseData> SpecCounts()
    {
        yield return new TestCaseData("1", new PlatformCounts(3, 2, 5, 3, 15, 0, 0, 12, 2));
        yield return new TestCaseData("2", new PlatformCounts(13, 5, 9, 12, 60, 0, 0, 42, 13));
        yield return new TestCaseData("3", new PlatformCounts(25, 5, 12, 20, 123, 0, 0, 68, 31));
        yield return new TestCaseData("5", new PlatformCounts(25, 5, 15, 20, 128, 0, 0, 68, 31));
        yield return new TestCaseData("6", new PlatformCounts(26, 7, 21, 22, 136, 25, 25, 75, 32));
    }

    [TestCaseSource(nameof(SpecCounts))]
    public async Task Migrate_up_to_a_version_gives_the_spec_counts_for_that_version(string version, PlatformCounts expected)
    {
        await using var db = await TestDatabase.MigratedAsync("--to", version);
        Assert.That(await Catalog.CountsAsync(db), Is.EqualTo(expected));
    }
}
