using FluentMigrator.Runner.VersionTableInfo;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// Where the tool records applied versions. It lives in its own schema, never in <c>platform</c>:
/// a full rollback drops <c>platform</c>, and the record of that rollback must survive it.
/// </summary>
public sealed class VersionTable : IVersionTableMetaData
{
    public const string Schema = "ogelbase_migrations";
    public const string Table = "version_info";

    // The tool creates the schema itself (under the migration lock) and never drops it.
    public bool OwnsSchema => false;
    public string SchemaName => Schema;
    public string TableName => Table;
    public string ColumnName => "version";
    public string DescriptionColumnName => "description";
    public string UniqueIndexName => "uc_version_info_version";
    public string AppliedOnColumnName => "applied_on";
    public bool CreateWithPrimaryKey => false;
}
