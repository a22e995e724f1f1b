using FluentMigrator.Runner.Constraints;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// Holds a migration back from every ordinary <c>migrate up</c>. It runs only when the runner is
/// given the tag <c>include-&lt;version&gt;</c> (the CLI's <c>--include &lt;version&gt;</c>).
/// A FluentMigrator constraint rather than a tag, so the migration stays loaded: <c>status</c>
/// can explain it and <c>rollback</c> can revert it once someone did opt in.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class OptInAttribute : MigrationConstraintAttribute
{
    public const string TagPrefix = "include-";

    public OptInAttribute(long version, string reason)
        : base(context => context.RunnerOptions?.Tags?.Contains(TagFor(version)) == true)
    {
        Version = version;
        Reason = reason;
    }

    public long Version { get; }

    public string Reason { get; }

    public static string TagFor(long version) => TagPrefix + version;
}
