using System.Globalization;
using NpgsqlTypes;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// Sends one statement the way the Studio app's queryPlatformDatabase does (apps/studio/lib/api/platform/database.ts):
/// a POST to pg-meta's /query with { query, parameters }, which pg-meta hands to node-postgres as
/// <c>pool.query(sql, parameters)</c>. node-postgres sends every parameter as text with type OID 0 (unknown), after
/// its prepareValue: strings as they are, numbers and booleans as their text, arrays as array literals, objects as
/// JSON, null as NULL. The server infers each parameter's type from the statement. One statement per request, no
/// transaction around it (autocommit), as the connecting role (Railway's <c>postgres</c>, a superuser).
/// </summary>
public static class PgMetaQuery
{
    public static async Task<List<Dictionary<string, object?>>> RunAsync(string connectionString, string sql, IReadOnlyList<object?> parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Unknown, Value = NodePgText(value) });
        }

        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Dictionary<string, object?>>();
        while (await reader.ReadAsync())
        {
            var row = new Dictionary<string, object?>();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>node-postgres' prepareValue, for the value kinds the app passes.</summary>
    public static object NodePgText(object? value) => value switch
    {
        null => DBNull.Value,
        string s => s,
        bool b => b ? "true" : "false",
        Guid g => g.ToString(),
        DateTimeOffset d => d.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        string[] items => "{" + string.Join(",", items.Select(i => "\"" + i.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"")) + "}",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"no node-postgres text form for {value.GetType().Name}"),
    };
}
