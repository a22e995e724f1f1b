using System.Text;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>The object counts of docs/schema-facts.md §0, taken from pg_catalog.</summary>
public sealed record PlatformCounts(
    int Tables, int Views, int Functions, int Triggers, int Indexes, int Policies, int RlsTables, int Checks, int ForeignKeys);

public sealed record ColumnFacts(string Name, string Type, bool NotNull, string? Default);

/// <summary>Catalog reads for assertions. Everything goes through pg_catalog, never information_schema.</summary>
public static class Catalog
{
    /// <summary>
    /// The privilege letters of a table owner's full grant as this server writes them in an ACL: PostgreSQL 17 added
    /// MAINTAIN (<c>m</c>), so 15 and 16 write <c>arwdDxt</c> and 17 and later <c>arwdDxtm</c> for the same GRANT ALL.
    /// </summary>
    public static string AllTablePrivileges => PostgresServer.MajorVersion >= 17 ? "arwdDxtm" : "arwdDxt";

    public static async Task<PlatformCounts> CountsAsync(TestDatabase db, string schema = "platform")
    {
        await using var connection = await db.OpenForQueryAsync();
        const string sql = """
            WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = @schema)
            SELECT
              (SELECT count(*) FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r','p'))::int,
              (SELECT count(*) FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('v','m'))::int,
              (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns))::int,
              (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = (SELECT oid FROM ns) AND NOT t.tgisinternal)::int,
              (SELECT count(*) FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('i','I'))::int,
              (SELECT count(*) FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid WHERE c.relnamespace = (SELECT oid FROM ns))::int,
              (SELECT count(*) FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind = 'r' AND c.relrowsecurity)::int,
              (SELECT count(*) FROM pg_constraint k WHERE k.connamespace = (SELECT oid FROM ns) AND k.contype = 'c')::int,
              (SELECT count(*) FROM pg_constraint k WHERE k.connamespace = (SELECT oid FROM ns) AND k.contype = 'f')::int
            """;
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("schema", schema);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new PlatformCounts(
            reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4),
            reader.GetInt32(5), reader.GetInt32(6), reader.GetInt32(7), reader.GetInt32(8));
    }

    /// <summary>Columns of a table in attribute order: name, formatted type, NOT NULL, default expression.</summary>
    public static async Task<List<ColumnFacts>> ColumnsAsync(TestDatabase db, string qualifiedTable)
    {
        await using var connection = await db.OpenForQueryAsync();
        const string sql = """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = to_regclass(@t) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """;
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("t", qualifiedTable);
        await using var reader = await command.ExecuteReaderAsync();
        var columns = new List<ColumnFacts>();
        while (await reader.ReadAsync())
        {
            columns.Add(new ColumnFacts(reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        }

        return columns;
    }

    /// <summary>
    /// Constraint name → pg_get_constraintdef, for one table. PostgreSQL 18 also records each NOT NULL as a constraint
    /// (contype 'n'); nullability is a column fact (<see cref="ColumnsAsync"/>) on every version, so those are left out here.
    /// </summary>
    public static async Task<Dictionary<string, string>> ConstraintsAsync(TestDatabase db, string qualifiedTable) =>
        await PairsAsync(db, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(@p) AND contype <> 'n' ORDER BY conname", qualifiedTable);

    /// <summary>Index name → pg_get_indexdef, for one table (PK and UNIQUE indexes included).</summary>
    public static async Task<Dictionary<string, string>> IndexesAsync(TestDatabase db, string qualifiedTable) =>
        await PairsAsync(db, "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(@p) ORDER BY 1", qualifiedTable);

    /// <summary>Trigger name → pg_get_triggerdef, for one table.</summary>
    public static async Task<Dictionary<string, string>> TriggersAsync(TestDatabase db, string qualifiedTable) =>
        await PairsAsync(db, "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(@p) AND NOT tgisinternal ORDER BY 1", qualifiedTable);

    /// <summary>Policy name → "cmd | permissive | roles | using | check", for one table.</summary>
    public static async Task<Dictionary<string, string>> PoliciesAsync(TestDatabase db, string qualifiedTable) =>
        await PairsAsync(db, """
            SELECT polname, concat_ws(' | ', polcmd::text, CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END,
                   (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY r) FROM unnest(polroles) r),
                   coalesce(pg_get_expr(polqual, polrelid), '-'), coalesce(pg_get_expr(polwithcheck, polrelid), '-'))
            FROM pg_policy WHERE polrelid = to_regclass(@p) ORDER BY 1
            """, qualifiedTable);

    /// <summary>
    /// Facts of one function given by signature, e.g. <c>platform.generate_slug(text)</c>:
    /// "lang=plpgsql volatility=i secdef=False config= returns=text", or null when it does not exist.
    /// </summary>
    public static async Task<string?> FunctionAsync(TestDatabase db, string signature)
    {
        await using var connection = await db.OpenForQueryAsync();
        const string sql = """
            SELECT format('lang=%s volatility=%s secdef=%s config=%s returns=%s',
                          l.lanname, p.provolatile, p.prosecdef, coalesce(array_to_string(p.proconfig, ','), ''),
                          pg_get_function_result(p.oid))
            FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = to_regprocedure(@p)
            """;
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("p", signature);
        return await command.ExecuteScalarAsync() as string;
    }

    /// <summary>
    /// Everything a run could have written: the schemas, the recorded versions with their checksums, and the snapshots
    /// of platform and of the tool's own schema. Equal before and after means the run touched nothing.
    /// </summary>
    public static async Task<string> ImageAsync(TestDatabase db)
    {
        var schemas = string.Join(",", await db.ColumnAsync("SELECT nspname FROM pg_namespace ORDER BY 1"));
        var versions = await db.ScalarAsync<bool>("SELECT to_regclass('ogelbase_migrations.version_info') IS NOT NULL")
            ? string.Join(",", await db.ColumnAsync("SELECT version || ' ' || coalesce(description, '') || ' ' || coalesce(to_jsonb(v) ->> 'checksum', '') FROM ogelbase_migrations.version_info v ORDER BY version"))
            : "no version table";
        return $"{schemas}\n{versions}\n{await SnapshotAsync(db)}\n{await SnapshotAsync(db, "ogelbase_migrations")}";
    }

    public static async Task<bool> ExtensionExistsAsync(TestDatabase db, string extension) =>
        await db.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = '{extension}')");

    public static async Task<bool> SchemaExistsAsync(TestDatabase db, string schema) =>
        await db.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{schema}')");

    public static async Task<bool> ExistsAsync(TestDatabase db, string qualifiedRelation) =>
        await db.ScalarAsync<bool>($"SELECT to_regclass('{qualifiedRelation.Replace("'", "''")}') IS NOT NULL");

    /// <summary>
    /// A deterministic text image of everything in a schema that a migration can create: relations, columns,
    /// constraints, indexes, functions (full definition, config, ACL), triggers, views, policies, RLS flags,
    /// privileges and comments, plus the database's extensions. Two databases with equal snapshots have the
    /// same schema for every purpose these migrations care about.
    /// </summary>
    public static async Task<string> SnapshotAsync(TestDatabase db, string schema = "platform")
    {
        await using var connection = await db.OpenForQueryAsync();
        var text = new StringBuilder();
        string[] queries =
        [
            "SELECT 'extension ' || extname FROM pg_extension ORDER BY 1",
            "SELECT 'schema ' || nspname || ' acl=' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = @s",
            """
            SELECT format('relation %s kind=%s rls=%s force=%s acl=%s comment=%s', c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                          coalesce(c.relacl::text, ''), coalesce(obj_description(c.oid, 'pg_class'), ''))
            FROM pg_class c WHERE c.relnamespace = @s::regnamespace ORDER BY 1
            """,
            """
            SELECT format('column %s.%s %s notnull=%s default=%s acl=%s comment=%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                          coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(a.attacl::text, ''), coalesce(col_description(c.oid, a.attnum), ''))
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = @s::regnamespace AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1
            """,
            "SELECT format('constraint %s.%s %s validated=%s', conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated) FROM pg_constraint WHERE connamespace = @s::regnamespace ORDER BY 1",
            "SELECT format('index %s valid=%s', pg_get_indexdef(i.indexrelid), i.indisvalid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = @s::regnamespace ORDER BY 1",
            """
            SELECT format('function %s acl=%s comment=%s%s%s', p.oid::regprocedure, coalesce(p.proacl::text, ''), coalesce(obj_description(p.oid, 'pg_proc'), ''),
                          chr(10), pg_get_functiondef(p.oid))
            FROM pg_proc p WHERE p.pronamespace = @s::regnamespace AND p.prokind IN ('f','p') ORDER BY p.oid::regprocedure::text
            """,
            "SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = @s::regnamespace AND NOT t.tgisinternal ORDER BY 1",
            "SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid)) FROM pg_class c WHERE c.relnamespace = @s::regnamespace AND c.relkind IN ('v','m') ORDER BY 1",
            """
            SELECT format('policy %s.%s cmd=%s permissive=%s roles=%s using=%s check=%s', c.relname, pol.polname, pol.polcmd, pol.polpermissive,
                          pol.polroles::text, coalesce(pg_get_expr(pol.polqual, pol.polrelid), ''), coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), ''))
            FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid WHERE c.relnamespace = @s::regnamespace ORDER BY 1
            """,
        ];
        foreach (var sql in queries)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            command.Parameters.AddWithValue("s", schema);
            try
            {
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    text.AppendLine(reader.GetString(0));
                }
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidSchemaName)
            {
                text.AppendLine($"schema {schema} absent");
                break;
            }
        }

        return text.ToString();
    }

    private static async Task<Dictionary<string, string>> PairsAsync(TestDatabase db, string sql, string parameter)
    {
        await using var connection = await db.OpenForQueryAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("p", parameter);
        await using var reader = await command.ExecuteReaderAsync();
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            pairs[reader.GetString(0)] = reader.GetString(1);
        }

        return pairs;
    }
}
