namespace OgelBase.Migrations.Tests.Support;

/// <summary>Expected rows for collection assertions in the schema tests (keeps constant arrays out of call sites).</summary>
internal static class Rows
{
    public static List<string> Of(params string[] rows) => [.. rows];

    /// <summary>The first column of every row <paramref name="sql"/> returns, as text (<c>&lt;null&gt;</c> for NULL).</summary>
    public static async Task<List<string>> ColumnAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.IsDBNull(0) ? "<null>" : Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return values;
    }
}
