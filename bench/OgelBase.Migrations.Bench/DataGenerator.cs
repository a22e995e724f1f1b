using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// Loads the benchmark data set with set-based SQL (generate_series), in chunks so it can report progress: N users,
/// N/5 organizations, and 0–6 memberships per user with a random joined_at (2 % NULL, which the backfill sorts last).
/// Ids are derived from the row number (<c>md5('u' || n)::uuid</c>, <c>md5('o' || n)::uuid</c>): as scattered over the
/// key space as uuid_generate_v4() values, yet the traffic can name any existing user or organization without
/// reading them first.
/// </summary>
public static class DataGenerator
{
    private const int Chunk = 50_000;

    public static int OrganizationCount(int users) => Math.Max(2, users / 5);

    public static Guid UserId(long n) => IdFor("u", n);

    public static Guid OrganizationId(long n) => IdFor("o", n);

    public static async Task<DataSetCounts> GenerateAsync(NpgsqlDataSource data, int users, TextWriter log, CancellationToken cancellationToken)
    {
        var organizations = OrganizationCount(users);
        var clock = Stopwatch.StartNew();
        await using var connection = await data.OpenConnectionAsync(cancellationToken);

        await ChunkedAsync(connection, "organizations", organizations, """
            INSERT INTO platform.organizations (id, name, slug, created_at, updated_at)
            SELECT md5('o' || g)::uuid, 'Bench organization ' || g, 'bench-org-' || g, now() - random() * interval '1500 days', now()
            FROM generate_series(@lo::bigint, @hi::bigint) g
            """, log, cancellationToken);

        await ChunkedAsync(connection, "users", users, """
            INSERT INTO platform.users (id, email, username, first_name, last_name, email_confirmed_at, last_sign_in_at, created_at, updated_at)
            SELECT md5('u' || g)::uuid, 'user' || g || '@bench.example.com', 'user_' || g, 'First' || (g % 1000), 'Last' || (g % 997),
                   now() - interval '1000 days', now() - random() * interval '30 days', now() - random() * interval '1000 days', now()
            FROM generate_series(@lo::bigint, @hi::bigint) g
            """, log, cancellationToken);

        // k in 0..6 per user: the LATERAL series refers to g, so random() is drawn again for every user. Two draws of the
        // same organization for one user collapse through the unique (organization_id, user_id) constraint.
        await ChunkedAsync(connection, "memberships (users done)", users, $"""
            INSERT INTO platform.organization_members (organization_id, user_id, role, joined_at, created_at, updated_at)
            SELECT md5('o' || (1 + floor(random() * {organizations})::bigint))::uuid,
                   md5('u' || g)::uuid,
                   (ARRAY['owner', 'admin', 'developer', 'billing_admin', 'member'])[1 + floor(random() * 5)::int],
                   CASE WHEN random() < 0.02 THEN NULL ELSE now() - random() * interval '1000 days' END,
                   now(), now()
            FROM generate_series(@lo::bigint, @hi::bigint) g
            CROSS JOIN LATERAL generate_series(1, floor(random() * 7)::int + (g * 0)::int) k
            ON CONFLICT (organization_id, user_id) DO NOTHING
            """, log, cancellationToken);

        log.WriteLine($"data: VACUUM ANALYZE and CHECKPOINT, so neither autovacuum nor a checkpoint of the load lands in the measurement");
        foreach (var sql in new[]
                 {
                     "VACUUM (ANALYZE) platform.organizations",
                     "VACUUM (ANALYZE) platform.users",
                     "VACUUM (ANALYZE) platform.organization_members",
                     "CHECKPOINT",
                 })
        {
            await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        var counts = await CountAsync(connection, cancellationToken);
        log.WriteLine($"data: {counts.Users} users, {counts.Organizations} organizations, {counts.Memberships} memberships, {counts.UsersWithoutMembership} users without membership; generated in {clock.Elapsed.TotalSeconds:0.0} s");
        return counts with { Seconds = clock.Elapsed.TotalSeconds };
    }

    private static async Task ChunkedAsync(NpgsqlConnection connection, string what, long total, string sql, TextWriter log, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        for (long lo = 1; lo <= total; lo += Chunk)
        {
            var hi = Math.Min(total, lo + Chunk - 1);
            await using (var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 })
            {
                command.Parameters.AddWithValue("lo", lo);
                command.Parameters.AddWithValue("hi", hi);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            if (hi == total || clock.Elapsed - lastReport >= TimeSpan.FromSeconds(3))
            {
                lastReport = clock.Elapsed;
                log.WriteLine($"data: {what} {hi:N0}/{total:N0} ({100.0 * hi / total:0}%), {hi / Math.Max(0.001, clock.Elapsed.TotalSeconds):N0}/s");
            }
        }
    }

    public static async Task<DataSetCounts> CountAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM platform.users),
                   (SELECT count(*) FROM platform.organizations),
                   (SELECT count(*) FROM platform.organization_members),
                   (SELECT count(*) FROM platform.users u WHERE NOT EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = u.id))
            """, connection) { CommandTimeout = 0 };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new DataSetCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), 0);
    }

    private static Guid IdFor(string prefix, long n)
    {
        // Same bytes as md5(prefix || n)::uuid on the server: the uuid's text is the md5 hex digest.
#pragma warning disable CA5351 // not security: md5 is how the generator SQL derives ids, and this must match it
        var hash = MD5.HashData(Encoding.ASCII.GetBytes(prefix + n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
#pragma warning restore CA5351
        return Guid.ParseExact(Convert.ToHexStringLower(hash), "N");
    }
}

public sealed record DataSetCounts(long Users, long Organizations, long Memberships, long UsersWithoutMembership, double Seconds);
