namespace OgelBase.Migrations.Infrastructure;

/// <summary>SQL kept in .sql files next to their migration (embedded as sql/&lt;path under Migrations&gt;).</summary>
public static class MigrationSql
{
    public static string Read(string path)
    {
        using var stream = typeof(MigrationSql).Assembly.GetManifestResourceStream("sql/" + path)
            ?? throw new InvalidOperationException($"embedded SQL resource sql/{path} is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
