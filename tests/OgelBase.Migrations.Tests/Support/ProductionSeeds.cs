namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// Production has the Lancio organization, its project and the two Railway rows; these test-only values (never real
/// ones) let migrations 4 and 6 insert them, so a test database looks like production.
/// </summary>
public static class ProductionSeeds
{
    public static IDictionary<string, string?> Values => new Dictionary<string, string?>
    {
        ["OGELBASE_LANCIO_BILLING_EMAIL"] = "billing@example.test",
        ["OGELBASE_BLACKWHALE_DB_PASSWORD"] = "test-only-blackwhale-password",
        ["OGELBASE_RAILWAY_MONGODB_PASSWORD"] = "test-only-mongo-password",
        ["OGELBASE_RAILWAY_REDIS_PASSWORD"] = "test-only-redis-password",
    };

    /// <summary>
    /// A database in production's state before the runner: the Up of every default version through
    /// <paramref name="to"/> applied (1–6 and 8 by default), then the version table dropped, as hand-applied SQL leaves it.
    /// </summary>
    public static async Task<TestDatabase> HandAppliedAsync(string to = "8")
    {
        var db = await TestDatabase.MigratedAsync(Values, "--to", to);
        await db.ExecuteAsync("DROP TABLE ogelbase_migrations.version_info");
        return db;
    }
}
