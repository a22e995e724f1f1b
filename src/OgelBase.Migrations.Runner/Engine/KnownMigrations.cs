using System.Reflection;
using FluentMigrator;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// A migration this build carries, with everything it declares in attributes; read once, here, without touching a
/// database (what needs an instance, its rollback overrides and code-step statements, the migration says itself).
/// </summary>
public sealed record KnownMigration(
    long Version,
    string Description,
    Type Type,
    bool Transactional,
    OptInAttribute? OptIn,
    PresenceProbeAttribute? Probe,
    IReadOnlyList<PreconditionAttribute> Preconditions,
    ReplacesHandAppliedAttribute? ReplacesHandApplied,
    IReadOnlyList<SupersedesChecksumAttribute> EarlierShapes)
{
    public string Label => $"{Version:000} {Description}";
}

/// <summary>The migrations in the migrations assembly, by version.</summary>
public static class KnownMigrations
{
    public static Assembly Assembly => typeof(VersionTable).Assembly;

    public static IReadOnlyList<KnownMigration> All { get; } = Load();

    public static KnownMigration? Find(long version) => All.FirstOrDefault(m => m.Version == version);

    private static List<KnownMigration> Load() =>
        Assembly.GetTypes()
            .Where(t => typeof(IMigration).IsAssignableFrom(t) && !t.IsAbstract)
            .Select(t => (Type: t, Attribute: t.GetCustomAttribute<MigrationAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => new KnownMigration(
                x.Attribute!.Version,
                x.Attribute.Description ?? x.Type.Name,
                x.Type,
                x.Attribute.TransactionBehavior == TransactionBehavior.Default,
                x.Type.GetCustomAttribute<OptInAttribute>(),
                x.Type.GetCustomAttribute<PresenceProbeAttribute>(),
                x.Type.GetCustomAttributes<PreconditionAttribute>().ToList(),
                x.Type.GetCustomAttribute<ReplacesHandAppliedAttribute>(),
                x.Type.GetCustomAttributes<SupersedesChecksumAttribute>().ToList()))
            .OrderBy(m => m.Version)
            .ToList();
}
