using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

public sealed record ImpactLine(RemovedObject Removed, long Rows);

/// <summary>What reverting a migration removes, with the rows behind each object counted on the live database.</summary>
public static class RollbackImpact
{
    public static async Task<IReadOnlyList<ImpactLine>> MeasureAsync(FluentMigrator.IMigration migration, long version, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var lines = new List<ImpactLine>();
        foreach (var removed in Removals(migration, version))
        {
            lines.Add(new ImpactLine(removed, await CountAsync(removed, connection, cancellationToken)));
        }

        return lines;
    }

    /// <summary>
    /// The tables a version's Up created and the columns it added to tables it did not create, read from its manifest,
    /// with what the migration says more about them (<see cref="IRollbackOverrides"/>).
    /// </summary>
    private static List<RemovedObject> Removals(FluentMigrator.IMigration migration, long version)
    {
        var creates = Postconditions.For(version)?.Creates.Select(c => c.Item).Where(o => Postconditions.Creates(version, o)).ToList() ?? [];
        var tables = creates.Where(o => o.Kind == "table").Select(o => o.Identity).ToHashSet();
        var derived = creates
            .Where(o => o.Kind == "table" || (o.Kind == "column" && !tables.Contains(o.Identity[..o.Identity.LastIndexOf('.')])))
            .Select(o => o.Identity.Split('.'))
            .Select(p => p.Length == 2 ? RemovedObject.TableOf(p[0], p[1]) : RemovedObject.ColumnOf(p[0], p[1], p[2]))
            .ToList();
        var overrides = (migration as IRollbackOverrides)?.RollbackOverrides ?? [];
        return derived.Where(d => !overrides.Any(o => o.Name == d.Name)).Concat(overrides).OrderBy(r => r.Kind).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();
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
