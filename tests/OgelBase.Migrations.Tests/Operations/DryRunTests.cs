using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>
/// Every --dry-run reads and nothing else: no schema, table or row is created, and the migration lock is not even
/// asked for, on a fresh database, on one migrated by hand and never baselined, and on a migrated one.
/// </summary>
public sealed class DryRunTests
{
    public enum Kind
    {
        Fresh,
        HandMigrated,
        Migrated,
    }

    private static readonly object[] Cases =
    [
        new object[] { Kind.Fresh, new[] { "migrate", "up", "--dry-run" }, 0 },
        new object[] { Kind.Fresh, new[] { "rollback", "7", "--dry-run" }, 0 },
        new object[] { Kind.Fresh, new[] { "rollback", "0", "--dry-run" }, 0 },
        new object[] { Kind.Fresh, new[] { "baseline", "--dry-run" }, 0 },
        new object[] { Kind.HandMigrated, new[] { "migrate", "up", "--dry-run" }, 1 },
        new object[] { Kind.HandMigrated, new[] { "rollback", "7", "--dry-run" }, 1 },
        new object[] { Kind.HandMigrated, new[] { "baseline", "--dry-run" }, 0 },
        new object[] { Kind.Migrated, new[] { "migrate", "up", "--dry-run", "--include", "7" }, 0 },
        new object[] { Kind.Migrated, new[] { "rollback", "0", "--dry-run" }, 0 },
        new object[] { Kind.Migrated, new[] { "rollback", "7", "--dry-run" }, 0 },
        new object[] { Kind.Migrated, new[] { "baseline", "--dry-run" }, 1 },
    ];

    [TestCaseSource(nameof(Cases))]
    public async Task A_dry_run_takes_no_lock_and_changes_nothing(Kind kind, string[] args, int expectedExit)
    {
        await using var db = await DatabaseAsync(kind);
        var before = await Catalog.ImageAsync(db);

        // Another session holds the migration lock all along: a dry run that asked for it would exit 3 after 1 s.
        await using var holder = await MigrationLock.HoldAsync(db);

        var result = await db.RunAsync([.. args, "--lock-timeout", "1"]);

        Assert.That(result.ExitCode, Is.EqualTo(expectedExit), result.ToString());
        Assert.That(result.Stderr, Does.Not.Contain("migration lock"), result.ToString());
        Assert.That(await Catalog.ImageAsync(db), Is.EqualTo(before), $"{string.Join(' ', args)} on a {kind} database changed it");
    }

    [Test]
    public async Task Rollback_dry_run_on_a_migrated_database_prints_what_each_down_removes_with_its_rows()
    {
        await using var db = await DatabaseAsync(Kind.Migrated);
        await db.ExecuteAsync("INSERT INTO platform.organizations (name, slug) VALUES ('Org', 'org-dry-run')");

        var result = await db.RunAsync("rollback", "0", "--dry-run");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stderr, Does.Contain("rows").And.Contain("needs --allow-data-loss").And.Contain("nothing was changed"));
    }

    internal static async Task<TestDatabase> DatabaseAsync(Kind kind)
    {
        var db = await TestDatabase.CreateAsync();
        if (kind == Kind.Fresh)
        {
            return db;
        }

        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        if (kind == Kind.HandMigrated)
        {
            // Production's state: the schema is there, no version is recorded.
            await db.ExecuteAsync("DROP SCHEMA ogelbase_migrations CASCADE");
        }

        return db;
    }

    /// <summary>Everything a run could create or change: the schemas, both schemas' catalog snapshot, the recorded versions.</summary>
}
