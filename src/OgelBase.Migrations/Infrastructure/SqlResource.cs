using System.Reflection;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// The SQL files embedded from <c>Migrations/M0NN/</c>. Their text goes to <c>Execute.Sql</c> unchanged, so a dry run
/// shows it and the runner needs no embedded-resource scanning of its own.
/// </summary>
public static class SqlResource
{
    private static readonly Assembly Assembly = typeof(SqlResource).Assembly;

    /// <param name="path">Relative to the Migrations folder, e.g. <c>M010/rebuild_acl.sql</c>.</param>
    public static string Read(string path)
    {
        var name = "OgelBase.Migrations.Migrations." + path.Replace('/', '.');
        using var stream = Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded SQL file {name} is missing from {Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
