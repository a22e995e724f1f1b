namespace OgelBase.Migrations.Tests.Support;

/// <summary>Expected rows for collection assertions in the schema tests (keeps constant arrays out of call sites).</summary>
internal static class Rows
{
    public static List<string> Of(params string[] rows) => [.. rows];
}
