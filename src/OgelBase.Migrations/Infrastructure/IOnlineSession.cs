using System.Data;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// What a code step (<c>Execute.WithConnection</c>) of an online migration may do on its connection: read, and run a
/// keyset backfill. The runner implements it with its online executor (lock_timeout, retries, progress, the time
/// budget, pauses between batches). It runs no DDL: every schema change is an <c>Execute.Sql</c> statement, which the
/// runner sees, renders into the checksum, lints and runs under the online mechanics.
/// </summary>
public interface IOnlineSession
{
    /// <summary>One value of a read-only query (<c>SELECT</c> or <c>WITH</c>); anything else is refused.</summary>
    T Scalar<T>(string sql, params (string Name, object? Value)[] parameters);

    /// <summary>
    /// A keyset loop over a uuid key: <paramref name="batchSql"/> (a <c>WITH</c> or <c>SELECT</c>) is told whether there
    /// is an <c>@after</c> key and runs with <c>@after</c> and <c>@batch_size</c>, each batch its own short transaction,
    /// until a batch covers no row. It returns one row: the last key it covered (NULL if none), rows scanned, rows
    /// changed. <paramref name="batchShare"/> scales the runner's batch size for rows that cost more than one.
    /// </summary>
    (long Scanned, long Changed) Backfill(string name, long total, Func<bool, string> batchSql, double batchShare = 1);
}

/// <summary>Opens the <see cref="IOnlineSession"/> of a code step; migrations take it in their constructor.</summary>
public interface IOnlineSessions
{
    IOnlineSession Open(IDbConnection connection, IDbTransaction? transaction);
}
