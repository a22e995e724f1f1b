namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// How <c>baseline</c> tells that a database migrated by hand already has this migration: one cheap boolean SQL
/// expression over <c>pg_catalog</c> (never information_schema, which hides what the probing role cannot use), true
/// once the migration's main object exists. Where that holds, every object of the migration's post-condition manifest
/// must be there too, or baseline reports the version as partly present.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class PresenceProbeAttribute(string evidence, string sql) : Attribute
{
    /// <summary>What the probe looks for, in words (e.g. "table platform.credentials").</summary>
    public string Evidence { get; } = evidence;

    /// <summary>A boolean SQL expression.</summary>
    public string Sql { get; } = sql;

    /// <summary>
    /// A relation the expression reads: when it does not exist the migration is absent, and the expression is not run
    /// (a query naming a missing table cannot even be planned).
    /// </summary>
    public string? Requires { get; set; }
}
