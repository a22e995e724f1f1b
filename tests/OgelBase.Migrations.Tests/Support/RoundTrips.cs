namespace OgelBase.Migrations.Tests.Support;

/// <summary>Round trips through the runner that the tests of several migrations assert in the same words.</summary>
public static class RoundTrips
{
    /// <summary>
    /// On a database without uuid-ossp, migrating up to <paramref name="version"/> creates the extension, and rollback
    /// to 0 then drops schema platform, the extension and every record of what the migrations created.
    /// </summary>
    public static async Task AssertRollbackTo0DropsSchemaPlatformAndTheExtensionItCreatedAsync(string version)
    {
        await using var db = await TestDatabase.CreateAsync();
        Assert.That(await Catalog.ExtensionExistsAsync(db, "uuid-ossp"), Is.False, "the test needs a database without uuid-ossp");
        await db.UpAsync("--to", version);
        Assert.That(await Catalog.ExtensionExistsAsync(db, "uuid-ossp"), Is.True);

        await db.RollbackAsync("0");
        Assert.That(await Catalog.SchemaExistsAsync(db, "platform"), Is.False);
        Assert.That(await Catalog.ExtensionExistsAsync(db, "uuid-ossp"), Is.False);
        Assert.That(await db.ScalarAsync<long>($"SELECT count(*) FROM {CreatedObjects.Table}"), Is.Zero);
    }

    /// <summary>On a database that had uuid-ossp before, rollback to 0 after <paramref name="version"/> drops schema platform and keeps the extension.</summary>
    public static async Task AssertRollbackTo0KeepsAUuidOsspThatExistedBeforeAsync(string version)
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE EXTENSION \"uuid-ossp\"");
        await db.UpAsync("--to", version);

        await db.RollbackAsync("0");
        Assert.That(await Catalog.SchemaExistsAsync(db, "platform"), Is.False);
        Assert.That(await Catalog.ExtensionExistsAsync(db, "uuid-ossp"), Is.True);
    }

    /// <summary>
    /// Migrating up to <paramref name="version"/>, rolling back to 0 (schema platform is gone) and migrating up again
    /// gives the catalog the first run gave.
    /// </summary>
    public static async Task AssertUpDownUpGivesAnIdenticalCatalogAsync(string version)
    {
        await using var db = await TestDatabase.MigratedAsync("--to", version);
        var first = await Catalog.SnapshotAsync(db);

        await db.RollbackAsync("0");
        Assert.That(await Catalog.SnapshotAsync(db), Does.Contain("schema platform absent"));

        await db.UpAsync("--to", version);
        Assert.That(await Catalog.SnapshotAsync(db), Is.EqualTo(first));
    }

    /// <summary>
    /// Rollback to <paramref name="target"/> refuses while <paramref name="table"/> holds its one row, naming it and
    /// keeping the table, and removes the table once --allow-data-loss is given.
    /// </summary>
    public static async Task AssertRollbackRefusesOverARowThenDropsWithAllowDataLossAsync(TestDatabase db, string target, string table)
    {
        var refused = await db.RunAsync("rollback", target);
        Assert.That(refused.ExitCode, Is.Not.EqualTo(0), refused.ToString());
        Assert.That(refused.ToString(), Does.Contain($"table {table} (1 row)"));
        Assert.That(await Catalog.ExistsAsync(db, table), Is.True);

        await db.RollbackAsync(target, "--allow-data-loss");
        Assert.That(await Catalog.ExistsAsync(db, table), Is.False);
    }
}
