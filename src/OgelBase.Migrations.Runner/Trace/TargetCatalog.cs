using Npgsql;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Trace;

/// <summary>
/// The target of a trace, read and never written: its session is READ ONLY (every transaction, so a bug here fails
/// instead of changing production), and its catalog reads wait at most a short lock_timeout.
/// </summary>
public sealed class TargetCatalog : IAsyncDisposable
{
    private TargetCatalog(NpgsqlConnection connection)
    {
        Connection = connection;
    }

    public NpgsqlConnection Connection { get; }

    public static async Task<TargetCatalog> OpenAsync(RunSettings settings, RunnerConsole console, CancellationToken cancellationToken)
    {
        var connection = await Database.ConnectAsync(settings, console, "trace, read-only", cancellationToken);
        try
        {
            // pg_total_relation_size opens each relation with ACCESS SHARE: behind a migration's ACCESS EXCLUSIVE on
            // the target it would wait, and the app would queue behind the wait; 2 s and it gives up.
            await using var command = new NpgsqlCommand("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET lock_timeout = '2s'; SET statement_timeout = '60s'", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return new TargetCatalog(connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The size of each named relation (<c>schema.name</c> as <c>format('%I.%I')</c> prints it); names the target does
    /// not have are <see cref="RelationSize.New"/>. Matched through the catalog, not to_regclass, which needs USAGE on the schema.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, RelationSize>> SizesAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var wanted = names.Distinct(StringComparer.Ordinal).ToArray();
        var sizes = wanted.ToDictionary(n => n, _ => RelationSize.New, StringComparer.Ordinal);
        await using var command = new NpgsqlCommand(
            """
            SELECT format('%I.%I', n.nspname, c.relname), c.reltuples::float8, pg_total_relation_size(c.oid), pg_relation_size(c.oid), c.relkind::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE format('%I.%I', n.nspname, c.relname) = ANY (@names)
            """, Connection);
        command.Parameters.AddWithValue("names", wanted);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var rows = reader.GetDouble(1);
                sizes[reader.GetString(0)] = new RelationSize(true, rows < 0 ? null : rows, reader.IsDBNull(2) ? 0 : reader.GetInt64(2), reader.IsDBNull(3) ? 0 : reader.GetInt64(3), reader.GetString(4));
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw new RunnerException(FailureKind.Failed, "trace: reading the target's table sizes waited 2 s for a lock another session holds on one of them; nothing was changed, try again.", e);
        }

        return sizes;
    }

    /// <summary>
    /// <c>CREATE SCHEMA auth; CREATE TABLE auth.users (...)</c> with the target's column names, types, NOT NULLs and
    /// primary key, or null when the target has no auth.users. A type of GoTrue's own (not in pg_catalog) becomes text:
    /// the scratch database has no such type, and 009 reads only built-in ones.
    /// </summary>
    public async Task<string?> AuthUsersDdlAsync(CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typnamespace = 'pg_catalog'::regnamespace, a.attnotnull,
                   EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey))
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid
            WHERE n.nspname = 'auth' AND c.relname = 'users' AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum
            """, Connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var columns = new List<string>();
        var key = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var name = Quote(reader.GetString(0));
            columns.Add($"{name} {(reader.GetBoolean(2) ? reader.GetString(1) : "text")}{(reader.GetBoolean(3) ? " NOT NULL" : "")}");
            if (reader.GetBoolean(4))
            {
                key.Add(name);
            }
        }

        if (columns.Count == 0)
        {
            return null;
        }

        if (key.Count > 0)
        {
            columns.Add($"PRIMARY KEY ({string.Join(", ", key)})");
        }

        return $"CREATE SCHEMA IF NOT EXISTS auth; CREATE TABLE auth.users ({string.Join(", ", columns)})";
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
