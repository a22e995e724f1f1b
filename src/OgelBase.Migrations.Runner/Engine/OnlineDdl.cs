using System.Data;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

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
public sealed class OnlineDdl : IOnlineSession
{
    /// <summary>
    /// A batch of <see cref="Batches"/> has committed. Debug level, which the runner does not show; a test host that
    /// must land a kill inside a backfill pauses on it.
    /// </summary>
    public static readonly EventId BatchCommitted = new(8001, "batch committed");

    private readonly NpgsqlConnection _connection;
    private readonly OnlineDdlOptions _options;
    private readonly ILogger _logger;
    private readonly LockTracer _tracer;

    public OnlineDdl(IDbConnection connection, IDbTransaction? transaction, OnlineDdlOptions options, ILogger logger, LockTracer tracer)
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
        _tracer = tracer;
    }

    private string LockTimeoutSetting => $"{Math.Max(1, (int)_options.LockTimeout.TotalMilliseconds)}ms";

    private string LockTimeoutLimit => $"{_options.LockTimeout.TotalMilliseconds:0} ms (lock_timeout)";

    /// <summary>
    /// One statement of an online migration: the runner sends every <c>Execute.Sql</c> of a migration declared
    /// <c>TransactionBehavior.None</c> here, so the migration states its SQL as it is and the mechanics live in one
    /// place. An ordinary statement runs as one short transaction under <see cref="OnlineDdlOptions.LockTimeout"/>,
    /// retried on 55P03/40P01 with jittered backoff. CREATE/DROP INDEX CONCURRENTLY runs as a top-level
    /// statement under the session lock_timeout (its SHARE UPDATE EXCLUSIVE lock blocks no reads or writes, while its
    /// waits for older transactions count against lock_timeout, and at 50 ms it would fail on any ordinary
    /// transaction), and before each attempt of a concurrent build an INVALID leftover of that index is dropped:
    /// IF NOT EXISTS would accept it as done.
    /// <para>
    /// Every statement must be safe to run again after a kill, so it uses IF [NOT] EXISTS or OR REPLACE. ADD
    /// CONSTRAINT has no IF NOT EXISTS: a lone <c>ALTER TABLE ... ADD CONSTRAINT name</c> that PostgreSQL refuses
    /// with 42710 (a constraint of that name exists) is logged as already in place and skipped; the migration's
    /// own check confirms the definition. What PostgreSQL itself skipped (its "..., skipping" notices) is logged.
    /// </para>
    /// </summary>
    public void Run(string sql)
    {
        var statement = new OnlineDdlStatement(sql);
        var outcome = statement.OutsideTransaction ? RunConcurrently(statement) : RunLocked(statement);
        _logger.Info($"{statement.Label}: {outcome}", ("step", statement.Label));
    }

    private string RunLocked(OnlineDdlStatement statement) =>
        WithRetry(statement.Label, LockTimeoutLimit, () =>
        {
            using var transaction = _connection.BeginTransaction();
            SetLocalLockTimeout(transaction);
            using var notices = new Notices(_connection);
            try
            {
                _tracer.InTransaction(_connection, transaction, statement.Label, () => (0, (long?)Execute(statement.Sql, transaction)));
                transaction.Commit();
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject && statement.AddedConstraint is { } name
                                              && e.MessageText.Contains($"\"{name}\"", StringComparison.OrdinalIgnoreCase))
            {
                transaction.Rollback();
                return $"already in place, skipped ({e.MessageText})";
            }
            finally
            {
                _tracer.TransactionEnded();
            }

            return notices.Outcome;
        });

    private string RunConcurrently(OnlineDdlStatement statement)
    {
        var step = statement.Label;
        var sessionLimit = Scalar<string>("SELECT current_setting('lock_timeout')");
        return WithRetry(step, $"{sessionLimit} (session lock_timeout)", () =>
        {
            if (statement.BuiltIndex is { } build)
            {
                DropInvalidIndex(build.Index, build.Table);
            }

            using var monitor = statement.BuiltIndex is null ? null : IndexBuildMonitor.Start(this, step);
            using var notices = new Notices(_connection);
            _tracer.Concurrently(_connection, BackendPid, () => OpenSideConnection("lock sampler"), step, () => Execute(statement.Sql));
            return notices.Outcome;
        });
    }

    /// <summary>What a failed or killed CREATE INDEX CONCURRENTLY leaves under the index's name, in the table's schema.</summary>
    private void DropInvalidIndex(string index, string table)
    {
        var leftover = Scalar<string>("""
            SELECT format('%I.%I', n.nspname, c.relname)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = lower(@index) AND NOT i.indisvalid
              AND c.relnamespace = (SELECT t.relnamespace FROM pg_class t WHERE t.oid = to_regclass(@table))
            """, null, ("index", index), ("table", table));
        if (leftover is not null)
        {
            _logger.LogInformation($"dropping the INVALID index {index} left by an earlier attempt");
            Execute($"DROP INDEX CONCURRENTLY IF EXISTS {leftover}");
        }
    }

    /// <summary>
    /// A keyset loop. <paramref name="batchSql"/> is told whether there is an @after key (not on the first batch)
    /// and is run with @after (the last key of the previous batch) and @batch_size, each batch in its own short
    /// transaction, until a batch covers no row. It must return one row: the last key it covered (uuid, NULL if
    /// none), rows scanned, rows changed. A <see cref="BackfillController"/> steers the batch size and the pause
    /// between batches by what a <see cref="BackfillSignals"/> session sees. Progress is logged at most every ~2 s,
    /// plus a line whenever a signal makes it back off or lets it speed up again, plus a final line; each committed
    /// batch is also logged at Debug level as <see cref="BatchCommitted"/>.
    /// </summary>
    public (long Scanned, long Changed) Batches(string step, long total, Func<bool, string> batchSql, double batchShare = 1)
    {
        var batchSize = Math.Max(1, (int)(_options.BatchSize * batchShare));
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        TimeSpan? lastTurn = null;
        var hibernated = TimeSpan.Zero;
        Guid? after = null;
        long scanned = 0, changed = 0;
        BackfillController? controller = null;
        BackfillSignals? signals = null;
        _logger.Info($"{step}: {total} rows to go through, {batchSize} per batch", ("step", step), ("total", total), ("batch_size", batchSize));
        try
        {
            while (true)
            {
                var batchClock = Stopwatch.StartNew();
                signals?.BatchRunning = true;
                var result = RunBatch(step, batchSql, after, batchSize);
                signals?.BatchRunning = false;
                if (result.Scanned == 0 || result.LastKey is null)
                {
                    _tracer.BackfillEnded(_connection, step);
                    break;
                }

                after = result.LastKey;
                scanned += result.Scanned;
                changed += result.Changed;
                CheckDeadline(step, $"stopped after {scanned} of {total} rows ({changed} changed), every batch committed");
                if (scanned == result.Scanned && total - scanned > (long)batchSize * BackfillSteering.SteeredFromBatches && !(_options.BatchSizeFixed && _options.BackfillPauseRatio is not null))
                {
                    signals = BackfillSignals.Start(() => OpenSideConnection("backfill signals"), _tracer.BackfillTables);
                    controller = signals is null ? null : new BackfillController(_options.Steering, batchSize, _options.BatchSizeFixed, _options.BackfillPauseRatio, signals.Baseline);
                }

                var pace = controller?.Next(batchClock.Elapsed, signals!.Take())
                           ?? new Pace(batchSize, batchClock.Elapsed * (_options.BackfillPauseRatio ?? 0), null, null, false);
                batchSize = pace.BatchSize;
                (string, object?)[] PaceFields() => [("changed", changed), ("batch_size", batchSize), ("pause_ms", Math.Round(pace.Pause.TotalMilliseconds, 1)), ("signal", pace.Signal)];
                // A probe's turns can come every few batches: they are logged at most once per progress interval.
                if (pace.Changed is { } turn && (lastTurn is null || clock.Elapsed - lastTurn >= _options.ProgressInterval || !pace.ProbeDriven))
                {
                    lastTurn = clock.Elapsed;
                    _logger.Info($"{step}: {turn}: {pace.Signal ?? "the signals are clear"}; {batchSize} per batch, pause {pace.Pause.TotalMilliseconds:0} ms", [("step", step), .. PaceFields()]);
                }

                if (clock.Elapsed - lastReport >= _options.ProgressInterval)
                {
                    lastReport = clock.Elapsed;
                    ReportProgress(_logger, step, scanned, total, clock.Elapsed,
                        $", {changed} changed, {batchSize} per batch, pause {pace.Pause.TotalMilliseconds:0} ms{(pace.Signal is null ? "" : $" ({pace.Signal})")}", PaceFields());
                }

                _logger.Log(LogLevel.Debug, BatchCommitted, step, null, static (s, _) => $"{s}: batch committed");
                if (pace.Hibernate)
                {
                    hibernated += Hibernate(step, pace.Signal!, signals!, controller!);
                }
                else if (pace.Pause > TimeSpan.Zero)
                {
                    Thread.Sleep(pace.Pause);
                }
            }
        }
        finally
        {
            signals?.Dispose();
        }

        var steered = controller is null ? "" : $"; backed off {controller.BackedOff.TotalSeconds:0.0} s{(hibernated > TimeSpan.Zero ? $", hibernated {hibernated.TotalSeconds:0.0} s" : "")}";
        _logger.Info($"{step}: finished, {scanned}/{total} rows, {changed} changed, in {clock.Elapsed.TotalSeconds:0.0} s ({Progress.Rate(scanned, clock.Elapsed)} rows/s){steered}",
            ("step", step), ("rows", scanned), ("total", total), ("changed", changed), ("elapsed_s", Math.Round(clock.Elapsed.TotalSeconds, 3)), ("percent", 100.0),
            ("backed_off_s", controller is null ? null : Math.Round(controller.BackedOff.TotalSeconds, 3)), ("hibernated_s", controller is null ? null : Math.Round(hibernated.TotalSeconds, 3)));
        return (scanned, changed);
    }

    /// <summary>One batch in its own transaction under the short lock_timeout, retried on a lock wait.</summary>
    private BatchResult RunBatch(string step, Func<bool, string> batchSql, Guid? after, int batchSize) =>
        WithRetry(step, LockTimeoutLimit, () =>
        {
            using var transaction = _connection.BeginTransaction();
            SetLocalLockTimeout(transaction);
            using var command = new NpgsqlCommand(batchSql(after is not null), _connection, transaction);
            if (after is { } key)
            {
                command.Parameters.AddWithValue("after", key);
            }

            command.Parameters.AddWithValue("batch_size", batchSize);
            try
            {
                var row = _tracer.InTransaction(_connection, transaction, step, () =>
                {
                    using var reader = command.ExecuteReader();
                    if (!reader.Read())
                    {
                        throw new InvalidOperationException($"{step}: the batch statement returned no row.");
                    }

                    var batch = new BatchResult(reader.IsDBNull(0) ? null : reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2));
                    return (batch, (long?)batch.Changed);
                }, dataOnly: true);
                transaction.Commit();
                return row;
            }
            finally
            {
                _tracer.TransactionEnded();
            }
        });

    /// <summary>A signal stayed bad: no batch runs until it clears (the time budget still ends the run).</summary>
    private TimeSpan Hibernate(string step, string signal, BackfillSignals signals, BackfillController controller)
    {
        var clock = Stopwatch.StartNew();
        _logger.Info($"{step}: hibernating: {signal} for over {_options.Steering.HibernateAfter.TotalSeconds:0.#} s; no batch runs until it clears, checking every second",
            ("step", step), ("signal", signal), ("hibernating", true));
        do
        {
            Thread.Sleep(TimeSpan.FromSeconds(1));
            CheckDeadline(step, $"stopped while hibernating ({signal}), every batch committed");

            // A stop (Ctrl-C, SIGTERM) ends this session on the server; this read is where the hibernation learns it.
            Scalar<int>("SELECT 1");
        }
        while (controller.Bad(signals.Take()) is not null);

        _logger.Info($"{step}: resuming after {clock.Elapsed.TotalSeconds:0.0} s of hibernation: the signals are clear", ("step", step), ("hibernated_s", Math.Round(clock.Elapsed.TotalSeconds, 3)));
        return clock.Elapsed;
    }

    private void CheckDeadline(string step, string what)
    {
        if (_options.Deadline is { } deadline && DateTimeOffset.UtcNow >= deadline)
        {
            _tracer.BackfillEnded(_connection, step);
            throw new TimeBudgetSpentException($"{step}: {what}");
        }
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

    T IOnlineSession.Scalar<T>(string sql, params (string Name, object? Value)[] parameters) =>
        _tracer.InTransaction(_connection, null, new OnlineDdlStatement(sql).Label, () => (Scalar<T>(ReadOnly(sql), null, parameters), (long?)null));

    (long Scanned, long Changed) IOnlineSession.Backfill(string name, long total, Func<bool, string> batchSql, double batchShare)
    {
        ReadOnly(batchSql(false));
        return Batches(name, total, batchSql, batchShare);
    }

    // A code step reads and backfills; its DDL goes through Execute.Sql, where the runner sees it and runs it online.
    private static string ReadOnly(string sql) =>
        sql.TrimStart() is var text && (text.StartsWith("SELECT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("WITH", StringComparison.OrdinalIgnoreCase))
            ? sql
            : throw new InvalidOperationException($"a code step may only read (SELECT or WITH); write DDL as Execute.Sql: {MigrationSession.OneLine(sql, 120)}");

    private int Execute(string sql, NpgsqlTransaction? transaction = null)
    {
        using var command = new NpgsqlCommand(sql, _connection, transaction);
        return command.ExecuteNonQuery();
    }

    private void SetLocalLockTimeout(NpgsqlTransaction transaction)
    {
        using var command = new NpgsqlCommand("SELECT set_config('lock_timeout', @value, true)", _connection, transaction);
        command.Parameters.AddWithValue("value", LockTimeoutSetting);
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Runs an attempt under the <see cref="LockRetry"/> rule (lock timeout 55P03 or deadlock 40P01). From the first
    /// failure on, a <see cref="BlockerWatch"/> on a second connection samples who blocks this session while the next
    /// attempts wait, so each retry line and the final failure name the blocker (with a lock_timeout of 50 ms nobody
    /// could look it up after the fact: the wait is over before the error arrives). The last sample is kept across
    /// attempts: a blocker seen once is still the best lead if a later wait was too short to sample.
    /// </summary>
    private T WithRetry<T>(string step, string waitLimit, Func<T> attempt)
    {
        NpgsqlConnection? watchConnection = null;
        BlockerWatch? watch = null;
        string Named() => watch?.LastSeen is { Count: > 0 } seen ? "; " + LockBlockers.Describe(seen) : "";
        try
        {
            return new LockRetry(_options.MaxAttempts, _options.RetryDelay, _options.MaxRetryDelay).Run(
                attempt,
                e => e is PostgresException { SqlState: PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected } pg ? pg : null,
                (number, e, pause) =>
                {
                    var blockers = watch?.LastSeen ?? [];
                    _logger.Info($"{step}: {e.SqlState} ({e.MessageText}) on attempt {number} of {_options.MaxAttempts}; nothing held, retrying in {pause.TotalMilliseconds:0} ms{Named()}",
                        ("step", step), ("sqlstate", e.SqlState), ("attempt", number), ("attempts", _options.MaxAttempts), ("retry_ms", Math.Round(pause.TotalMilliseconds)),
                        ("blocker", blockers.Count == 0 ? null : blockers));
                    if (watch is null)
                    {
                        (watchConnection, watch) = StartWatch();
                    }
                },
                // No inner exception on purpose: the runner reports the innermost PostgresException when there is one,
                // and that would drop the step name from the one line the operator sees.
                (_, e, number) => new InvalidOperationException(
                    $"step '{step}' gave up: SQLSTATE {e.SqlState} on all {number} attempts (each waited at most {waitLimit}); " +
                    $"another session holds a conflicting lock ({e.MessageText}){Named()}; no lock is held now"));
        }
        finally
        {
            watch?.Dispose();
            watchConnection?.Dispose();
        }
    }

    /// <summary>A second connection (same credentials) watching this session's lock waits; none when it cannot be opened.</summary>
    private (NpgsqlConnection?, BlockerWatch?) StartWatch()
    {
        try
        {
            var side = OpenSideConnection("blocker watch");
            var interval = TimeSpan.FromMilliseconds(Math.Clamp(_options.LockTimeout.TotalMilliseconds / 5, 5, 1000));
            return (side, BlockerWatch.Start(side, BackendPid, interval));
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            _logger.LogInformation($"could not open a second connection to name the blocking session: {e.Message}");
            return (null, null);
        }
    }

    /// <summary>This session's backend pid as the server knows it (through a pooler, the client-side ProcessID is the pooler's).</summary>
    private int BackendPid => _backendPid ??= Scalar<int>("SELECT pg_backend_pid()");

    private int? _backendPid;

    internal NpgsqlConnection OpenSideConnection(string purpose)
    {
        var builder = new NpgsqlConnectionStringBuilder(_connection.ConnectionString)
        {
            ApplicationName = $"{new NpgsqlConnectionStringBuilder(_connection.ConnectionString).ApplicationName} {purpose}".Trim(),
            Pooling = false,
        };
        var side = _connection.CloneWith(builder.ConnectionString);
        side.Open();
        return side;
    }

    internal ILogger Logger => _logger;

    /// <summary>"step: 71000/300248 rows, 23.6% (estimated time remaining: 5 minutes), 35042 rows/s", with the same as fields.</summary>
    internal static void ReportProgress(ILogger logger, string step, long done, long total, TimeSpan elapsed, string extra = "", params (string, object?)[] extraFields)
    {
        var remaining = Progress.Remaining(done, total, elapsed);
        (string, object?)[] fields =
        [
            ("step", step), ("rows", done), ("total", total), ("percent", Math.Round(Progress.Percent(done, total), 1)),
            ("eta_s", remaining is { } r ? Math.Round(r.TotalSeconds) : null), ("rows_per_second", double.Parse(Progress.Rate(done, elapsed), System.Globalization.CultureInfo.InvariantCulture)),
            ("elapsed_s", Math.Round(elapsed.TotalSeconds, 3)),
        ];
        logger.Info($"{step}: {done}/{total} rows, {Progress.Line(done, total, elapsed)}{extra}, {Progress.Rate(done, elapsed)} rows/s", [.. fields, .. extraFields]);
    }

    internal OnlineDdlOptions Options => _options;

    internal int MonitoredPid => BackendPid;

    /// <summary>The notices PostgreSQL sends while one attempt runs, such as IF NOT EXISTS's "..., skipping".</summary>
    private sealed class Notices : IDisposable
    {
        private readonly NpgsqlConnection _connection;
        private readonly List<string> _messages = [];

        public Notices(NpgsqlConnection connection)
        {
            _connection = connection;
            _connection.Notice += OnNotice;
        }

        /// <summary>"done", then whatever PostgreSQL said while doing it (what it skipped as already there).</summary>
        public string Outcome => _messages.Count == 0 ? "done" : $"done; PostgreSQL: {string.Join("; ", _messages)}";

        public void Dispose() => _connection.Notice -= OnNotice;

        private void OnNotice(object sender, NpgsqlNoticeEventArgs e) => _messages.Add(e.Notice.MessageText);
    }
}
