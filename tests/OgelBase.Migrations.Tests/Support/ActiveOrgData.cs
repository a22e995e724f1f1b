using System.Globalization;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>Seeding and reading helpers for the 008 tests; plain SQL, never the migration's own code.</summary>
internal static class ActiveOrgData
{
    public const string SetFunction = "platform.set_user_active_org(uuid,uuid)";
    public const string GetFunction = "platform.get_user_active_org(uuid)";

    /// <summary>The version just below 8 that ordinary runs reach (7 is opt-in); rollbacks go back to it.</summary>
    public const string Below8 = "6";

    public static async Task<Guid> OrgAsync(TestDatabase db, string slug, Guid? id = null)
    {
        var orgId = id ?? Guid.NewGuid();
        await ExecuteAsync(db, "INSERT INTO platform.organizations (id, name, slug) VALUES (@id, @name, @slug)",
            ("id", orgId), ("name", "Org " + slug), ("slug", slug));
        return orgId;
    }

    public static async Task<Guid> UserAsync(TestDatabase db, string name)
    {
        var userId = Guid.NewGuid();
        await ExecuteAsync(db, "INSERT INTO platform.users (id, email) VALUES (@id, @email)", ("id", userId), ("email", name + "@example.test"));
        return userId;
    }

    public static async Task MemberAsync(TestDatabase db, Guid org, Guid user, DateTimeOffset? joinedAt, string role = "member") =>
        await ExecuteAsync(db, "INSERT INTO platform.organization_members (organization_id, user_id, role, joined_at) VALUES (@org, @user, @role, @joined)",
            ("org", org), ("user", user), ("role", role), ("joined", joinedAt.HasValue ? joinedAt.Value.UtcDateTime : null));

    /// <summary>
    /// <paramref name="users"/> users, each a member of 1–3 of <paramref name="orgs"/> organizations with varied joined_at
    /// (some NULL, some equal), and every seventh user with no membership at all.
    /// </summary>
    public static async Task SeedManyAsync(TestDatabase db, int users, int orgs = 6)
    {
        await db.ExecuteAsync($"""
            INSERT INTO platform.organizations (name, slug)
            SELECT 'Bulk org ' || g, 'bulk-org-' || g FROM generate_series(1, {orgs}) g;
            INSERT INTO platform.users (email)
            SELECT 'bulk' || g || '@example.test' FROM generate_series(1, {users}) g;
            WITH numbered AS (
              SELECT u.id, row_number() OVER (ORDER BY u.email) AS n FROM platform.users u WHERE u.email LIKE 'bulk%'
            ), orgs AS (
              SELECT o.id, row_number() OVER (ORDER BY o.slug) AS k FROM platform.organizations o WHERE o.slug LIKE 'bulk-org-%'
            )
            INSERT INTO platform.organization_members (organization_id, user_id, role, joined_at)
            SELECT o.id, u.id, 'member',
                   CASE WHEN (u.n + o.k) % 5 = 0 THEN NULL
                        WHEN u.n % 4 = 0 THEN timestamptz '2024-01-01'
                        ELSE timestamptz '2024-01-01' + ((u.n * 7 + o.k * 13) % 90) * interval '1 day' END
            FROM numbered u JOIN orgs o ON (u.n + o.k) % 3 = 0 OR (u.n * o.k) % 4 = 1
            WHERE u.n % 7 <> 0;
            """);
    }

    /// <summary>Users the backfill has given an active organization so far (0 before the column exists).</summary>
    public static async Task<long> FilledAsync(TestDatabase db) =>
        await ColumnExistsAsync(db) ? await db.ScalarAsync<long>("SELECT count(*) FROM platform.users WHERE active_org_id IS NOT NULL") : 0;

    /// <summary>user id → active_org_id (null when NULL), for every user.</summary>
    public static async Task<Dictionary<Guid, Guid?>> ActiveOrgsAsync(TestDatabase db)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, active_org_id FROM platform.users", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var map = new Dictionary<Guid, Guid?>();
        while (await reader.ReadAsync())
        {
            map[reader.GetGuid(0)] = reader.IsDBNull(1) ? null : reader.GetGuid(1);
        }

        return map;
    }

    /// <summary>
    /// The backfill rule of docs/schema-facts.md §8.3 computed here, independently of the migration's SQL: the organization of the
    /// membership with the earliest joined_at, NULL joined_at last, ties broken by the smaller organization id
    /// (PostgreSQL orders uuids bytewise, which is the ordinal order of their lowercase text). No membership: null.
    /// </summary>
    public static async Task<Dictionary<Guid, Guid?>> ExpectedByRuleAsync(TestDatabase db)
    {
        var memberships = new List<(Guid User, Guid Org, DateTime? Joined)>();
        await using (var connection = await db.OpenAsync())
        {
            await using var command = new NpgsqlCommand("SELECT user_id, organization_id, joined_at FROM platform.organization_members", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                memberships.Add((reader.GetGuid(0), reader.GetGuid(1), reader.IsDBNull(2) ? null : reader.GetDateTime(2)));
            }
        }

        var users = await db.ColumnAsync("SELECT id FROM platform.users");
        var expected = users.Select(Guid.Parse).ToDictionary(u => u, _ => (Guid?)null);
        foreach (var group in memberships.GroupBy(m => m.User))
        {
            var first = group
                .OrderBy(m => m.Joined.HasValue ? 0 : 1)
                .ThenBy(m => m.Joined ?? DateTime.MaxValue)
                .ThenBy(m => m.Org.ToString("D"), StringComparer.Ordinal)
                .First();
            expected[group.Key] = first.Org;
        }

        return expected;
    }

    public static async Task<bool> ColumnExistsAsync(TestDatabase db) =>
        await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('platform.users') AND attname = 'active_org_id' AND NOT attisdropped)");

    public static async Task<int> TimesVersionRecordedAsync(TestDatabase db, long version) =>
        await db.ScalarAsync<int>($"SELECT count(*)::int FROM ogelbase_migrations.version_info WHERE version = {version.ToString(CultureInfo.InvariantCulture)}");

    public static async Task ExecuteAsync(TestDatabase db, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        await command.ExecuteNonQueryAsync();
    }

    public static async Task<T> ScalarAsync<T>(TestDatabase db, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default! : (T)result;
    }
}
