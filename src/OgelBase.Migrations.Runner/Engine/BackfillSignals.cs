using System.Diagnostics;
using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>What the server showed while the last batches ran.</summary>
/// <param name="AppActive">Sessions other than the runner's ran a statement in the last second.</param>
/// <param name="Probe">The median probe since the last look that ran while a batch did (null: none ran).</param>
/// <param name="ProbeBetween">The median probe since the last look that ran between batches: what the app feels without the backfill.</param>
/// <param name="Vacuumed">Tables the backfill writes that a VACUUM (autovacuum or manual) is working on.</param>
/// <param name="ArchiveBacklog">WAL segments waiting for the archiver (null: archiving is off).</param>
/// <param name="ReplicationLag">Bytes of WAL the furthest-behind active replication slot has not confirmed (null: none).</param>
internal sealed record ServerHealth(bool AppActive, TimeSpan? Probe, string? Vacuumed, long? ArchiveBacklog, long? ReplicationLag)
{
    public TimeSpan? ProbeBetween { get; init; }
}

/// <summary>
/// A second session that watches what the app would feel while a backfill runs: every 20 ms, while the app is active,
/// a tiny probe (it takes a transaction id, so it waits for the CPU and WAL insertion as an app's write does), counted
/// as during a batch or between batches; every 250 ms, the server's health (VACUUM on the tables the backfill writes,
/// the archiver's backlog, replication slots' lag, and whether anyone but the runner is using the database). The
/// median of nine probes before the second batch is the first baseline.
/// </summary>
internal sealed class BackfillSignals : SidePoller
{
    private const string ProbeSql = "SELECT pg_current_xact_id()";

    private const string HealthSql = """
        WITH seg(size) AS (SELECT (SELECT setting::int8 FROM pg_settings WHERE name = 'wal_segment_size'))
        SELECT
          EXISTS (SELECT FROM pg_stat_activity a
                  WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
                    AND a.application_name NOT LIKE 'ogelbase-migrate%' AND (a.state <> 'idle' OR a.state_change > now() - interval '1 second')),
          (SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ')
           FROM pg_stat_progress_vacuum v JOIN pg_class c ON c.oid = v.relid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE v.datname = current_database() AND v.relid::int8 = ANY(@tables)),
          (SELECT (('x' || substr(w, 9, 8))::bit(32)::int8 - ('x' || substr(a.last_archived_wal, 9, 8))::bit(32)::int8) * (4294967296 / seg.size)
                  + ('x' || substr(w, 17, 8))::bit(32)::int8 - ('x' || substr(a.last_archived_wal, 17, 8))::bit(32)::int8
           FROM pg_stat_archiver a, seg, pg_walfile_name(pg_current_wal_lsn()) w
           WHERE current_setting('archive_mode') <> 'off' AND a.last_archived_wal ~ '^[0-9A-F]{24}$'),
          (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(s.confirmed_flush_lsn, s.restart_lsn)))::int8
           FROM pg_replication_slots s WHERE s.active)
        """;

    private static readonly ServerHealth None = new(false, null, null, null, null);
    private readonly List<TimeSpan> _during = [];
    private readonly List<TimeSpan> _between = [];
    private volatile bool _batchRunning;
    private static readonly TimeSpan ProbeEvery = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan HealthEvery = TimeSpan.FromMilliseconds(250);

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlCommand _probe;
    private readonly NpgsqlCommand _health;
    private readonly Stopwatch _sinceHealth = new();
    private readonly object _gate = new();
    private ServerHealth _last = None;

    private BackfillSignals(NpgsqlConnection connection, long[] tables)
        : base("backfill signals")
    {
        _connection = connection;
        _probe = new NpgsqlCommand(ProbeSql, connection);
        _health = new NpgsqlCommand(HealthSql, connection);
        _health.Parameters.AddWithValue("tables", tables);
        Baseline = Median([.. Enumerable.Range(0, 9).Select(_ => Probe())])!.Value;
        ReadHealth();
        StartPolling();
    }

    /// <summary>The probe's median latency before the backfill began.</summary>
    public TimeSpan Baseline { get; }

    /// <summary>Null when no second session can be opened: the backfill then keeps its pace fixed.</summary>
    public static BackfillSignals? Start(Func<NpgsqlConnection> open, IReadOnlyCollection<long> tables)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = open();
            return new BackfillSignals(connection, [.. tables]);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            connection?.Dispose();
            return null;
        }
    }

    /// <summary>Set while a batch runs: a probe is counted as during a batch or between batches.</summary>
    public bool BatchRunning
    {
        set => _batchRunning = value;
    }

    /// <summary>The latest health and the probes since the last call.</summary>
    public ServerHealth Take()
    {
        lock (_gate)
        {
            var health = _last with { Probe = Median(_during), ProbeBetween = Median(_between) };
            _during.Clear();
            _between.Clear();
            return health;
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _probe.Dispose();
        _health.Dispose();
        _connection.Dispose();
    }

    protected override TimeSpan Poll()
    {
        if (_sinceHealth.Elapsed >= HealthEvery)
        {
            ReadHealth();
        }

        if (_last.AppActive)
        {
            var during = _batchRunning;
            var latency = Probe();
            lock (_gate)
            {
                (during ? _during : _between).Add(latency);
            }
        }

        return ProbeEvery;
    }

    // Signals that can no longer be read are no reason to hold the backfill back: a stale VACUUM would hibernate it for ever.
    protected override void OnFailure()
    {
        lock (_gate)
        {
            _last = None;
            _during.Clear();
            _between.Clear();
        }
    }

    private static TimeSpan? Median(List<TimeSpan> probes) => probes.Count == 0 ? null : probes.Order().ElementAt(probes.Count / 2);

    private TimeSpan Probe()
    {
        var clock = Stopwatch.StartNew();
        _probe.ExecuteNonQuery();
        return clock.Elapsed;
    }

    private void ReadHealth()
    {
        _sinceHealth.Restart();
        using var reader = _health.ExecuteReader();
        reader.Read();
        var health = new ServerHealth(reader.GetBoolean(0), null, reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetInt64(2), reader.IsDBNull(3) ? null : reader.GetInt64(3));
        lock (_gate)
        {
            _last = health;
        }
    }
}
