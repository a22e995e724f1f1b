namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// What the runner cannot derive about the data a Down removes. The tables and columns a Down removes are derived
/// from the Up's manifest (every table it creates, every column it adds to a table it did not create); before a
/// rollback the runner counts the rows behind each, prints them, and refuses without <c>--allow-data-loss</c> when
/// any unpreserved one holds data. A migration implements this only to say more: an entry naming a derived table or
/// column replaces it (preserved, a note, which values count), and a <see cref="RemovedKind.Rows"/> entry adds rows
/// its Down deletes from a table it did not create.
/// </summary>
public interface IRollbackOverrides
{
    IReadOnlyList<RemovedObject> RollbackOverrides { get; }
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
