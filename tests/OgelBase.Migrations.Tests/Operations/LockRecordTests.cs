using System.Text.Json;
using Npgsql;
using OgelBase.Migrations.Tests.Support;
using static OgelBase.Migrations.Tests.Operations.LogFormatTests;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>
/// The lock record of a real run: what an operator reads in Railway's logs after a deploy is what the app had to wait
/// behind, and it is checked against a second session that watched the run's locks from outside.
/// </summary>
public sealed class LockRecordTests
{
    [Test]
    public async Task Migrate_up_from_7_to_8_logs_the_access_exclusive_lock_it_took_on_users_and_how_long_it_held_it()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "7", "--include", "7");
        await ActiveOrgData.SeedManyAsync(db, 2000);

        var result = await db.RunAsync("migrate", "up", "--to", "8", "--log-format", "json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = JsonLines(result.Stderr);
        var addColumn = lines.Where(l => l.TryGetProperty("lock_mode", out _) && Text(l, "statement").Contains("ADD COLUMN", StringComparison.Ordinal)).ToList();
        Assert.That(addColumn.Select(l => $"{Text(l, "relation")} {Text(l, "lock_mode")} blocks {Text(l, "blocks")}"),
            Is.EqualTo(new[] { "platform.users AccessExclusiveLock blocks reads and writes" }), result.Stderr);
        Assert.That(addColumn[0].GetProperty("held_ms").GetDouble(), Is.GreaterThan(0));
        Assert.That(Text(addColumn[0], "lock_timeout"), Is.EqualTo("50ms"), "taken under the online executor's short lock_timeout");

        var summary = lines.Single(l => Text(l, "message").StartsWith("applied 008", StringComparison.Ordinal));
        Assert.That(Text(summary, "message"), Does.Match(@"longest lock blocking the app: \w+Lock on platform\.\w+ for \d+ ms \("), result.Stderr);
        Assert.That(summary.GetProperty("longest_blocking_ms").GetDouble(), Is.GreaterThanOrEqualTo(addColumn[0].GetProperty("held_ms").GetDouble()));
    }

    [Test]
    public async Task A_lock_on_a_table_created_in_the_same_transaction_blocks_nobody_and_is_not_logged_as_blocking()
    {
        await using var db = await TestDatabase.CreateAsync();

        var result = await db.RunAsync("migrate", "up", "--to", "2", "--log-format", "json", "--verbose");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = JsonLines(result.Stderr);
        var created = Recorded(lines).Where(l => l.Version == 2 && l.Relation == "platform.invoices").ToList();
        Assert.That(created, Has.Some.Matches<RecordedLock>(l => l.Mode == "AccessExclusiveLock" && l.Created), "the premise: 002 creates invoices under its own lock");
        Assert.That(lines.Where(l => l.TryGetProperty("lock_mode", out _)).Select(l => Text(l, "relation")), Does.Not.Contain("platform.invoices"));
        Assert.That(lines.Where(l => l.TryGetProperty("wal_bytes", out _)).Max(l => l.GetProperty("wal_bytes").GetInt64()), Is.GreaterThan(0),
            "the WAL a statement wrote is measured inside its transaction too");
    }

    [Test]
    public async Task A_backfill_is_one_line_of_the_record_with_its_batches_rows_and_the_WAL_of_all_of_them()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "7", "--include", "7");
        await ActiveOrgData.SeedManyAsync(db, 2000);

        var result = await db.RunAsync("migrate", "up", "--to", "8", "--batch-size", "100", "--log-format", "json", "--verbose");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var backfill = JsonLines(result.Stderr).Where(l => l.TryGetProperty("locks", out _) && Text(l, "statement") == "backfill active_org_id").ToList();
        Assert.That(backfill, Has.Count.EqualTo(1), result.Stderr);
        var rows = backfill[0].GetProperty("rows").GetInt64();
        Assert.That(rows, Is.EqualTo(await db.ScalarAsync<long>("SELECT count(*) FROM platform.users WHERE active_org_id IS NOT NULL")));
        Assert.That(backfill[0].GetProperty("batches").GetInt32(), Is.GreaterThanOrEqualTo(20));
        Assert.That(Recorded(backfill).Select(l => (l.Relation, l.Mode)), Does.Contain(("platform.users", "RowExclusiveLock")));
        // An updated row here writes a heap record and seven index entries (some hundred bytes): the first batch alone, full-page images included, stays far below this.
        Assert.That(backfill[0].GetProperty("wal_bytes").GetInt64(), Is.GreaterThan(rows * 150), "the WAL of every batch, not of the first one");
    }

    [Test]
    [NonParallelizable]
    public async Task Every_lock_a_second_session_sees_the_migration_take_is_in_the_runs_lock_record()
    {
        await using var db = await TestDatabase.MigratedAsync("--to", "7", "--include", "7");
        await ActiveOrgData.SeedManyAsync(db, 5000);
        var existing = (await db.ColumnAsync("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace")).ToHashSet();
        using var stop = new CancellationTokenSource();
        var observer = ObserveMigrationSessionsAsync(db, stop.Token);

        var result = await db.RunAsync("migrate", "up", "--verbose", "--log-format", "json");
        await stop.CancelAsync();
        var (seen, samples) = await observer;

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(await db.RecordedVersionsAsync(), Does.Contain(11L));
        Assert.That(samples, Is.GreaterThan(100), "the premise: the observer polled throughout the run");
        Assert.That(seen.Keys.Where(s => s.Relation == "platform.users"), Is.Not.Empty, "the premise: the observer caught the migration holding locks on users");
        Assert.That(seen.Keys.Where(s => s.Mode == "AccessExclusiveLock"), Is.Not.Empty, "the premise: the observer caught a lock that blocks the app");
        var recorded = Recorded(JsonLines(result.Stderr)).Select(l => (l.Relation, l.Mode)).ToHashSet();
        Assert.That(seen.Keys.Where(s => s.Mode == "AccessShareLock").Intersect(recorded), Is.Not.Empty, "and the record has the read locks a statement keeps");

        // The record reads a statement's locks when it ends; an ACCESS SHARE lock that PostgreSQL takes and releases
        // inside a statement (a catalog function looking at a table, such as 10's privilege checks) is not there, and
        // blocks nothing but an ACCESS EXCLUSIVE request. Nor is every lock a CONCURRENTLY build takes for a moment on
        // the index it is building (sampled, not read): nobody was using that index yet. Every stronger lock on what
        // the app uses is.
        Assert.That(seen.Keys.Where(s => s.Mode != "AccessShareLock" && existing.Contains(s.Relation)).Except(recorded).Select(k => $"{k} first seen at {seen[k]:HH:mm:ss.fff}"), Is.Empty,
            $"seen by the observer but missing from the record; the run:\n{result.Stderr}");
    }

    private sealed record RecordedLock(long Version, string Relation, string Mode, bool Created);

    /// <summary>Every lock of the --verbose record lines ("record: …", one per statement).</summary>
    private static IEnumerable<RecordedLock> Recorded(IEnumerable<JsonElement> lines) =>
        lines.Where(l => l.TryGetProperty("locks", out _))
            .SelectMany(l => l.GetProperty("locks").EnumerateArray().Select(k => new RecordedLock(
                l.GetProperty("version").GetInt64(), Text(k, "relation"), Text(k, "mode"), k.GetProperty("created").GetBoolean())));

    private static string Text(JsonElement element, string name) => element.GetProperty(name).GetString() ?? "";

    /// <summary>
    /// Polls pg_locks every few milliseconds for the migration session of any run on this database (its
    /// application_name is "ogelbase-migrate" and a run id; the runner's side sessions add a word after it) and
    /// collects each relation and mode it holds. The tool's own bookkeeping table is FluentMigrator's version read, not
    /// a statement of a migration, and is left out.
    /// </summary>
    private static async Task<(Dictionary<(string Relation, string Mode), DateTime> Seen, int Samples)> ObserveMigrationSessionsAsync(TestDatabase db, CancellationToken stop)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT format('%I.%I', n.nspname, c.relname), l.mode
            FROM pg_locks l
            JOIN pg_stat_activity a ON a.pid = l.pid
            JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.datname = current_database() AND a.application_name ~ '^ogelbase-migrate [0-9a-f]+$'
              AND l.locktype = 'relation' AND l.granted
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ogelbase_migrations') AND n.nspname NOT LIKE 'pg\_toast%'
            """, connection);
        await command.PrepareAsync(CancellationToken.None);
        var seen = new Dictionary<(string, string), DateTime>();
        var samples = 0;
        while (!stop.IsCancellationRequested)
        {
            await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    seen.TryAdd((reader.GetString(0), reader.GetString(1)), DateTime.UtcNow);
                }
            }

            samples++;
            await Task.Delay(TimeSpan.FromMilliseconds(2), CancellationToken.None);
        }

        return (seen, samples);
    }
}
