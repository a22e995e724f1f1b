namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// SQL for shared objects (extensions, schemas) that a migration creates only when absent. The Up records
/// in <c>ogelbase_migrations.created_objects</c> that it was the one to create the object; the Down drops it
/// only in that case, so an extension or schema that existed before the Up is left alone.
/// The runner creates that table with the version schema, before any migration runs.
/// </summary>
public static class CreatedObjects
{
    public const string Table = VersionTable.Schema + ".created_objects";

    public const string CreateTableSql =
        "CREATE TABLE IF NOT EXISTS " + Table + " (kind text NOT NULL, name text NOT NULL, version bigint NOT NULL, " +
        "created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name))";

    public static string CreateExtensionIfAbsent(string extension, long version) =>
        CreateIfAbsent("extension", extension, $"SELECT 1 FROM pg_extension WHERE extname = '{extension}'", $"CREATE EXTENSION \"{extension}\"", version);

    public static string DropExtensionIfCreated(string extension, long version) =>
        DropIfCreated("extension", extension, $"DROP EXTENSION IF EXISTS \"{extension}\"", version);

    public static string CreateSchemaIfAbsent(string schema, long version) =>
        CreateIfAbsent("schema", schema, $"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'", $"CREATE SCHEMA \"{schema}\"", version);

    /// <summary>Drops the schema only if this migration created it, and only when it is empty (no CASCADE, ever).</summary>
    public static string DropSchemaIfCreated(string schema, long version) =>
        DropIfCreated("schema", schema, $"DROP SCHEMA IF EXISTS \"{schema}\" RESTRICT", version);

    private static string CreateIfAbsent(string kind, string name, string existsQuery, string create, long version) => $"""
        DO $ogel$
        BEGIN
          IF NOT EXISTS ({existsQuery}) THEN
            {create};
            INSERT INTO {Table} (kind, name, version) VALUES ('{kind}', '{name}', {version}) ON CONFLICT DO NOTHING;
          END IF;
        END
        $ogel$;
        """;

    private static string DropIfCreated(string kind, string name, string drop, long version) => $"""
        DO $ogel$
        BEGIN
          IF EXISTS (SELECT 1 FROM {Table} WHERE kind = '{kind}' AND name = '{name}' AND version = {version}) THEN
            {drop};
            DELETE FROM {Table} WHERE kind = '{kind}' AND name = '{name}' AND version = {version};
          END IF;
        END
        $ogel$;
        """;
}
