using Npgsql;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Connection;

/// <summary>
/// Refuses a connection that does not keep one server session per client: a pooler in transaction or statement
/// mode (PgBouncer's pool_mode = transaction, Railway's PgBouncer template, Supabase's port 6543). There the
/// migration lock (a session-level advisory lock), the session's lock_timeout and the runner's one-session-per-run
/// design all break: the lock stays behind on a pooled server connection, and two runs apply the same migration.
/// </summary>
/// <remarks>
/// The basis, observed rather than guessed from the port: client A asks for its backend pid; client B, while A is
/// idle, opens a transaction (which pins a server session to B until it ends) and asks for its own; then A asks again.
/// With one server session per client (a direct connection, a session-mode pooler) A's pid never changes and B's
/// always differs from it. A transaction pooler hands A's idle server session to B (same pid) or, when B got another
/// one, may still move A (changed pid): either is proof. A round can miss only when another client of the pooler takes
/// A's server session between A's question and B's and hands it back before A asks again, which several runs starting
/// at once do now and then (three rounds once let one of five concurrent runs through a transaction pooler). So the
/// probe repeats ten rounds a few milliseconds apart, and a statement-mode pooler, which refuses the transaction block
/// itself, is caught by its error.
/// </remarks>
public static class PoolerCheck
{
    private const int Rounds = 10;

    /// <param name="connection">The connection the run is about to rely on for its lock (client A).</param>
    /// <param name="other">
    /// Another connection of the same run (client B), the migration session: a connection opened only for this check
    /// would cost the server a backend per run for a few queries.
    /// </param>
    public static async Task EnsureSessionPerClientAsync(NpgsqlConnection connection, NpgsqlConnection other, RunSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            for (var round = 0; round < Rounds; round++)
            {
                // Asked first in each round, so A's server session is the one a pooler released last (PgBouncer hands out the most recent).
                var first = await BackendPidAsync(connection, null, cancellationToken);
                await using var transaction = await other.BeginTransactionAsync(cancellationToken);
                var pinned = await BackendPidAsync(other, transaction, cancellationToken);
                var again = await BackendPidAsync(connection, null, cancellationToken);
                await transaction.RollbackAsync(cancellationToken);
                if (pinned == first || again != first)
                {
                    throw Refusal(settings, "two client connections shared one server session");
                }

                // Apart, so the rounds do not all fall into the same burst of other clients' queries.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5)), cancellationToken);
            }
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.ProtocolViolation or PostgresErrorCodes.FeatureNotSupported
                                           || e.MessageText.Contains("pool", StringComparison.OrdinalIgnoreCase))
        {
            // PgBouncer's statement mode rejects the transaction block outright ("transaction blocks not allowed in statement pooling mode").
            throw Refusal(settings, e.MessageText);
        }
    }

    private static RunnerException Refusal(RunSettings settings, string evidence) =>
        new(FailureKind.Usage,
            $"{settings.Target} goes through a connection pooler in transaction or statement mode ({evidence}); the migration lock and lock_timeout " +
            "need one server session per run, so the runner refuses it. Use the database's direct URL: on Railway the Postgres service's own " +
            "DATABASE_URL (${{Postgres.DATABASE_URL}}), not a PgBouncer service's URL; on Supabase port 5432 (session mode), not 6543. Nothing was changed.");

    private static async Task<int> BackendPidAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_backend_pid()", connection, transaction);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
