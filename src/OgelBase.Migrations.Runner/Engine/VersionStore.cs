using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <param name="Checksum">What this version executed when it was applied (<see cref="Checksums"/>); null when an older build recorded it.</param>
public sealed record AppliedVersion(long Version, DateTime? AppliedOn, string? Description, string? Checksum = null)
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

        // A table recorded by a build older than checksums has no such column; reading must not add it.
        await using var command = new NpgsqlCommand(
            $"""
            SELECT version, applied_on, description,
                   CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(@t) AND attname = 'checksum' AND NOT attisdropped)
                        THEN (to_jsonb(v) ->> 'checksum') END
            FROM {QualifiedTable} v ORDER BY version
            """, connection);
        command.Parameters.AddWithValue("t", QualifiedTable);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var versions = new List<AppliedVersion>();
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(new AppliedVersion(
                reader.GetInt64(0),
                reader.IsDBNull(1) ? null : DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3)));
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
        // The tool's own tiny tables; still, no DDL here may queue behind a stray lock for long.
        var sql = $"""
            SET LOCAL lock_timeout = '5s';
            CREATE SCHEMA IF NOT EXISTS "{VersionTable.Schema}";
            CREATE TABLE IF NOT EXISTS {QualifiedTable} (version bigint NOT NULL);
            ALTER TABLE {QualifiedTable} ADD COLUMN IF NOT EXISTS applied_on timestamp;
            ALTER TABLE {QualifiedTable} ADD COLUMN IF NOT EXISTS description varchar(1024);
            ALTER TABLE {QualifiedTable} ADD COLUMN IF NOT EXISTS checksum text;
            CREATE UNIQUE INDEX IF NOT EXISTS "{new VersionTable().UniqueIndexName}" ON {QualifiedTable} (version);
            {CreatedObjects.CreateTableSql};
            """;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Records the checksum of what this build executes for an applied version.</summary>
    public static async Task RecordChecksumAsync(NpgsqlConnection connection, long version, string checksum, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand($"UPDATE {QualifiedTable} SET checksum = @checksum WHERE version = @version", connection);
        command.Parameters.AddWithValue("checksum", checksum);
        command.Parameters.AddWithValue("version", version);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Refuses to act on a database migrated by hand and never baselined (production): no version is recorded, yet
    /// schema <c>platform</c> holds objects. Every verb but <c>baseline</c> asks before it changes, or previews, anything.
    /// </summary>
    public static async Task RefuseUnrecordedSchemaAsync(NpgsqlConnection connection, IReadOnlyList<AppliedVersion> applied, string verb, CancellationToken cancellationToken)
    {
        if (applied.Count > 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand(
            """
            SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) + (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)
            FROM pg_namespace n WHERE n.nspname = @schema
            """, connection);
        command.Parameters.AddWithValue("schema", Platform.Schema);
        if (await command.ExecuteScalarAsync(cancellationToken) is long objects and > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"{verb} refused: schema platform already holds {objects} objects but no migration is recorded in {QualifiedTable}; " +
                "this database was migrated by hand. Run 'baseline --dry-run', then 'baseline', to record what it has. Nothing was changed.");
        }
    }
}
