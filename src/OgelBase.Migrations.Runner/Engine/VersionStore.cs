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

    /// <summary>The tool's own schema. Created under the migration lock so concurrent first runs do not race.</summary>
    public static async Task EnsureSchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand($"CREATE SCHEMA IF NOT EXISTS \"{VersionTable.Schema}\"; {CreatedObjects.CreateTableSql}", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
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
