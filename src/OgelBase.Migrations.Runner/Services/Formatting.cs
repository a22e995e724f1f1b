using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Services;

/// <summary>How every verb writes versions and the database's state in its messages, so they read the same everywhere.</summary>
internal static class Formatting
{
    public static string Describe(IReadOnlyList<AppliedVersion> applied) =>
        applied.Count == 0 ? "no migration applied" : $"database at version {applied.Max(a => a.Version):000} ({applied.Count} applied)";

    public static string Versions(IEnumerable<long> versions) => string.Join(", ", versions.Select(v => v.ToString("000", System.Globalization.CultureInfo.InvariantCulture)));
}
