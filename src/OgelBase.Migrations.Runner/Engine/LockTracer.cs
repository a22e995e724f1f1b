using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// A table-level lock one statement took, as <c>pg_locks</c> showed it to the migration's own backend (or, for a
/// statement that runs outside a transaction, to a second session sampling it).
/// </summary>
/// <param name="Relation">schema.name, as the catalog names it.</param>
/// <param name="Kind">pg_class.relkind: r table, i index, v view, S sequence, m materialized view, p partitioned table.</param>
/// <param name="Created">The relation did not exist before the statement's transaction: nobody else can see it, so the lock blocks nobody.</param>
/// <param name="Held">From the start of the statement that took it to the end of its transaction (null: sampled, not measured).</param>
public sealed record TracedLock(string Relation, string Kind, string Mode, bool Created, TimeSpan? Held)
{
    /// <summary>The app's SELECTs queue behind it (only ACCESS EXCLUSIVE conflicts with ACCESS SHARE).</summary>
    public bool BlocksReads => !Created && Mode == "AccessExclusiveLock";

    /// <summary>The app's INSERT, UPDATE and DELETE queue behind it (every mode that conflicts with ROW EXCLUSIVE).</summary>
    public bool BlocksWrites => !Created && Mode is "ShareLock" or "ShareRowExclusiveLock" or "ExclusiveLock" or "AccessExclusiveLock";

    public string Blocks => BlocksReads ? "reads and writes" : BlocksWrites ? "writes" : "nothing";
}

/// <summary>What one statement the runner sent did to the database, observed while it ran.</summary>
/// <param name="Version">The migration it belongs to.</param>
/// <param name="Transaction">Statements of one transaction share this number (an online statement is a transaction of its own).</param>
/// <param name="LockTimeout">The lock_timeout in force when it ran (<c>0</c>: none, a blocked statement would wait for ever).</param>
/// <param name="Rewritten">Relations that got a new relfilenode: a table or index written out again in full.</param>
/// <param name="Scanned">Tables the statement read in full (sequential scans counted in <c>pg_stat_xact_user_tables</c>), such as a validation.</param>
/// <param name="WalBytes">WAL the server wrote while it ran.</param>
/// <param name="Sampled">Locks seen by a second session polling <c>pg_locks</c> (CONCURRENTLY statements), not read in the statement's own transaction.</param>
public sealed record StatementTrace(
    long Version, int Transaction, string Label, string LockTimeout, TimeSpan Duration, long? Rows, long WalBytes,
    IReadOnlyList<TracedLock> Locks, IReadOnlyList<string> Rewritten, IReadOnlyList<string> Scanned, bool Sampled)
{
    /// <summary>How many backfill batches this line sums up (0: one statement).</summary>
    public int Batches { get; init; }

    public IEnumerable<TracedLock> Blocking => Locks.Where(l => l.BlocksWrites);

    /// <summary>The longest time a lock of this statement kept the app's writes (or reads) waiting, if it took one.</summary>
    public TracedLock? LongestBlocking => Blocking.MaxBy(l => l.Held ?? Duration);
}

/// <summary>
/// The lock record of a run: every statement the runner sends (a transactional migration's statements and code steps,
/// an online statement, a CONCURRENTLY build, each backfill batch) is observed on the migration's own backend.
/// Before it: the user relations with their relfilenode and sequential-scan count, and the WAL position; after it, in
/// the same transaction: the relation locks the backend holds (<c>pg_locks</c>), the same relations again and the WAL
/// position. A lock is held until its transaction ends, so a lock that blocks the app is logged, with how long it
/// was held, when the transaction commits or rolls back. Statements that cannot run in a transaction
/// (CONCURRENTLY) are sampled from a second session while they run.
/// <para>
/// Its reads run inside the migration's transaction, where an error would abort it: they are written so that they
/// cannot fail (a relation dropped in the transaction has no name, not a NULL passed to format). The read after a
/// statement holds its locks a little longer, so it is kept to this backend's locks (a fraction of a millisecond).
/// </para>
/// </summary>
public sealed class LockTracer(ILogger<LockTracer> logger)
{
    private const string RelationsSql = """
        SELECT c.oid::int8, format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relfilenode::int8,
               CASE WHEN c.relkind IN ('r', 'm', 'p') THEN pg_stat_get_xact_numscans(c.oid) ELSE 0 END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'i', 'I', 'm', 'S', 'v')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
        """;

    private const string PositionSql = "SELECT pg_current_wal_insert_lsn(), current_setting('lock_timeout')";

    // Read inside the statement's transaction while its locks are held, so it is kept to this backend's locks: the
    // relations they name are the only ones a statement can have rewritten or scanned.
    private const string LocksSql = """
        SELECT l.relation::int8, l.mode, CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) END, c.relkind::text, c.relfilenode::int8,
               CASE WHEN c.relkind IN ('r', 'm', 'p') THEN pg_stat_get_xact_numscans(c.oid) ELSE 0 END
        FROM pg_locks l
        LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND coalesce(n.nspname, '') NOT IN ('pg_catalog', 'information_schema') AND coalesce(n.nspname, '') NOT LIKE 'pg\_toast%'
        """;

    private readonly List<StatementTrace> _record = [];
    private readonly List<Pending> _open = [];
    private HashSet<long>? _existedAtStart;
    private Dictionary<long, Relation>? _last;
    private string? _dataStep;
    private Snapshot? _dataFirst;
    private NpgsqlLogSequenceNumber _dataStart;
    private (Stopwatch Clock, TimeSpan Duration, long? Rows)? _repeat;
    private int _transaction;

    /// <summary>The migration the next statements belong to (set by <see cref="MigrationSession"/> before it runs one).</summary>
    public long Version { get; set; }

    /// <summary>Log every statement's whole record (every lock, rewrite, scan, WAL), not only the locks that block the app (<c>--verbose</c>).</summary>
    public bool EveryStatement { get; set; }

    /// <summary>Every statement observed so far, in order.</summary>
    public IReadOnlyList<StatementTrace> Record => _record;

    /// <summary>
    /// Observes one statement in the connection's current transaction and returns its result. A statement sent on its
    /// own (a code step's read, a version row of an online migration) runs in a transaction of the tracer's, so that
    /// its locks are still held when they are read. <paramref name="dataOnly"/> marks a backfill batch: the first
    /// batch of a step is observed like any statement; the later ones run the same DML on the same tables, so they
    /// take the same locks and rewrite nothing, and only their time and rows are measured (an observation per batch
    /// cost the backfill 8 %); the step's WAL is read once more when it ends (<see cref="BackfillEnded"/>).
    /// </summary>
    public T InTransaction<T>(NpgsqlConnection connection, NpgsqlTransaction? transaction, string label, Func<(T Result, long? Rows)> statement, bool dataOnly = false)
    {
        if (transaction is null)
        {
            try
            {
                using var own = connection.BeginTransaction();
                var result = InTransaction(connection, own, label, statement, dataOnly);
                own.Commit();
                return result;
            }
            finally
            {
                TransactionEnded();
            }
        }

        var clock = Stopwatch.StartNew();
        if (dataOnly && _dataStep == label && _dataFirst is not null)
        {
            var (batchValue, batchRows) = statement();
            _repeat = (clock, clock.Elapsed, batchRows);
            return batchValue;
        }

        var before = Observe(connection, transaction, _last);
        _existedAtStart ??= before.Relations.Keys.ToHashSet();
        clock.Restart();
        var (value, rows) = statement();
        var duration = clock.Elapsed;
        var after = Observe(connection, transaction, before.Relations, withLocks: true);
        _last = after.Relations;
        (_dataStep, _dataFirst, _dataStart) = dataOnly ? (label, after, before.Lsn) : (null, null, default);
        _open.Add(new Pending(before, after, label, duration, rows, clock, dataOnly));
        return value;
    }

    /// <summary>The tables the current backfill's first batch wrote to.</summary>
    public IReadOnlyCollection<long> BackfillTables =>
        _dataFirst is { } first ? [.. first.Locks.Where(l => l.Mode == "RowExclusiveLock" && first.Relations.GetValueOrDefault(l.Oid)?.Kind is "r" or "p").Select(l => l.Oid)] : [];

    /// <summary>A backfill's last batch has committed: its record line gets the WAL the whole step wrote.</summary>
    public void BackfillEnded(NpgsqlConnection connection, string label)
    {
        if (_dataStep != label)
        {
            return;
        }

        var position = Observe(connection, null, _dataFirst!.Relations).Lsn;
        if (_record.Count > 0 && _record[^1] is { Batches: > 0 } line && line.Label == label)
        {
            _record[^1] = line with { WalBytes = Wal(_dataStart, position) };
            LogRecord(_record[^1]);
        }

        (_dataStep, _dataFirst) = (null, null);
    }

    /// <summary>The statement's transaction committed or rolled back: its locks are released now, so their hold times are known.</summary>
    public void TransactionEnded()
    {
        if (_repeat is { } batch)
        {
            // A later batch of a backfill adds its time and rows to the step's line; its locks are the first batch's.
            _repeat = null;
            _transaction++;
            var held = batch.Clock.Elapsed;
            if (_record is [.., { Batches: > 0 } line])
            {
                _record[^1] = line with
                {
                    Duration = line.Duration + batch.Duration, Rows = line.Rows + batch.Rows, Batches = line.Batches + 1,
                    Locks = line.Locks.Any(l => l.Held < held) ? [.. line.Locks.Select(l => l with { Held = held })] : line.Locks,
                };
            }

            return;
        }

        for (var i = 0; i < _open.Count; i++)
        {
            var pending = _open[i];
            var earlier = _open.Take(i).SelectMany(p => p.After.Locks).ToHashSet();
            var locks = pending.After.Locks
                .Where(l => !earlier.Contains(l))
                .Select(l => (Lock: l, Relation: pending.After.Relations.GetValueOrDefault(l.Oid) ?? pending.Before.Relations.GetValueOrDefault(l.Oid)))
                .Where(x => x.Relation is not null)
                .Select(x => new TracedLock(x.Relation!.Name, x.Relation.Kind, x.Lock.Mode, _existedAtStart?.Contains(x.Lock.Oid) == false, pending.Clock.Elapsed))
                .ToList();
            Add(new StatementTrace(Version, _transaction, pending.Label, pending.Before.LockTimeout, pending.Duration, pending.Rows,
                Wal(pending.Before.Lsn, pending.After.Lsn), locks, Rewritten(pending),
                Changed(pending, (b, a) => a.Scans > b.Scans), Sampled: false) { Batches = pending.DataOnly ? 1 : 0 });
        }

        _open.Clear();
        _existedAtStart = null;
        _last = null;
        _transaction++;
    }

    /// <summary>
    /// A statement that runs outside any transaction block (CREATE/DROP INDEX CONCURRENTLY): a second session polls
    /// <c>pg_locks</c> for the migration's backend while it runs.
    /// </summary>
    /// <param name="pid">The migration session's backend, as the server knows it.</param>
    public void Concurrently(NpgsqlConnection connection, int pid, Func<NpgsqlConnection> openSide, string label, Action statement)
    {
        var before = Observe(connection, null, null);
        using var sampler = LockSampler.Start(openSide, pid);
        var clock = Stopwatch.StartNew();
        statement();
        var duration = clock.Elapsed;
        var seen = sampler?.Seen() ?? [];
        var after = Observe(connection, null, null);
        var locks = seen.Select(l => (l.Mode, Relation: after.Relations.GetValueOrDefault(l.Oid) ?? before.Relations.GetValueOrDefault(l.Oid)))
            .Where(x => x.Relation is not null)
            .Select(x => new TracedLock(x.Relation!.Name, x.Relation.Kind, x.Mode, !before.Relations.ContainsKey(x.Relation.Oid), null))
            .Distinct()
            .ToList();
        var pending = new Pending(before, after, label, duration, null, clock, DataOnly: false);
        Add(new StatementTrace(Version, _transaction++, label, before.LockTimeout, duration, null, Wal(before.Lsn, after.Lsn), locks,
            Rewritten(pending), [], Sampled: true));
    }

    private void Add(StatementTrace trace)
    {
        _record.Add(trace);
        if (trace.Batches == 0)
        {
            LogRecord(trace);
        }

        foreach (var held in trace.Blocking)
        {
            var time = held.Held ?? trace.Duration;
            logger.Info($"lock: {held.Mode} on {held.Relation} held {Progress.Duration(time)}, blocking the app's {held.Blocks}, by {trace.Label}",
                ("version", trace.Version), ("relation", held.Relation), ("lock_mode", held.Mode), ("blocks", held.Blocks),
                ("held_ms", Math.Round(time.TotalMilliseconds, 1)), ("statement", trace.Label), ("lock_timeout", trace.LockTimeout));
        }
    }

    private void LogRecord(StatementTrace trace)
    {
        if (EveryStatement)
        {
            logger.Info($"record: {trace.Label}: {Describe(trace)}",
                ("version", trace.Version), ("statement", trace.Label), ("duration_ms", Math.Round(trace.Duration.TotalMilliseconds, 1)), ("rows", trace.Rows),
                ("batches", trace.Batches == 0 ? null : trace.Batches), ("wal_bytes", trace.WalBytes), ("locks", trace.Locks),
                ("rewritten", trace.Rewritten), ("scanned", trace.Scanned), ("lock_timeout", trace.LockTimeout));
        }
    }

    /// <summary>"platform.users AccessExclusiveLock, …; rewrote …; scanned …; 1.2 kB WAL, 3 ms".</summary>
    public static string Describe(StatementTrace trace) =>
        string.Join("; ", new[]
        {
            trace.Locks.Count == 0 ? "no table lock" : string.Join(", ", trace.Locks.Select(l => $"{l.Relation} {l.Mode}{(l.Created ? " (new)" : "")}")),
            trace.Rewritten.Count == 0 ? null : $"rewrote {string.Join(", ", trace.Rewritten)}",
            trace.Scanned.Count == 0 ? null : $"scanned {string.Join(", ", trace.Scanned)}",
            $"{trace.WalBytes} bytes of WAL, {Progress.Duration(trace.Duration)}{(trace.Batches == 0 ? "" : $" in {trace.Batches} batches")}",
        }.Where(p => p is not null));

    /// <summary>Relations that got a new relfilenode (0 is a mapped catalog's, never a rewrite).</summary>
    private static List<string> Rewritten(Pending pending) => Changed(pending, (b, a) => b.FileNode != a.FileNode && a.FileNode != 0);

    private static List<string> Changed(Pending pending, Func<Relation, Relation, bool> differs) =>
        pending.Before.Relations.Values
            .Where(b => pending.After.Relations.TryGetValue(b.Oid, out var a) && differs(b, a))
            .Select(b => b.Name)
            .ToList();

    private static long Wal(NpgsqlLogSequenceNumber before, NpgsqlLogSequenceNumber after) => after > before ? (long)(after - before) : 0;

    /// <summary>The WAL position and lock_timeout; the user relations unless <paramref name="known"/>; with <paramref name="withLocks"/>, this backend's relation locks.</summary>
    private static Snapshot Observe(NpgsqlConnection connection, NpgsqlTransaction? transaction, Dictionary<long, Relation>? known, bool withLocks = false)
    {
        var sql = PositionSql + (known is null ? $"; {RelationsSql}" : "") + (withLocks ? $"; {LocksSql}" : "");
        using var command = new NpgsqlCommand(sql, connection, transaction);
        using var reader = command.ExecuteReader();
        reader.Read();
        var (lsn, lockTimeout) = (reader.GetFieldValue<NpgsqlLogSequenceNumber>(0), reader.GetString(1));
        var relations = known ?? [];
        if (known is null && reader.NextResult())
        {
            while (reader.Read())
            {
                var relation = new Relation(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4));
                relations[relation.Oid] = relation;
            }
        }

        var locks = new List<HeldLock>();
        if (withLocks && reader.NextResult())
        {
            relations = new Dictionary<long, Relation>(relations);
            while (reader.Read())
            {
                var oid = reader.GetInt64(0);
                locks.Add(new HeldLock(oid, reader.GetString(1)));
                if (!reader.IsDBNull(2))
                {
                    relations[oid] = new Relation(oid, reader.GetString(2), reader.GetString(3), reader.GetInt64(4), reader.GetInt64(5));
                }
            }
        }

        return new Snapshot(lsn, lockTimeout, relations, locks);
    }

    internal sealed record Relation(long Oid, string Name, string Kind, long FileNode, long Scans);

    internal readonly record struct HeldLock(long Oid, string Mode);

    private sealed record Snapshot(NpgsqlLogSequenceNumber Lsn, string LockTimeout, Dictionary<long, Relation> Relations, List<HeldLock> Locks);

    private sealed record Pending(Snapshot Before, Snapshot After, string Label, TimeSpan Duration, long? Rows, Stopwatch Clock, bool DataOnly);

    /// <summary>
    /// Polls one backend's relation locks from a second session while a CONCURRENTLY statement of it runs. A build on
    /// a small table is over in milliseconds, before any poll could see it, so the sampler holds a snapshot open: the
    /// build's last phase waits for every older snapshot in the database, and while it waits it still holds every lock
    /// of that phase. Seeing it wait (on this session's virtual transaction), the sampler reads its locks and lets it
    /// go. Holding back a build that is about to finish by one poll costs a few milliseconds; a statement that never
    /// waits for snapshots (DROP INDEX CONCURRENTLY) is only sampled.
    /// </summary>
    private sealed class LockSampler : SidePoller
    {
        private const string PollSql = """
            SELECT l.relation::int8, l.mode, l.locktype = 'virtualxid' AND l.virtualxid = @mine
            FROM pg_locks l
            WHERE l.pid = @pid AND ((l.locktype = 'relation' AND l.granted) OR (l.locktype = 'virtualxid' AND NOT l.granted))
            """;

        private readonly NpgsqlConnection _connection;
        private readonly NpgsqlCommand _poll;
        private readonly HashSet<HeldLock> _seen = [];
        private bool _holding = true;

        private LockSampler(NpgsqlConnection connection, int pid)
            : base("lock sampler")
        {
            _connection = connection;
            using var begin = new NpgsqlCommand("""
                BEGIN ISOLATION LEVEL REPEATABLE READ;
                SELECT virtualtransaction FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'virtualxid'
                """, connection);
            var snapshot = (string)begin.ExecuteScalar()!;
            _poll = new NpgsqlCommand(PollSql, connection);
            _poll.Parameters.AddWithValue("pid", pid);
            _poll.Parameters.AddWithValue("mine", snapshot);
            StartPolling();
        }

        public static LockSampler? Start(Func<NpgsqlConnection> open, int pid)
        {
            NpgsqlConnection? connection = null;
            try
            {
                connection = open();
                return new LockSampler(connection, pid);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                connection?.Dispose();
                return null;
            }
        }

        /// <summary>Stops sampling and returns every lock seen.</summary>
        public IReadOnlyList<HeldLock> Seen()
        {
            Stop();
            return [.. _seen];
        }

        public override void Dispose()
        {
            base.Dispose();
            _poll.Dispose();
            _connection.Dispose();
        }

        protected override TimeSpan Poll()
        {
            var waitsForUs = false;
            using (var reader = _poll.ExecuteReader())
            {
                while (reader.Read())
                {
                    if (reader.IsDBNull(0))
                    {
                        waitsForUs |= reader.GetBoolean(2);
                    }
                    else
                    {
                        _seen.Add(new HeldLock(reader.GetInt64(0), reader.GetString(1)));
                    }
                }
            }

            if (_holding && waitsForUs)
            {
                _holding = false;
                using var commit = new NpgsqlCommand("COMMIT", _connection);
                commit.ExecuteNonQuery();
            }

            return TimeSpan.FromMilliseconds(_holding ? 2 : 10);
        }

        // No snapshot of ours may hold the statement back once we can no longer see it.
        protected override void OnFailure() => _connection.Close();
    }
}
