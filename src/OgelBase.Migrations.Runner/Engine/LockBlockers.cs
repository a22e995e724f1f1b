using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>A session that blocks another one's lock request, as the operator needs it to go and find it.</summary>
public sealed record Blocker(int Pid, string Application, string State, TimeSpan? TransactionAge, string Query)
{
    public override string ToString() =>
        $"pid {Pid} ({Application}, {State}, transaction open {(TransactionAge is { } age ? Progress.Duration(age) : "none")}, query: {Query})";
}

/// <summary>
/// Who blocks a session's lock request: <c>pg_blocking_pids</c> joined to <c>pg_stat_activity</c>. It answers only
/// while the request waits, which for a lock_timeout of 50 ms is over before anyone could look afterwards; hence
/// <see cref="BlockerWatch"/>, which asks from a second connection while the statement waits.
/// </summary>
public static partial class LockBlockers
{
    // Only the first line of the blocker's query, with string literals blanked: it is another application's SQL and
    // its literals may be data or secrets, which have no place in the runner's logs.
    private const string Columns = """
        SELECT a.pid, coalesce(nullif(a.application_name, ''), 'unnamed client'), coalesce(a.state, 'unknown'),
               extract(epoch FROM clock_timestamp() - a.xact_start)::float8, split_part(coalesce(a.query, ''), E'\n', 1)
        FROM pg_stat_activity a
        """;

    private const string BlockersSql = Columns + " WHERE a.pid = ANY (pg_blocking_pids(@pid)) ORDER BY a.xact_start NULLS LAST, a.pid";

    private const string SessionSql = Columns + " WHERE a.pid = @pid";

    /// <summary>The sessions blocking <paramref name="pid"/>'s lock request right now.</summary>
    public static IReadOnlyList<Blocker> Read(NpgsqlConnection connection, int pid) => Query(connection, BlockersSql, pid);

    /// <summary>One session, described the same way (e.g. the holder of an advisory lock, which pg_blocking_pids cannot name for a try-lock).</summary>
    public static IReadOnlyList<Blocker> ReadSession(NpgsqlConnection connection, int pid) => Query(connection, SessionSql, pid);

    private static List<Blocker> Query(NpgsqlConnection connection, string sql, int pid)
    {
        using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("pid", pid);
        using var reader = command.ExecuteReader();
        var blockers = new List<Blocker>();
        while (reader.Read())
        {
            blockers.Add(new Blocker(
                reader.GetInt32(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : TimeSpan.FromSeconds(reader.GetDouble(3)),
                Redact(reader.GetString(4))));
        }

        return blockers;
    }

    /// <summary>"blocked by pid 42 (app, idle in transaction, transaction open 12 s, query: ...)", or "" when none was seen.</summary>
    public static string Describe(IReadOnlyList<Blocker> blockers) =>
        blockers.Count == 0 ? "" : "blocked by " + string.Join("; ", blockers.Select(b => b.ToString()));

    internal static string Redact(string query)
    {
        var line = Literal().Replace(query.Trim(), "'…'");
        return line.Length <= 100 ? line : line[..100] + " …";
    }

    [GeneratedRegex("'(?:[^']|'')*'?")]
    private static partial Regex Literal();
}

/// <summary>
/// Samples the blockers of one backend from a second connection while a statement of it waits, keeping the last
/// non-empty sample, so a lock_timeout failure can still name who held the lock.
/// </summary>
internal sealed class BlockerWatch : SidePoller
{
    private readonly NpgsqlConnection _connection;
    private readonly int _pid;
    private readonly TimeSpan _interval;
    private volatile IReadOnlyList<Blocker> _lastSeen = [];

    private BlockerWatch(NpgsqlConnection connection, int pid, TimeSpan interval)
        : base("blocker watch " + pid.ToString(CultureInfo.InvariantCulture))
    {
        _connection = connection;
        _pid = pid;
        _interval = interval;
    }

    /// <summary>The blockers seen most recently, or none.</summary>
    public IReadOnlyList<Blocker> LastSeen => _lastSeen;

    /// <param name="connection">An open connection used only by the watch until it is disposed.</param>
    public static BlockerWatch Start(NpgsqlConnection connection, int pid, TimeSpan interval)
    {
        var watch = new BlockerWatch(connection, pid, interval);
        watch.StartPolling();
        return watch;
    }

    protected override TimeSpan Poll()
    {
        var seen = LockBlockers.Read(_connection, _pid);
        if (seen.Count > 0)
        {
            _lastSeen = seen;
        }

        return _interval;
    }
}
