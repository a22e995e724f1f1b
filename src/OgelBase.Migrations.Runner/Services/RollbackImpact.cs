using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Services;

public sealed record ImpactLine(RemovedObject Removed, long Rows);

/// <summary>What reverting a migration removes, with the rows behind each object counted on the live database.</summary>
public static class RollbackImpact
{
    public static async Task<IReadOnlyList<ImpactLine>> MeasureAsync(FluentMigrator.IMigration migration, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (migration is not IRollbackManifest manifest)
        {
            return [];
        }

        var lines = new List<ImpactLine>();
        foreach (var removed in manifest.RemovedByDown)
        {
            lines.Add(new ImpactLine(removed, await CountAsync(removed, connection, cancellationToken)));
        }

        return lines;
    }

    private static async Task<long> CountAsync(RemovedObject removed, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var table = $"{Quote(removed.Schema)}.{Quote(removed.Table)}";
        await using (var exists = new NpgsqlCommand(
            "SELECT to_regclass(@t) IS NOT NULL AND (@c::text IS NULL OR EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(@t) AND attname = @c AND NOT attisdropped))",
            connection))
        {
            exists.Parameters.AddWithValue("t", table);
            exists.Parameters.AddWithValue("c", (object?)removed.Column ?? DBNull.Value);
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                return 0;
            }
        }

        var sql = removed.Kind switch
        {
            RemovedKind.Table => $"SELECT count(*) FROM {table}",
            // A RowFilter on a column narrows the count to the values the next up cannot derive again.
            RemovedKind.Column => $"SELECT count(*) FROM {table} WHERE {Quote(removed.Column!)} IS NOT NULL{(removed.RowFilter is null ? "" : $" AND ({removed.RowFilter})")}",
            _ => $"SELECT count(*) FROM {table} WHERE {removed.RowFilter}",
        };
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
}
