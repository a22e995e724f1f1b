using System.Data;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>One batch of a keyset loop: the last key it covered (null when the range was empty), rows scanned, rows changed.</summary>
public readonly record struct BatchResult(Guid? LastKey, long Scanned, long Changed);

/// <summary>
/// The building blocks of a migration that runs with <c>TransactionBehavior.None</c> so a large table stays
/// online: short DDL steps under a bounded lock wait, CONCURRENTLY statements, and keyset-batched data loops.
/// Every step is its own short transaction (or none), so a killed run leaves only committed, complete steps
/// behind and a re-run picks up where it stopped.
/// </summary>
/// <remarks>
/// The retry lives here, in C#, rather than in a PL/pgSQL DO-block loop: a DO block runs its attempts inside
/// one outer transaction (holding a snapshot for the whole retry period, and unable to COMMIT inside an
/// EXCEPTION block), its RAISE NOTICE progress is invisible to the runner, and a lock error raised from it
/// would reach the operator as a bare 55P03 on a long DO statement. Here each attempt is a transaction that
/// either commits or is rolled back before the pause, every retry is logged, and the final failure names
/// the step.
/// </remarks>
public sealed class OnlineDdl
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(2);

    private readonly NpgsqlConnection _connection;
    private readonly OnlineDdlOptions _options;
    private readonly ILogger _logger;

    public OnlineDdl(IDbConnection connection, IDbTransaction? transaction, OnlineDdlOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (transaction is not null)
        {
            // Inside a migration transaction nothing could be committed step by step, and every lock taken
            // would be held to the end: the whole point of these helpers would be lost.
            throw new InvalidOperationException("online steps must run in a migration declared TransactionBehavior.None; this one runs inside a transaction.");
        }

        _connection = connection as NpgsqlConnection
            ?? throw new InvalidOperationException($"online steps need an Npgsql connection, not {connection?.GetType().Name ?? "null"}.");
        _options = options;
        _logger = logger;
    }

    private string LockTimeoutSetting => $"{Math.Max(1, (int)_options.LockTimeout.TotalMilliseconds)}ms";

    /// <summary>
    /// DDL that takes a strong table lock. Each attempt is one transaction with <c>lock_timeout</c> set to
    /// <see cref="OnlineDdlOptions.LockTimeout"/>, so nobody queues behind it for longer than that. When
    /// <paramref name="doneWhenSql"/> (a boolean SQL expression) is true the step is already done and takes no lock at all.
    /// Returns false when it was already done.
    /// </summary>
    public bool LockedStep(string step, string? doneWhenSql, params string[] statements)
    {
        var ran = WithRetry(step, $"{_options.LockTimeout.TotalMilliseconds:0} ms (lock_timeout)", () =>
        {
            using var transaction = _connection.BeginTransaction();
            SetLocalLockTimeout(transaction);
            if (doneWhenSql is not null && Scalar<bool>($"SELECT ({doneWhenSql})", transaction))
            {
                transaction.Commit();
                return false;
            }

            foreach (var statement in statements)
            {
                Execute(statement, transaction);
            }

            transaction.Commit();
            return true;
        });
        _logger.LogInformation(ran ? $"{step}: done" : $"{step}: already in place, skipped");
        return ran;
    }

    /// <summary>
    /// A statement that cannot run in a transaction block (CREATE/DROP INDEX CONCURRENTLY), sent on its own as a
    /// top-level statement. It keeps the session's lock_timeout (the runner's --statement-lock-timeout): its table
    /// lock, SHARE UPDATE EXCLUSIVE, does not conflict with reads or writes, so nobody queues behind it, while its
    /// waits for older transactions count against lock_timeout, and at 50 ms it would fail on any ordinary
    /// transaction. <paramref name="beforeEachAttempt"/> cleans up what a failed attempt left (an INVALID index).
    /// </summary>
    public bool ConcurrentStep(string step, string doneWhenSql, string statement, Action? beforeEachAttempt = null)
    {
        if (Scalar<bool>($"SELECT ({doneWhenSql})"))
        {
            _logger.LogInformation($"{step}: already in place, skipped");
            return false;
        }

        var sessionLimit = Scalar<string>("SELECT current_setting('lock_timeout')");
        WithRetry(step, $"{sessionLimit} (session lock_timeout)", () =>
        {
            beforeEachAttempt?.Invoke();
            Execute(statement);
            return true;
        });
        _logger.LogInformation($"{step}: done");
        return true;
    }

    /// <summary>
    /// A keyset loop. <paramref name="batchSql"/> is told whether there is an @after key (not on the first batch)
    /// and is run with @after (the last key of the previous batch) and @batch_size, each batch in its own short
    /// transaction, until a batch covers no row. It must return one row: the last key it covered (uuid, NULL if
    /// none), rows scanned, rows changed. Progress is logged at most every ~2 s, plus a final line; the test hook
    /// <see cref="OnlineDdlOptions.BatchDelayMilliseconds"/> pauses after each committed batch.
    /// </summary>
    public (long Scanned, long Changed) Batches(string step, long total, Func<bool, string> batchSql)
    {
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        Guid? after = null;
        long scanned = 0, changed = 0;
        _logger.LogInformation($"{step}: {total} rows to go through, {_options.BatchSize} per batch");
        while (true)
        {
            var batchClock = Stopwatch.StartNew();
            var result = WithRetry(step, $"{_options.LockTimeout.TotalMilliseconds:0} ms (lock_timeout)", () =>
            {
                using var transaction = _connection.BeginTransaction();
                SetLocalLockTimeout(transaction);
                using var command = new NpgsqlCommand(batchSql(after is not null), _connection, transaction);
                if (after is { } key)
                {
                    command.Parameters.AddWithValue("after", key);
                }

                command.Parameters.AddWithValue("batch_size", _options.BatchSize);
                BatchResult row;
                using (var reader = command.ExecuteReader())
                {
                    if (!reader.Read())
                    {
                        throw new InvalidOperationException($"{step}: the batch statement returned no row.");
                    }

                    row = new BatchResult(reader.IsDBNull(0) ? null : reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2));
                }

                transaction.Commit();
                return row;
            });

            if (result.Scanned == 0 || result.LastKey is null)
            {
                break;
            }

            after = result.LastKey;
            scanned += result.Scanned;
            changed += result.Changed;
            if (clock.Elapsed - lastReport >= ProgressEvery)
            {
                lastReport = clock.Elapsed;
                _logger.LogInformation($"{step}: {scanned}/{total} rows ({Percent(scanned, total)}), {changed} changed, {Rate(scanned, clock.Elapsed)} rows/s");
            }

            // Leave the disk to the application for a share of the time: a backfill that writes WAL flat out makes
            // every commit of the app wait on WAL flushes (seen as LWLock:WALWrite / IO:WALSync stalls at 1M users).
            var pause = batchClock.Elapsed * _options.BackfillPauseRatio + TimeSpan.FromMilliseconds(_options.BatchDelayMilliseconds);
            if (pause > TimeSpan.Zero)
            {
                Thread.Sleep(pause);
            }
        }

        _logger.LogInformation($"{step}: finished, {scanned}/{total} rows, {changed} changed, in {clock.Elapsed.TotalSeconds:0.0} s ({Rate(scanned, clock.Elapsed)} rows/s)");
        return (scanned, changed);
    }

    public T Scalar<T>(string sql, NpgsqlTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = new NpgsqlCommand(sql, _connection, transaction);
        foreach (var (name, parameter) in parameters)
        {
            command.Parameters.AddWithValue(name, parameter ?? DBNull.Value);
        }

        var value = command.ExecuteScalar();
        return value is null or DBNull ? default! : (T)value;
    }

    public void Execute(string sql, NpgsqlTransaction? transaction = null)
    {
        using var command = new NpgsqlCommand(sql, _connection, transaction);
        command.ExecuteNonQuery();
    }

    private void SetLocalLockTimeout(NpgsqlTransaction transaction)
    {
        using var command = new NpgsqlCommand("SELECT set_config('lock_timeout', @value, true)", _connection, transaction);
        command.Parameters.AddWithValue("value", LockTimeoutSetting);
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Runs an attempt until it succeeds; on a lock timeout (55P03) or a deadlock (40P01) the attempt's
    /// transaction is already rolled back, so it pauses (exponential, jittered) holding nothing and tries again.
    /// </summary>
    private T WithRetry<T>(string step, string waitLimit, Func<T> attempt)
    {
        for (var number = 1; ; number++)
        {
            try
            {
                return attempt();
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected)
            {
                if (number >= _options.MaxAttempts)
                {
                    // No inner exception on purpose: the runner reports the innermost PostgresException when
                    // there is one, and that would drop the step name from the one line the operator sees.
                    throw new InvalidOperationException(
                        $"step '{step}' gave up: SQLSTATE {e.SqlState} on all {number} attempts (each waited at most {waitLimit}); " +
                        $"another session holds a conflicting lock ({e.MessageText}); no lock is held now");
                }

                var pause = Backoff(number);
                _logger.LogInformation($"{step}: {e.SqlState} ({e.MessageText}) on attempt {number} of {_options.MaxAttempts}; nothing held, retrying in {pause.TotalMilliseconds:0} ms");
                Thread.Sleep(pause);
            }
        }
    }

    /// <summary>Exponential from RetryDelay up to MaxRetryDelay, with "equal jitter" (half fixed, half random) so retrying runs do not move in step.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(_options.MaxRetryDelay.TotalMilliseconds, _options.RetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        ceiling = Math.Max(ceiling, 1);
#pragma warning disable CA5394 // jitter, not security
        return TimeSpan.FromMilliseconds((ceiling / 2) + (Random.Shared.NextDouble() * ceiling / 2));
#pragma warning restore CA5394
    }

    private static string Percent(long done, long total) => total <= 0 ? "100%" : $"{Math.Min(100.0, 100.0 * done / total):0.0}%";

    private static string Rate(long rows, TimeSpan elapsed) => elapsed.TotalSeconds < 0.001 ? rows.ToString() : $"{rows / elapsed.TotalSeconds:0}";
}
