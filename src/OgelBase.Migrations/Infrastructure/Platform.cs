using FluentMigrator.Builders.Create;
using FluentMigrator.Builders.Execute;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// The conventions every migration follows, and the helpers they share.
/// <list type="bullet">
/// <item>A migration declares <c>private const long Version = N;</c> and uses it in <c>[Migration(Version, ...)]</c> and
/// wherever it names its own version; no bare version literals.</item>
/// <item>SQL text names the schema literally (<c>platform.</c>), as the embedded .sql files must, so every statement
/// can be pasted into psql as it stands; the fluent API takes <see cref="Schema"/>.</item>
/// <item>Helpers take the object's name first, then its table: the order of <c>CREATE INDEX name ON table</c>.</item>
/// <item>A PL/pgSQL body longer than a screen lives in <c>Migrations/M0NN/*.sql</c>, read with <see cref="SqlResource"/>.</item>
/// <item>A migration never calls another migration's code; what two of them share lives here in Infrastructure.</item>
/// </list>
/// </summary>
public static class Platform
{
    public const string Schema = "platform";

    /// <summary>A plain ascending B-tree index on columns of a platform table.</summary>
    public static void PlatformIndex(this ICreateExpressionRoot create, string name, string table, params string[] columns)
    {
        var index = create.Index(name).OnTable(table).InSchema(Schema);
        foreach (var column in columns)
        {
            index.OnColumn(column).Ascending();
        }
    }

    /// <summary>A UNIQUE constraint on columns of a platform table.</summary>
    public static void PlatformUnique(this ICreateExpressionRoot create, string name, string table, params string[] columns) =>
        create.UniqueConstraint(name).OnTable(table).WithSchema(Schema).Columns(columns);

    /// <summary>A CHECK constraint on a platform table, one ALTER TABLE statement.</summary>
    public static void PlatformCheck(this IExecuteExpressionRoot execute, string name, string table, string expression) =>
        execute.Sql($"ALTER TABLE platform.{table} ADD CONSTRAINT {name} CHECK ({expression});");

    /// <summary>A SQL string literal: the text in single quotes, each quote doubled.</summary>
    public static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
}
