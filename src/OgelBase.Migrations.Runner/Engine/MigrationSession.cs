using System.Diagnostics;
using FluentMigrator.Runner.Exceptions;
using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Services;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>What applying or reverting one migration took: its time and the lock record of its statements.</summary>
public sealed record MigrationRun(TimeSpan Elapsed, IReadOnlyList<StatementTrace> Statements)
{
    /// <summary>", longest lock blocking the app: AccessExclusiveLock on platform.users for 3 ms (ALTER TABLE …)", or "".</summary>
    public string LongestBlockingHold =>
        Longest is var (statement, held, time) && held is not null
            ? $"; longest lock blocking the app: {held.Mode} on {held.Relation} for {Progress.Duration(time)} ({statement!.Label})"
            : "; no lock blocked the app";

    public double? LongestBlockingMs => Longest.Lock is null ? null : Math.Round(Longest.Time.TotalMilliseconds, 1);

    private (StatementTrace? Statement, TracedLock? Lock, TimeSpan Time) Longest =>
        Statements.SelectMany(s => s.Blocking.Select(l => ((StatementTrace?)s, (TracedLock?)l, l.Held ?? s.Duration)))
            .OrderByDescending(x => x.Item3).FirstOrDefault();
}

/// <summary>
/// One run against the database: the migration lock, the versions applied when the lock was taken, and
/// FluentMigrator to apply or revert one migration at a time. Applied versions are read only once the
/// lock is held, so two runs never plan from the same stale state.
/// </summary>
public sealed class MigrationSession : IAsyncDisposable
{
    private readonly RunSettings _settings;
    private readonly RunnerConsole _console;
    private readonly MigrationLock _lock;
    private readonly FluentMigratorHost _host;
    private readonly CancellationTokenRegistration _onCancel;
    private readonly CancellationToken _cancellationToken;
    private readonly CancellationTokenSource _disposed = new();
    private Task _stopping = Task.CompletedTask;

    private MigrationSession(RunSettings settings, RunnerConsole console, MigrationLock migrationLock, FluentMigratorHost host,
        IReadOnlyList<AppliedVersion> applied, CancellationToken cancellationToken)
    {
        _settings = settings;
        _console = console;
        _lock = migrationLock;
        _host = host;
        Applied = applied;
        _cancellationToken = cancellationToken;
        _onCancel = cancellationToken.Register(StopMigrationSession);
    }

    public IReadOnlyList<AppliedVersion> Applied { get; private set; }

    /// <summary>The lock session's connection, free for short reads between migrations.</summary>
    public NpgsqlConnection Connection => _lock.Connection;

    public FluentMigratorHost Host => _host;

    /// <summary>
    /// Takes the migration lock and reads the applied versions under it, once: the plan is made from <see cref="Applied"/>.
    /// Creates nothing, so a verb can still refuse (<see cref="VersionStore.RefuseUnrecordedSchemaAsync"/>, preconditions)
    /// and change nothing; <see cref="PrepareAsync"/> then creates the tool's tables.
    /// </summary>
    public static async Task<MigrationSession> OpenAsync(RunSettings settings, RunnerConsole console, IEnumerable<long> includes, CancellationToken cancellationToken)
    {
        var host = FluentMigratorHost.Create(settings, console, includes, preview: false);
        MigrationLock? migrationLock = null;
        try
        {
            migrationLock = await MigrationLock.AcquireAsync(settings, console, () => OpenMigrationSession(host, settings), cancellationToken);
            var applied = await VersionStore.ReadAsync(migrationLock.Connection, cancellationToken);
            return new MigrationSession(settings, console, migrationLock, host, applied, cancellationToken);
        }
        catch
        {
            host.Dispose();
            if (migrationLock is not null)
            {
                await migrationLock.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>
    /// Once every check that may refuse has passed: creates (or completes) the tool's tables and holds the applied
    /// history to this build's checksums (<see cref="ChecksumGuard"/>), refusing a changed one not in <paramref name="allowChanged"/>.
    /// </summary>
    public async Task PrepareAsync(string verb, IReadOnlySet<long>? allowChanged = null)
    {
        await VersionStore.EnsureSchemaAsync(Connection, _cancellationToken);
        await ChecksumGuard.CheckAsync(Connection, _console, Applied, allowChanged ?? new HashSet<long>(), verb, _cancellationToken);
    }

    /// <summary>
    /// The migration session, opened next to the lock session (FluentMigrator opens it synchronously and once): a failure
    /// here is the same one-line connection error as the lock session's.
    /// </summary>
    private static NpgsqlConnection OpenMigrationSession(FluentMigratorHost host, RunSettings settings)
    {
        try
        {
            return host.OpenSession();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new RunnerException(FailureKind.Unavailable, $"cannot connect to {settings.Target} (migration session): {Database.Classify(e).Reason}");
        }
    }

    public async Task<MigrationRun> UpAsync(KnownMigration migration) => await RunAsync(migration, up: true);

    public async Task<MigrationRun> DownAsync(KnownMigration migration) => await RunAsync(migration, up: false);

    public async ValueTask DisposeAsync()
    {
        await _onCancel.DisposeAsync();
        await _disposed.CancelAsync();
        await _stopping;
        _disposed.Dispose();
        try
        {
            _host.Dispose();
        }
        catch (Exception e) when (e is ObjectDisposedException or NpgsqlException or InvalidOperationException)
        {
            // The migration session was ended (a signal, a lost connection); the server already rolled back its transaction.
        }
        finally
        {
            await _lock.DisposeAsync();
        }
    }

    private async Task<MigrationRun> RunAsync(KnownMigration migration, bool up)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        var tracer = _host.Tracer;
        tracer.Version = migration.Version;
        var traced = tracer.Record.Count;
        IReadOnlyList<Blocker> blockers = [];
        var retry = new LockRetry(_settings.LockTimeoutAttempts, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        try
        {
            retry.Run(
                () =>
                {
                    var pid = PrepareMigrationConnection();
                    var info = _host.Info(migration.Version);

                    // While a transactional migration runs, the lock session (idle meanwhile) samples who blocks the
                    // migration session: after a lock_timeout the wait is over and pg_blocking_pids has nothing to say.
                    using var watch = migration.Transactional ? BlockerWatch.Start(Connection, pid, WatchInterval) : null;
                    try
                    {
                        if (up)
                        {
                            _host.Runner.ApplyMigrationUp(info, migration.Transactional);
                        }
                        else
                        {
                            _host.Runner.ApplyMigrationDown(info, migration.Transactional);
                        }
                    }
                    finally
                    {
                        watch?.Dispose();
                        blockers = watch?.LastSeen ?? [];
                    }

                    return true;
                },
                // Only a transactional migration is retried whole: its transaction was rolled back, nothing is held.
                // An online one retries each statement itself.
                e => !_cancellationToken.IsCancellationRequested && migration.Transactional
                     && FindPostgres(e) is { SqlState: PostgresErrorCodes.LockNotAvailable } pg ? pg : null,
                (attempt, _, pause) =>
                {
                    var named = blockers.Count == 0 ? "" : $"; {LockBlockers.Describe(blockers)}";
                    _console.Info($"  {migration.Label}: lock_timeout ({_settings.StatementLockTimeout.TotalSeconds:0.#} s) reached waiting for a table lock{named}; " +
                                  $"rolled back, retrying in {pause.TotalSeconds:0.#} s (attempt {attempt + 1} of {retry.MaxAttempts})",
                        ("version", migration.Version), ("sqlstate", PostgresErrorCodes.LockNotAvailable), ("attempt", attempt + 1),
                        ("attempts", retry.MaxAttempts), ("retry_s", Math.Round(pause.TotalSeconds, 1)), ("blocker", blockers.Count == 0 ? null : blockers));
                },
                (e, _, _) => e,
                _cancellationToken);
        }
        catch (Exception e)
        {
            throw Describe(migration, up, e, blockers);
        }

        if (up)
        {
            // After the migration's own commit: a run killed in between leaves the checksum empty, and the next run records it.
            await VersionStore.RecordChecksumAsync(Connection, migration.Version, Checksums.Of(migration.Version), CancellationToken.None);
        }

        Applied = await VersionStore.ReadAsync(Connection, CancellationToken.None);
        return new MigrationRun(clock.Elapsed, tracer.Record.Skip(traced).ToList());
    }

    private TimeSpan WatchInterval => TimeSpan.FromMilliseconds(Math.Clamp(_settings.StatementLockTimeout.TotalMilliseconds / 4, 20, 1000));

    /// <summary>
    /// Opens FluentMigrator's connection (the migration session) and sets its lock_timeout with SET, not as a startup
    /// option: PgBouncer rejects or drops the <c>options</c> startup parameter, and then DDL waits would be unbounded.
    /// Done before every attempt, so a reopened connection gets it too. Returns the session's backend pid as the
    /// server knows it (through a pooler, the client-side ProcessID is the pooler's own key).
    /// </summary>
    private int PrepareMigrationConnection()
    {
        var connection = _host.OpenSession();
        using var command = new NpgsqlCommand("SELECT set_config('lock_timeout', @value, false), pg_backend_pid()", connection);
        command.Parameters.AddWithValue("value", $"{Math.Max(1, (int)_settings.StatementLockTimeout.TotalMilliseconds)}ms");
        using var reader = command.ExecuteReader();
        reader.Read();
        return reader.GetInt32(1);
    }

    private RunnerException Describe(KnownMigration migration, bool up, Exception e, IReadOnlyList<Blocker> blockers)
    {
        var verb = up ? "migration" : "rollback of";
        var effect = migration.Transactional
            ? "its transaction was rolled back and the version left unrecorded"
            : "it does not run in one transaction; its steps are idempotent, so re-running completes it";
        if (Find<TimeBudgetSpentException>(e) is { } spent)
        {
            return new RunnerException(FailureKind.OutOfTime,
                $"time budget spent during {migration.Label}: {spent.Message}; {migration.Label} is not recorded and the next run resumes it.", e);
        }

        if (_cancellationToken.IsCancellationRequested)
        {
            return new RunnerException(FailureKind.Interrupted, $"interrupted during {verb} {migration.Label}: {effect}; the migration lock was released.", e);
        }

        var pg = FindPostgres(e);
        string detail;
        if (pg is not null)
        {
            var statement = OneLine(pg.BatchCommand?.CommandText ?? ExtractStatement(e));
            detail = $"{pg.SqlState} {OneLine(pg.MessageText)}" + (statement.Length > 0 ? $" (statement: {statement})" : "");
        }
        else if (e is VersionOrderInvalidException)
        {
            detail = OneLine(e.Message);
        }
        else
        {
            // Long enough for an online step's give-up line, which names the blocking sessions.
            detail = OneLine(Innermost(e).Message, maxLength: 1000);
        }

        var hint = pg?.SqlState == PostgresErrorCodes.LockNotAvailable
            ? $"; another session kept a conflicting lock through {_settings.LockTimeoutAttempts} attempts{(blockers.Count == 0 ? "" : $" ({LockBlockers.Describe(blockers)})")}"
            : "";
        return new RunnerException(FailureKind.Failed, $"{verb} {migration.Label} failed: {detail}{hint}; {effect}.", e);
    }

    private void StopMigrationSession()
    {
        // Runs on the signal thread while FluentMigrator blocks in a synchronous call: end the migration's server
        // session so PostgreSQL rolls its transaction back and the blocked call returns with an error. One sweep is
        // not enough: a signal that lands before FluentMigrator has opened its session (or while it reconnects)
        // would find nothing to end and the migration would run on, so the sweep repeats until this run is disposed.
        _stopping = Task.Run(async () =>
        {
            while (!_disposed.IsCancellationRequested)
            {
                EndMigrationSessions();
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), _disposed.Token);
                }
                catch (OperationCanceledException)
                {
                    // Disposed: the run is over.
                }
            }
        });
    }

    private void EndMigrationSessions()
    {
        try
        {
            using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_settings.Connection.ConnectionString)
            {
                Pooling = false,
                Timeout = 5,
                ApplicationName = "ogelbase-migrate stop",
            }.ConnectionString);
            connection.Open();
            using var command = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = @app AND pid <> pg_backend_pid()", connection);
            command.Parameters.AddWithValue("app", _host.ApplicationName);
            command.ExecuteScalar();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            // If the server cannot be reached, neither can the migration session: it is already gone.
        }
    }

    internal static PostgresException? FindPostgres(Exception e) => Find<PostgresException>(e);

    private static T? Find<T>(Exception e)
        where T : Exception
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null && e.GetType() == typeof(Exception))
        {
            e = e.InnerException;
        }

        return e;
    }

    // FluentMigrator wraps a failing statement as "<message>\r\nWhile Processing:\r\n\"<sql>\"".
    private static string ExtractStatement(Exception e)
    {
        const string marker = "While Processing:";
        var index = e.Message.IndexOf(marker, StringComparison.Ordinal);
        return index < 0 ? "" : e.Message[(index + marker.Length)..].Trim().Trim('"');
    }

    internal static string OneLine(string text, int maxLength = 240)
    {
        var collapsed = string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()));
        return collapsed.Length <= maxLength ? collapsed : collapsed[..maxLength] + " …";
    }
}
