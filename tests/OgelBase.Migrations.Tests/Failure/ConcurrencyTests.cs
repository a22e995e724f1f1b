using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Failure;

/// <summary>Deploys that overlap: runners queue on the migration lock (shown, not assumed); none fails, none applies a version twice.</summary>
[NonParallelizable] // its subject is timing (signals, lock waits, concurrent processes, online DDL under load): it runs alone
public sealed class ConcurrencyTests
{
    [Test]
    public async Task Migrate_up_racing_rollback_from_five_processes_never_fails_and_leaves_a_consistent_recorded_version()
    {
        await using var db = await TestDatabase.MigratedAsync();
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Org A', 'org-a');
            INSERT INTO platform.users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'one@example.test');
            INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001', 'owner');
            """);

        // The starting gate: the test holds the migration lock until all five runs are polling for it, so they race from
        // the same moment instead of from wherever their start-up happened to leave them (five processes started at
        // once can still reach the lock one after another, each after the previous one finished: no race at all).
        await using var gate = await db.OpenAsync();
        await LockAsync(gate, "pg_advisory_lock");

        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url };
        string[][] commands = [["migrate", "up"], ["rollback", "6"], ["migrate", "up"], ["rollback", "6"], ["migrate", "up"]];
        var runners = commands.Select(args => RunnerProcess.Start(environment, args)).ToList();
        try
        {
            var lockSessions = await WaitForLockPollersAsync(db, runners.Count, TimeSpan.FromSeconds(60));
            Assert.That(lockSessions, Has.Count.EqualTo(runners.Count), "the premise: every run reached the migration lock and found it held");

            using var stopSampling = new CancellationTokenSource();
            var queued = SampleQueuedAsync(db, lockSessions, stopSampling.Token);
            await LockAsync(gate, "pg_advisory_unlock");
            CliResult[] results;
            try
            {
                results = await Task.WhenAll(runners.Select(r => r.WaitAsync(TimeSpan.FromMinutes(5))));
            }
            finally
            {
                await stopSampling.CancelAsync();
            }

            foreach (var result in results)
            {
                Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
                Assert.That(result.Stderr, Does.Contain("waiting for the migration lock"), $"every run waited for the lock and said so: {result}");
            }

            // After the gate opened: one run held the lock while another run's lock session was still polling for it.
            var samples = await queued;
            TestContext.Out.WriteLine($"{samples} samples saw a run waiting while another run held the migration lock");
            Assert.That(samples, Is.GreaterThanOrEqualTo(1), "the premise: the runs queued on each other, not only on the gate");
        }
        finally
        {
            runners.ForEach(r => r.Dispose());
        }

        // Whichever ran last decided the version; either way the catalog matches what is recorded, and the user's
        // active organization survived every rollback and re-apply in between.
        var recorded = await db.RecordedVersionsAsync();
        Assert.That(recorded, Is.Unique);
        Assert.That(recorded.Take(6), Is.EqualTo(new long[] { 1, 2, 3, 4, 5, 6 }));
        var verify = await db.RunAsync("verify");
        Assert.That(verify.ExitCode, Is.EqualTo(0), verify.ToString());
        var up = await db.RunAsync("migrate", "up");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        Assert.That(await db.ScalarAsync<string>("SELECT active_org_id::text FROM platform.users"), Is.EqualTo("00000000-0000-0000-0000-0000000000a1"));
    }

    private static async Task LockAsync(NpgsqlConnection connection, string function)
    {
        await using var command = new NpgsqlCommand($"SELECT {function}(@space, @key)", connection);
        command.Parameters.AddWithValue("space", MigrationLock.KeySpace);
        command.Parameters.AddWithValue("key", MigrationLock.Key);
        await command.ExecuteScalarAsync();
    }

    /// <summary>The backend pids of the runs' lock sessions, once <paramref name="count"/> of them have polled pg_try_advisory_lock.</summary>
    private static async Task<HashSet<int>> WaitForLockPollersAsync(TestDatabase db, int count, TimeSpan timeout)
    {
        var pids = new HashSet<int>();
        var deadline = DateTime.UtcNow + timeout;
        await using var connection = await db.OpenAsync();
        while (pids.Count < count && DateTime.UtcNow < deadline)
        {
            await using var command = new NpgsqlCommand(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'ogelbase-migrate%' AND query LIKE '%pg_try_advisory_lock%'",
                connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                pids.Add(reader.GetInt32(0));
            }

            await Task.Delay(20);
        }

        return pids;
    }

    /// <summary>
    /// Samples, until cancelled, whether one of the runs' lock sessions holds the migration lock while another of them
    /// is still waiting for it (alive, not holding it, not releasing it); returns how many samples saw that.
    /// </summary>
    private static async Task<int> SampleQueuedAsync(TestDatabase db, IReadOnlySet<int> lockSessions, CancellationToken stop)
    {
        var seen = 0;
        await using var connection = await db.OpenAsync();
        while (!stop.IsCancellationRequested)
        {
            await using var command = new NpgsqlCommand(
                """
                WITH holder AS (
                  SELECT l.pid FROM pg_locks l
                  WHERE l.locktype = 'advisory' AND l.granted AND l.classid = @space::oid AND l.objid = @key::oid
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
                SELECT EXISTS (SELECT 1 FROM holder WHERE pid = ANY(@runs))
                   AND EXISTS (SELECT 1 FROM pg_stat_activity a
                               WHERE a.pid = ANY(@runs) AND a.pid NOT IN (SELECT pid FROM holder) AND a.query NOT LIKE '%pg_advisory_unlock%')
                """, connection);
            command.Parameters.AddWithValue("space", (long)MigrationLock.KeySpace);
            command.Parameters.AddWithValue("key", (long)MigrationLock.Key);
            command.Parameters.AddWithValue("runs", lockSessions.ToArray());
            if ((bool)(await command.ExecuteScalarAsync(CancellationToken.None))!)
            {
                seen++;
            }

            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return seen;
    }

    [Test]
    public async Task A_runner_with_a_lock_timeout_shorter_than_a_running_migration_exits_3_with_a_clear_line()
    {
        await using var db = await TestDatabase.CreateAsync();
        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url, ["OGELBASE_TEST_STATEMENT_DELAY_MS"] = "100" };
        using var slow = RunnerProcess.Start(environment, "migrate", "up", "--to", "1");
        Assert.That(await RunnerSessions.WaitForOpenTransactionAsync(db, TimeSpan.FromSeconds(30)), Is.True);

        var impatient = await RunnerProcess.RunAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = db.Url }, "migrate", "up", "--lock-timeout", "1");
        Assert.That(impatient.ExitCode, Is.EqualTo(3), impatient.ToString());
        Assert.That(impatient.Stderr.Split('\n').Count(l => l.StartsWith("error:", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(impatient.Stderr, Does.Contain("migration lock"));
        Assert.That(slow.HasExited, Is.False, "the premise: the first run held the lock for the whole of the second one's wait");

        var first = await slow.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.That(first.ExitCode, Is.EqualTo(0), first.ToString());
    }
}
