using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using OgelBase.Migrations.Runner;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.Runner.Trace;
using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests.Trace;

/// <summary>
/// The lock rules against what PostgreSQL really does: every case of <see cref="LockRuleCases"/> runs through a real
/// <see cref="LockTracer"/> (the code path every statement of the runner takes) on a database whose tables hold rows,
/// and the rules judge the record against that database's own sizes.
/// </summary>
public sealed class LockRuleCorpusTests
{
    private const string Tables = """
        CREATE SCHEMA corpus;
        CREATE TABLE corpus.accounts (id int PRIMARY KEY, email varchar(10) NOT NULL, score int, note text);
        INSERT INTO corpus.accounts SELECT g, 'a' || g, g % 100, NULL FROM generate_series(1, 5000) g;
        CREATE TABLE corpus.orders (id int PRIMARY KEY, account_id int, amount int);
        INSERT INTO corpus.orders SELECT g, g % 5000 + 1, g FROM generate_series(1, 5000) g;
        ANALYZE corpus.accounts, corpus.orders;
        """;

    private static IEnumerable<TestCaseData> Cases => LockRuleCases.All.Select(c => new TestCaseData(c).SetName(c.Name));

    [Test]
    public void The_corpus_has_a_safe_twin_for_every_rule_it_catches_and_at_least_twelve_cases()
    {
        Assert.That(LockRuleCases.All, Has.Count.GreaterThanOrEqualTo(12));
        Assert.That(LockRuleCases.All.SelectMany(c => c.Findings).Select(f => f.Split(' ')[0]).Distinct(), Is.EquivalentTo(LockRules.Names),
            "every rule is caught by at least one case");
        Assert.That(LockRuleCases.All.Count(c => c.Findings.Length == 0), Is.GreaterThanOrEqualTo(LockRuleCases.All.Count(c => c.Findings.Length > 0)),
            "every dangerous case has a safe twin");
    }

    [TestCaseSource(nameof(Cases))]
    public async Task Case(LockRuleCase @case)
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync(Tables);
        var sizes = await SizesAsync(db);

        var record = await TraceAsync(db, @case);
        var findings = LockRules.Evaluate(record, relation => sizes.TryGetValue(relation, out var size) ? size : RelationSize.New);

        var locks = record.SelectMany(s => s.Locks).Select(l => $"{l.Relation} {l.Mode}").ToList();
        var found = findings.Select(f => $"{f.Rule} {f.Relation}").ToList();
        var described = string.Join("\n", record.Select(LockTracer.Describe)) + "\nfindings:\n" + string.Join("\n", findings.Select(f => f.Describe()));
        Assert.Multiple(() =>
        {
            Assert.That(locks, Is.SupersetOf(@case.Locks), described);
            Assert.That(found, Is.SupersetOf(@case.Findings), described);
            Assert.That(found.Select(f => f.Split(' ')[0]).Distinct(), Is.EquivalentTo(@case.Findings.Select(f => f.Split(' ')[0]).Distinct()),
                $"no other rule fires\n{described}");
        });
        Assert.That(findings.All(f => f.Version == 1 && f.Statement.Label.Length > 0 && f.Size.HasRows && f.Mode.Length > 0 && f.Held > TimeSpan.Zero),
            "each finding names the migration, the statement, the lock mode, the hold time and the table's size");
    }

    /// <summary>Each transaction of the case as the runner sends it: BEGIN, every statement observed, COMMIT; a CONCURRENTLY one sampled from a second session.</summary>
    private static async Task<IReadOnlyList<StatementTrace>> TraceAsync(TestDatabase db, LockRuleCase @case)
    {
        await using var connection = await db.OpenAsync();
        await using (var set = new NpgsqlCommand($"SET lock_timeout = '{@case.LockTimeout}'", connection))
        {
            await set.ExecuteNonQueryAsync();
        }

        var tracer = new LockTracer(NullLogger<LockTracer>.Instance) { Version = 1 };
        foreach (var transaction in @case.Transactions)
        {
            if (transaction is [var alone] && alone.Contains("CONCURRENTLY", StringComparison.Ordinal))
            {
                tracer.Concurrently(connection, connection.ProcessID, () => Open(db), alone, () => Execute(connection, null, alone));
                continue;
            }

            await using var tx = await connection.BeginTransactionAsync();
            foreach (var statement in transaction)
            {
                tracer.InTransaction(connection, tx, statement, () => (0, (long?)Execute(connection, tx, statement)));
            }

            await tx.CommitAsync();
            tracer.TransactionEnded();
        }

        return tracer.Record;
    }

    /// <summary>The sizes the trace reads from a target, read the same way (<see cref="TargetCatalog"/>) before the case runs.</summary>
    private static async Task<IReadOnlyDictionary<string, RelationSize>> SizesAsync(TestDatabase db)
    {
        var settings = new RunSettings { Connection = new NpgsqlConnectionStringBuilder(db.ConnectionString), Target = db.Name };
        await using var target = await TargetCatalog.OpenAsync(settings, new RunnerConsole(TextWriter.Null, TextWriter.Null, _ => null), CancellationToken.None);
        return await target.SizesAsync(await db.ColumnAsync("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'corpus'"),
            CancellationToken.None);
    }

    private static int Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        return command.ExecuteNonQuery();
    }

    private static NpgsqlConnection Open(TestDatabase db)
    {
        var connection = new NpgsqlConnection(db.ConnectionString);
        connection.Open();
        return connection;
    }
}
