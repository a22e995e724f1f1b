namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// Production-only values that data migrations 004 and 006 need. They never live in the repository:
/// the runner reads them from the environment (see README, "Production seed values"). When a value is
/// missing the data step changes nothing and says so, which is the case on every dev and CI database.
/// </summary>
public sealed class ProductionSeedOptions
{
    public const string LancioBillingEmailVariable = "OGELBASE_LANCIO_BILLING_EMAIL";
    public const string BlackWhaleDbPasswordVariable = "OGELBASE_BLACKWHALE_DB_PASSWORD";
    public const string LancioOwnerUserIdVariable = "OGELBASE_LANCIO_OWNER_USER_ID";
    public const string RailwayMongoPasswordVariable = "OGELBASE_RAILWAY_MONGODB_PASSWORD";
    public const string RailwayRedisPasswordVariable = "OGELBASE_RAILWAY_REDIS_PASSWORD";
    public const string RailwayMongoDatabaseVariable = "OGELBASE_RAILWAY_MONGODB_DATABASE";

    public string? LancioBillingEmail { get; init; }
    public string? BlackWhaleDatabasePassword { get; init; }
    public Guid? LancioOwnerUserId { get; init; }
    public string? RailwayMongoPassword { get; init; }
    public string? RailwayRedisPassword { get; init; }
    public string? RailwayMongoDatabase { get; init; }

    /// <summary>The variables, of those given with their values, that are not set: what a skipped data step names.</summary>
    public static List<string> Unset(params (string Variable, object? Value)[] values) =>
        [.. values.Where(v => v.Value is null).Select(v => v.Variable)];

    public static ProductionSeedOptions FromEnvironment(Func<string, string?> get)
    {
        static string? Clean(string? v) => string.IsNullOrWhiteSpace(v) ? null : v.Trim();
        return new ProductionSeedOptions
        {
            LancioBillingEmail = Clean(get(LancioBillingEmailVariable)),
            BlackWhaleDatabasePassword = Clean(get(BlackWhaleDbPasswordVariable)),
            LancioOwnerUserId = Guid.TryParse(Clean(get(LancioOwnerUserIdVariable)), out var id) ? id : null,
            RailwayMongoPassword = Clean(get(RailwayMongoPasswordVariable)),
            RailwayRedisPassword = Clean(get(RailwayRedisPasswordVariable)),
            RailwayMongoDatabase = Clean(get(RailwayMongoDatabaseVariable)),
        };
    }
}
