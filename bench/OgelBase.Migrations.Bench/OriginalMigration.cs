using System.Diagnostics;
using Npgsql;

namespace OgelBase.Migrations.Bench;

/// <summary>
/// The baseline: what the original 008 and 008_rollback.sql did (docs/schema-facts.md §8), written fresh from the spec and run directly
/// with Npgsql. Everything in ONE transaction: the column with its FK, a plain CREATE INDEX, the comment, the two
/// functions and a single correlated backfill UPDATE; the rollback likewise. No lock_timeout, as in the original.
/// Only the timing behaviour matters here, so the function bodies follow §8.2 only as far as their shape.
/// </summary>
public static class OriginalMigration
{
    private static readonly (string Step, string Sql)[] UpSteps =
    [
        ("ALTER TABLE platform.users ADD COLUMN active_org_id uuid REFERENCES platform.organizations (id) ON DELETE SET NULL",
            "ALTER TABLE platform.users ADD COLUMN active_org_id uuid REFERENCES platform.organizations (id) ON DELETE SET NULL"),
        ("CREATE INDEX idx_users_active_org ON platform.users (active_org_id) WHERE active_org_id IS NOT NULL",
            "CREATE INDEX idx_users_active_org ON platform.users (active_org_id) WHERE active_org_id IS NOT NULL"),
        ("COMMENT ON COLUMN platform.users.active_org_id",
            "COMMENT ON COLUMN platform.users.active_org_id IS 'Currently selected organization of the user (session context); must be one of the user''s organizations.'"),
        ("CREATE FUNCTION platform.set_user_active_org(uuid, uuid)", """
            CREATE OR REPLACE FUNCTION platform.set_user_active_org(p_user_id uuid, p_org_id uuid)
            RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $fn$
            BEGIN
              IF NOT EXISTS (SELECT 1 FROM platform.organization_members WHERE user_id = p_user_id AND organization_id = p_org_id) THEN
                RAISE EXCEPTION 'user is not a member of organization %', p_org_id;
              END IF;
              UPDATE platform.users SET active_org_id = p_org_id, updated_at = now() WHERE id = p_user_id;
              RETURN true;
            EXCEPTION WHEN OTHERS THEN
              RAISE EXCEPTION 'could not set the active organization: %', SQLERRM;
            END
            $fn$
            """),
        ("CREATE FUNCTION platform.get_user_active_org(uuid)", """
            CREATE OR REPLACE FUNCTION platform.get_user_active_org(p_user_id uuid)
            RETURNS TABLE (organization_id uuid, organization_slug text, organization_name text, user_role text)
            LANGUAGE plpgsql STABLE AS $fn$
            BEGIN
              RETURN QUERY
              SELECT o.id, o.slug, o.name, m.role
              FROM platform.users u
              JOIN platform.organizations o ON o.id = u.active_org_id
              JOIN platform.organization_members m ON m.organization_id = o.id AND m.user_id = u.id
              WHERE u.id = p_user_id;
            END
            $fn$
            """),
        ("COMMENT ON FUNCTION x2",
            "COMMENT ON FUNCTION platform.set_user_active_org(uuid, uuid) IS 'Sets the active organization of a user who is a member of it.'; " +
            "COMMENT ON FUNCTION platform.get_user_active_org(uuid) IS 'The active organization of a user and the user''s role in it.'"),
        ("UPDATE platform.users (correlated backfill from the earliest membership)", """
            UPDATE platform.users u
            SET active_org_id = (
              SELECT m.organization_id FROM platform.organization_members m
              WHERE m.user_id = u.id
              ORDER BY m.joined_at ASC NULLS LAST
              LIMIT 1)
            WHERE u.active_org_id IS NULL
              AND EXISTS (SELECT 1 FROM platform.organization_members m WHERE m.user_id = u.id)
            """),
    ];

    private static readonly (string Step, string Sql)[] DownSteps =
    [
        ("DROP FUNCTION platform.get_user_active_org(uuid)", "DROP FUNCTION IF EXISTS platform.get_user_active_org(uuid)"),
        ("DROP FUNCTION platform.set_user_active_org(uuid, uuid)", "DROP FUNCTION IF EXISTS platform.set_user_active_org(uuid, uuid)"),
        ("DROP INDEX platform.idx_users_active_org", "DROP INDEX IF EXISTS platform.idx_users_active_org"),
        ("ALTER TABLE platform.users DROP COLUMN active_org_id", "ALTER TABLE platform.users DROP COLUMN IF EXISTS active_org_id"),
    ];

    public static Task<MigrationWindow> UpAsync(NpgsqlDataSource data, Stopwatch clock, TextWriter log, CancellationToken cancellationToken) =>
        RunAsync("migrate", "original 008 (one transaction)", UpSteps, data, clock, log,
            // §8.4: the check after the commit.
            "SELECT 'active_org_id present, users with an active organization: ' || count(*) FILTER (WHERE active_org_id IS NOT NULL) FROM platform.users", cancellationToken);

    public static Task<MigrationWindow> DownAsync(NpgsqlDataSource data, Stopwatch clock, TextWriter log, CancellationToken cancellationToken) =>
        RunAsync("rollback", "original 008_rollback (one transaction)", DownSteps, data, clock, log,
            // §8.5: the check after the commit.
            """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.users'::regclass AND attname = 'active_org_id' AND NOT attisdropped)
                          OR to_regprocedure('platform.get_user_active_org(uuid)') IS NOT NULL
                          OR to_regprocedure('platform.set_user_active_org(uuid,uuid)') IS NOT NULL
                          OR to_regclass('platform.idx_users_active_org') IS NOT NULL
                        THEN 'rollback incomplete' ELSE 'rollback verified: column, index and functions gone' END
            """, cancellationToken);

    private static async Task<MigrationWindow> RunAsync(string name, string command, (string Step, string Sql)[] steps, NpgsqlDataSource data,
        Stopwatch clock, TextWriter log, string verifySql, CancellationToken cancellationToken)
    {
        var lines = new List<StepLine>();
        void Line(string text)
        {
            var line = new StepLine(clock.Elapsed.TotalSeconds, text);
            lines.Add(line);
            log.WriteLine($"  [{name} {line.At,8:0.000}s] {text}");
        }

        var begin = clock.Elapsed.TotalSeconds;
        var exit = 0;
        try
        {
            await using var connection = await data.OpenConnectionAsync(cancellationToken);
            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
            {
                Line("BEGIN");
                foreach (var (step, sql) in steps)
                {
                    Line(step);
                    await using var statement = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = 0 };
                    var rows = await statement.ExecuteNonQueryAsync(cancellationToken);
                    if (rows > 0)
                    {
                        Line($"  {rows} rows");
                    }
                }

                Line("COMMIT");
                await transaction.CommitAsync(cancellationToken);
            }

            Line("committed");
            await using var verify = new NpgsqlCommand(verifySql, connection) { CommandTimeout = 0 };
            Line($"{await verify.ExecuteScalarAsync(cancellationToken)}");
        }
        catch (PostgresException e)
        {
            Line($"failed: {e.SqlState} {e.MessageText}");
            exit = 1;
        }

        return new MigrationWindow(name, command, begin, clock.Elapsed.TotalSeconds, exit, lines);
    }
}
