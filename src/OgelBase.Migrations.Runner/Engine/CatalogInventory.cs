using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// One schema object as verify and baseline see it: a kind, a stable identity, and the facts about it that are
/// cheap to compare and exact in the spec (a column's type and nullability, a constraint's type). Definitions
/// written differently but meaning the same (CHECK text, view bodies) are deliberately not compared: production
/// was built by hand-run files whose exact text we do not have.
/// </summary>
public sealed record CatalogObject(string Kind, string Identity, string Facts)
{
    public override string ToString() => Facts.Length == 0 ? $"{Kind} {Identity}" : $"{Kind} {Identity} ({Facts})";

    public string Line => $"{Kind}\t{Identity}\t{Facts}";

    public static CatalogObject Parse(string line)
    {
        var parts = line.Split('\t');
        return new CatalogObject(parts[0], parts[1], parts.Length > 2 ? parts[2] : "");
    }
}

/// <summary>
/// A manifest line that holds only when an opt-in version is (<c>with:7</c>) or is not (<c>without:7</c>) applied:
/// some migrations adapt to whether 7's restrictive policies are in force (10 does).
/// </summary>
public sealed record ConditionalObject(CatalogObject Item, long? With, long? Without)
{
    public bool Holds(IReadOnlySet<long> applied) =>
        (With is not { } w || applied.Contains(w)) && (Without is not { } wo || !applied.Contains(wo));

    public static ConditionalObject Parse(string line)
    {
        var parts = line.Split('\t');
        long? with = null, without = null;
        if (parts.Length > 3 && parts[3].Length > 0)
        {
            var condition = parts[3].Split(':');
            var version = long.Parse(condition[1], System.Globalization.CultureInfo.InvariantCulture);
            if (condition[0] == "with")
            {
                with = version;
            }
            else
            {
                without = version;
            }
        }

        return new ConditionalObject(CatalogObject.Parse(string.Join('\t', parts.Take(3))), with, without);
    }
}

/// <summary>Reads every object of schema platform from pg_catalog (never information_schema, which hides what the role cannot use).</summary>
public static class CatalogInventory
{
    private const string Sql = """
        WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = @schema)
        SELECT 'table', format('%s.%s', ns.nspname, c.relname), ''
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('r','p')
        UNION ALL
        SELECT 'view', format('%s.%s', ns.nspname, c.relname), ''
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('v','m')
        UNION ALL
        SELECT 'column', format('%s.%s.%s', ns.nspname, c.relname, a.attname),
               format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
         WHERE c.relkind IN ('r','p') AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT 'index', format('%s.%s', ns.nspname, c.relname), CASE WHEN i.indisunique THEN 'unique' ELSE '' END
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace
        UNION ALL
        SELECT 'constraint', format('%s.%s.%s', ns.nspname, c.relname, k.conname),
               CASE k.contype WHEN 'c' THEN 'check' WHEN 'f' THEN 'foreign key' WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique' ELSE k.contype::text END
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN ns ON ns.oid = c.relnamespace
         WHERE k.contype <> 'n' -- PostgreSQL 18's NOT NULL constraints: nullability is the column's fact on every version
        UNION ALL
        SELECT 'function', format('%s.%s(%s)', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), ''
          FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
        UNION ALL
        SELECT 'trigger', format('%s.%s.%s', ns.nspname, c.relname, t.tgname), ''
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace WHERE NOT t.tgisinternal
        UNION ALL
        SELECT 'policy', format('%s.%s.%s', ns.nspname, c.relname, pol.polname), ''
          FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN ns ON ns.oid = c.relnamespace
        UNION ALL
        SELECT 'rls', format('%s.%s', ns.nspname, c.relname), ''
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relrowsecurity
        """;

    public static async Task<HashSet<CatalogObject>> ReadAsync(NpgsqlConnection connection, string schema = "platform", CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(Sql, connection);
        command.Parameters.AddWithValue("schema", schema);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var objects = new HashSet<CatalogObject>();
        while (await reader.ReadAsync(cancellationToken))
        {
            objects.Add(new CatalogObject(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }

        return objects;
    }

    /// <summary>Indexes that exist but are not valid (a failed CREATE INDEX CONCURRENTLY) and constraints not yet validated.</summary>
    public static async Task<HashSet<string>> ReadInvalidAsync(NpgsqlConnection connection, string schema = "platform", CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT format('index %s.%s', n.nspname, c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = @schema AND NOT (i.indisvalid AND i.indisready)
            UNION ALL
            SELECT format('constraint %s.%s.%s', n.nspname, c.relname, k.conname) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = @schema AND NOT k.convalidated
            """, connection);
        command.Parameters.AddWithValue("schema", schema);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var invalid = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            invalid.Add(reader.GetString(0));
        }

        return invalid;
    }
}
