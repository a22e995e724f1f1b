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
    /// <summary>The usual probe, written once here: the table, column or function the migration creates exists.</summary>
    /// <param name="name">The schema-qualified table (for a column, its table) or function signature.</param>
    public PresenceProbeAttribute(PresenceOf kind, string name, string? column = null)
        : this(
            kind switch
            {
                PresenceOf.Table => $"table {name}",
                PresenceOf.Column => $"column {name}.{column}",
                _ => $"function {name}",
            },
            kind switch
            {
                PresenceOf.Table => $"to_regclass('{name}') IS NOT NULL",
                PresenceOf.Column => $"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('{name}') AND attname = '{column}' AND NOT attisdropped)",
                _ => $"to_regprocedure('{name}') IS NOT NULL",
            })
    {
    }

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

/// <summary>What kind of object a <see cref="PresenceProbeAttribute"/> looks for.</summary>
public enum PresenceOf
{
    Table,
    Column,
    Function,
}
