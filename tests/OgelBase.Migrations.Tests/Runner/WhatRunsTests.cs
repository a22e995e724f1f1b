using System.Text.RegularExpressions;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Runner;

/// <summary>
/// Every schema change a migration makes is a statement the runner sees (rendered into the checksum, linted, run under
/// the online mechanics), never DDL sent by hand from a code step. An event trigger records the top-level statement
/// behind every DDL command of a full up and down, opt-ins included; each must be part of some migration's rendered
/// text, or be the runner's own bookkeeping in its schema.
/// </summary>
public sealed partial class WhatRunsTests
{
    [Test]
    public async Task Every_ddl_statement_of_every_up_and_down_is_one_the_checksum_covers()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync(GoTrueAuth.AuthUsersDdl);
        await db.ExecuteAsync("""
            CREATE SCHEMA ddl_audit;
            CREATE TABLE ddl_audit.statements (tag text, query text);
            CREATE FUNCTION ddl_audit.record() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
              -- DROP INDEX CONCURRENTLY must be the first action of its transaction: recording it would break it.
              IF NOT (tg_tag = 'DROP INDEX' AND current_query() ~* 'CONCURRENTLY') THEN
                INSERT INTO ddl_audit.statements VALUES (tg_tag, current_query());
              END IF;
            END $$;
            CREATE EVENT TRIGGER ddl_audit ON ddl_command_start EXECUTE FUNCTION ddl_audit.record();
            """);

        await db.UpAsync("--include", "7", "--include", "9");
        await db.RollbackAsync("0", "--allow-data-loss");

        var rendered = Normalized(string.Concat(KnownMigrations.All.Select(m => Checksums.TextOf(m.Version))));
        var statements = await db.ColumnAsync("SELECT DISTINCT tag || ': ' || query FROM ddl_audit.statements");
        Assert.That(statements, Has.Count.GreaterThan(100), "the premise: the event trigger saw the migrations' DDL");
        var unseen = statements
            .Where(s => !rendered.Contains(Normalized(s[(s.IndexOf(": ", StringComparison.Ordinal) + 2)..]), StringComparison.Ordinal))
            .Where(s => !s.Contains(VersionTable.Schema, StringComparison.Ordinal) || s.Contains("platform.", StringComparison.Ordinal))
            .ToList();
        Assert.That(unseen, Is.Empty, "DDL no migration renders (sent by hand from a code step?)");
    }

    private static string Normalized(string sql) => Whitespace().Replace(sql, " ").Trim().TrimEnd(';').Trim();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
