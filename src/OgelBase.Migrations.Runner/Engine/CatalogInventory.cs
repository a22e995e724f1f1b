using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// One schema object as verify, baseline and the check before recording see it: a kind, a stable identity, and its
/// definition as PostgreSQL itself prints it (a column's type, nullability and default; <c>pg_get_constraintdef</c>,
/// which says NOT VALID; <c>pg_get_indexdef</c> and whether the index is valid; <c>pg_get_triggerdef</c>; a function's
/// result, volatility, security and settings; a policy's command, roles and expressions). Function bodies and view
/// queries are not compared.
/// </summary>
public sealed record CatalogObject(string Kind, string Identity, string Facts)
{
    public override string ToString() => Facts.Length == 0 ? $"{Kind} {Identity}" : $"{Kind} {Identity} ({Facts})";

    public string Line => $"{Kind}\t{Identity}\t{Facts}";

    /// <summary>An index a failed CREATE INDEX CONCURRENTLY left, or a constraint not yet validated.</summary>
    public bool Invalid => Facts.EndsWith(" (INVALID)", StringComparison.Ordinal) || Facts.EndsWith(" NOT VALID", StringComparison.Ordinal);

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
    // Definitions on one line (a policy's subquery prints over several), so a manifest line is one object.
    private const string Sql = """
        WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = @schema)
        SELECT kind, identity, regexp_replace(facts, '\s+', ' ', 'g') FROM (
        SELECT 'table', format('%s.%s', ns.nspname, c.relname), ''
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('r','p')
        UNION ALL
        SELECT 'view', format('%s.%s', ns.nspname, c.relname), coalesce(array_to_string(c.reloptions, ', '), '')
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('v','m')
        UNION ALL
        SELECT 'column', format('%s.%s.%s', ns.nspname, c.relname, a.attname),
               format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                 || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relkind IN ('r','p') AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT 'index', format('%s.%s', ns.nspname, c.relname),
               pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid AND i.indisready THEN '' ELSE ' (INVALID)' END
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace
        UNION ALL
        SELECT 'constraint', format('%s.%s.%s', ns.nspname, c.relname, k.conname), pg_get_constraintdef(k.oid)
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN ns ON ns.oid = c.relnamespace
         WHERE k.contype <> 'n' -- PostgreSQL 18's NOT NULL constraints: nullability is the column's fact on every version
        UNION ALL
        SELECT 'function', format('%s.%s(%s)', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
               concat_ws(' ', 'returns ' || pg_get_function_result(p.oid), l.lanname,
                         CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
                         CASE WHEN p.prosecdef THEN 'security definer' END,
                         (SELECT string_agg('set ' || s, ' ' ORDER BY s) FROM unnest(p.proconfig) s))
          FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
        UNION ALL
        SELECT 'trigger', format('%s.%s.%s', ns.nspname, c.relname, t.tgname), pg_get_triggerdef(t.oid)
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace WHERE NOT t.tgisinternal
        UNION ALL
        SELECT 'policy', format('%s.%s.%s', ns.nspname, c.relname, pol.polname),
               concat_ws(' ', CASE WHEN pol.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                         'for ' || CASE pol.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END,
                         'to ' || (SELECT string_agg(n, ', ' ORDER BY n) FROM (SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(pol.polroles) r) roles (n)),
                         'using (' || pg_get_expr(pol.polqual, pol.polrelid) || ')',
                         'with check (' || pg_get_expr(pol.polwithcheck, pol.polrelid) || ')')
          FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN ns ON ns.oid = c.relnamespace
        UNION ALL
        SELECT 'rls', format('%s.%s', ns.nspname, c.relname), CASE WHEN c.relforcerowsecurity THEN 'forced' ELSE '' END
          FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relrowsecurity
        ) o (kind, identity, facts)
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
}
