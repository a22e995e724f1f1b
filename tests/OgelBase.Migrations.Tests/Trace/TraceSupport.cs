using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Trace;

/// <summary>Running <c>trace</c> against a test database and reading what it printed and left behind.</summary>
internal static partial class TraceRun
{
    /// <summary>The waiver file CI uses.</summary>
    public static string Waivers => Path.Combine(RepositoryRoot.Path, ".ci", "lock-waivers.tsv");

    /// <summary><c>trace</c> in-process against <paramref name="db"/>, judged with CI's waivers.</summary>
    public static Task<CliResult> TraceAsync(TestDatabase db, params string[] args) => db.RunAsync(["trace", "--waivers", Waivers, .. args]);

    /// <summary>The scratch database a run says it created (its log line), or null.</summary>
    public static string? ScratchName(CliResult result) => ScratchCreated().Match(result.Stderr) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Every scratch database a trace could have left on the test server.</summary>
    public static async Task<List<string>> ScratchDatabasesAsync()
    {
        await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(@"SELECT datname FROM pg_database WHERE datname LIKE 'ogelbase\_trace\_%' ORDER BY 1", admin);
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>Everything the version table holds, applied_on included: a trace must not even touch a row.</summary>
    public static async Task<List<string>> VersionRowsAsync(TestDatabase db) =>
        await db.ColumnAsync("SELECT to_jsonb(v)::text FROM ogelbase_migrations.version_info v ORDER BY version");

    public static async Task<bool> VersionRowsTableExistsAsync(TestDatabase db) =>
        await db.ScalarAsync<bool>("SELECT to_regclass('ogelbase_migrations.version_info') IS NOT NULL");

    public static JsonElement Migration(JsonDocument report, long version) =>
        report.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == version);

    public static JsonElement Statement(JsonElement migration, string labelStart) =>
        migration.GetProperty("statements").EnumerateArray().First(s => s.GetProperty("label").GetString()!.StartsWith(labelStart, StringComparison.Ordinal));

    public static List<string> Locks(JsonElement statement) =>
        [.. statement.GetProperty("locks").EnumerateArray().Select(l => $"{l.GetProperty("relation").GetString()} {l.GetProperty("mode").GetString()}")];

    /// <summary>"rule version relation: message" for every finding not waived, and every waiver that matched nothing.</summary>
    public static List<string> NotWaived(JsonDocument report) =>
        [.. report.RootElement.GetProperty("migrations").EnumerateArray().SelectMany(m => m.GetProperty("findings").EnumerateArray())
            .Where(f => !f.GetProperty("waived").GetBoolean())
            .Select(f => $"{f.GetProperty("rule").GetString()} {f.GetProperty("version").GetInt64()} {f.GetProperty("relation").GetString()} ({f.GetProperty("statement").GetString()}): {f.GetProperty("message").GetString()}")
            .Concat(report.RootElement.GetProperty("unused_waivers").EnumerateArray().Select(w => $"waiver on line {w.GetProperty("line").GetInt32()} matches nothing"))];

    [GeneratedRegex(@"scratch database \S+/(ogelbase_trace_[0-9a-f]+) created")]
    private static partial Regex ScratchCreated();
}

/// <summary>
/// Rows in whichever platform tables a database has at its version (a few hundred each), written as the app would,
/// then analyzed so the catalog's estimates say so: what a trace judges its findings against.
/// </summary>
internal static class SeededRows
{
    public static Task SeedAsync(TestDatabase db, int rows = 300) => db.ExecuteAsync($$"""
        DO $seed$
        BEGIN
          IF to_regclass('platform.organizations') IS NOT NULL THEN
            INSERT INTO platform.organizations (name, slug) SELECT 'Seed org ' || g, 'seed-org-' || g FROM generate_series(1, {{rows}}) g;
          END IF;
          IF to_regclass('platform.projects') IS NOT NULL THEN
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password, postgres_meta_url, supabase_url)
            SELECT o.id, 'Project ' || o.slug, o.slug, 'ref' || o.slug, 'db.example.internal', 'postgres', 'app', 'pw', 'http://meta.example.internal', 'http://api.example.internal'
            FROM platform.organizations o WHERE o.slug LIKE 'seed-org-%';
          END IF;
          IF to_regclass('platform.payment_methods') IS NOT NULL THEN
            INSERT INTO platform.payment_methods (organization_id, stripe_payment_method_id, type)
            SELECT o.id, 'pm_' || o.slug, 'card' FROM platform.organizations o WHERE o.slug LIKE 'seed-org-%';
          END IF;
          IF to_regclass('platform.users') IS NOT NULL THEN
            INSERT INTO platform.users (email) SELECT 'seed' || g || '@example.test' FROM generate_series(1, {{rows}}) g;
            INSERT INTO platform.organization_members (organization_id, user_id, role)
            SELECT o.id, u.id, 'member'
            FROM (SELECT id, row_number() OVER (ORDER BY slug) n FROM platform.organizations WHERE slug LIKE 'seed-org-%') o
            JOIN (SELECT id, row_number() OVER (ORDER BY email) n FROM platform.users WHERE email LIKE 'seed%') u ON u.n = o.n;
          END IF;
          IF to_regclass('platform.audit_logs') IS NOT NULL THEN
            INSERT INTO platform.audit_logs (event_type, action) SELECT 'seed.row', 'seeded ' || g FROM generate_series(1, {{rows}}) g;
          END IF;
          IF to_regclass('auth.users') IS NOT NULL THEN
            INSERT INTO auth.users (id, email, created_at, raw_user_meta_data)
            SELECT gen_random_uuid(), 'gotrue' || g || '@example.test', now(), '{}' FROM generate_series(1, {{rows}}) g;
          END IF;
        END
        $seed$;
        ANALYZE;
        """);
}
