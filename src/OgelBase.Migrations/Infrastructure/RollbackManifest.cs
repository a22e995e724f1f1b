namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// What a migration's Down removes that can hold data. The runner counts the rows behind each
/// entry before a rollback, prints them, and refuses without <c>--allow-data-loss</c> when any
/// unpreserved entry holds rows. Every migration whose Down drops a table, a column or rows
/// implements this; a test checks the manifest against what the Up really creates.
/// </summary>
public interface IRollbackManifest
{
    IReadOnlyList<RemovedObject> RemovedByDown { get; }
}

public enum RemovedKind
{
    Table,
    Column,
    Rows,
}

/// <param name="Preserved">The Down saves this data somewhere and the next Up restores it.</param>
/// <param name="RowFilter">For <see cref="RemovedKind.Rows"/>: the SQL predicate selecting the rows removed. For <see cref="RemovedKind.Column"/>: which non-NULL values count as data (the others the next up derives again).</param>
public sealed record RemovedObject(
    RemovedKind Kind,
    string Schema,
    string Table,
    string? Column = null,
    string? RowFilter = null,
    bool Preserved = false,
    string? Note = null)
{
    public static RemovedObject TableOf(string schema, string table) => new(RemovedKind.Table, schema, table);

    public static RemovedObject ColumnOf(string schema, string table, string column, bool preserved = false, string? note = null) =>
        new(RemovedKind.Column, schema, table, column, Preserved: preserved, Note: note);

    public static RemovedObject RowsOf(string schema, string table, string rowFilter, string? note = null) =>
        new(RemovedKind.Rows, schema, table, RowFilter: rowFilter, Note: note);

    public string Name => Kind switch
    {
        RemovedKind.Table => $"table {Schema}.{Table}",
        RemovedKind.Column => $"column {Schema}.{Table}.{Column}",
        _ => $"rows of {Schema}.{Table} where {RowFilter}",
    };
}
