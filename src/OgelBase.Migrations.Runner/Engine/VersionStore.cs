using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

public sealed record AppliedVersion(long Version, DateTime? AppliedOn, string? Description)
{
    public const string BaselineMarker = "[baselined] ";

    public bool Baselined => Description?.StartsWith(BaselineMarker, StringComparison.Ordinal) == true;
}

/// <summary>Reads the version table with plain SQL: reading must never create it (status, dry runs).</summary>
public static class VersionStore
{
    public static string QualifiedTable => $"\"{VersionTable.Schema}\".\"{VersionTable.Table}\"";

    public static async Task<IReadOnlyList<AppliedVersion>> ReadAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        await using (var exists = new NpgsqlCommand("SELECT to_regclass(@t) IS NOT NULL", connection))
        {
            exists.Parameters.AddWithValue("t", QualifiedTable);
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                return [];
            }
        }

        await using var command = new NpgsqlCommand($"SELECT version, applied_on, description FROM {QualifiedTable} ORDER BY version", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var versions = new List<AppliedVersion>();
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(new AppliedVersion(
                reader.GetInt64(0),
                reader.IsDBNull(1) ? null : DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc),
                reader.IsDBNull(2) ? null : reader.GetString(2)));
        }

        return versions;
    }

    /// <summary>
    /// The tool's own schema and its tables, created (or completed) in one transaction under the migration lock.
    /// FluentMigrator would build its version table in three separately committed steps; a run killed between them
    /// left a table without applied_on that failed every later run. Created whole here, FluentMigrator finds it done.
    /// </summary>
    public static async Task EnsureSchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            CREATE SCHEMA IF NOT EXISTS "{VersionTable.Schema}";
            CREATE TABLE IF NOT EXISTS {QualifiedTable} (version bigint NOT NULL);
            ALTER TABLE {QualifiedTable} ADD COLUMN IF NOT EXISTS applied_on timestamp;
            ALTER TABLE {QualifiedTable} ADD COLUMN IF NOT EXISTS description varchar(1024);
            CREATE UNIQUE INDEX IF NOT EXISTS "{new VersionTable().UniqueIndexName}" ON {QualifiedTable} (version);
            {CreatedObjects.CreateTableSql};
            """;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// What schema <c>platform</c> holds, when no version is recorded: a database built by hand (production)
    /// must be baselined before this tool may touch it.
    /// </summary>
    public static async Task<int> CountPlatformObjectsAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) + (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)
            FROM pg_namespace n WHERE n.nspname = @schema
            """, connection);
        command.Parameters.AddWithValue("schema", Platform.Schema);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? 0 : Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
