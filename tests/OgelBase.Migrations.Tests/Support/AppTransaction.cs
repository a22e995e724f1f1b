using System.Data;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// An application's session that ran <c>sql</c> inside a transaction it keeps open: what a migration has to wait
/// behind. Its application name is what a blocker report must show; disposing it ends the transaction and the session.
/// </summary>
public sealed class AppTransaction(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
{
    /// <summary>The backend pid a blocker report names.</summary>
    public int ProcessId => connection.ProcessID;

    public static async Task<AppTransaction> BeginAsync(TestDatabase db, string applicationName, string sql, IsolationLevel isolation = IsolationLevel.Unspecified)
    {
        var session = await db.OpenAsAsync(applicationName);
        var open = await session.BeginTransactionAsync(isolation);
        await using (var command = new NpgsqlCommand(sql, session, open))
        {
            await command.ExecuteNonQueryAsync();
        }

        return new AppTransaction(session, open);
    }

    public Task CommitAsync() => transaction.CommitAsync();

    public Task RollbackAsync() => transaction.RollbackAsync();

    public async ValueTask DisposeAsync()
    {
        await transaction.DisposeAsync();
        await connection.DisposeAsync();
    }
}
