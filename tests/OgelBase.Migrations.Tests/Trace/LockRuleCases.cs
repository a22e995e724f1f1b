namespace OgelBase.Migrations.Tests.Trace;

/// <summary>
/// One case of the lock-rule corpus: statements run against <c>corpus.accounts</c> and <c>corpus.orders</c> (5,000
/// rows each), each inner list one transaction (a CONCURRENTLY statement alone, outside any), under a lock_timeout.
/// </summary>
/// <param name="Locks">"relation Mode" that the record must show.</param>
/// <param name="Findings">"rule relation" that the rules must report; none for a safe twin.</param>
public sealed record LockRuleCase(string Name, string[][] Transactions, string[] Locks, string[] Findings, string LockTimeout = "5s")
{
    public override string ToString() => Name;
}

/// <summary>The corpus: each dangerous way of doing something next to its safe twin.</summary>
internal static class LockRuleCases
{
    private const string AddNote = "ALTER TABLE corpus.accounts ADD COLUMN note2 text";
    private const string TouchOrder = "UPDATE corpus.orders SET amount = amount + 1 WHERE id = 1";
    private const string OrdersFk = "ALTER TABLE corpus.orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES corpus.accounts (id)";

    public static IReadOnlyList<LockRuleCase> All { get; } =
    [
        new("an index built without CONCURRENTLY blocks writes for the whole build",
            [["CREATE INDEX accounts_score ON corpus.accounts (score)"]],
            Locks: ["corpus.accounts ShareLock"], Findings: ["blocking-index-build corpus.accounts"]),
        new("an index built CONCURRENTLY blocks nothing",
            [["CREATE INDEX CONCURRENTLY accounts_score ON corpus.accounts (score)"]],
            Locks: ["corpus.accounts ShareUpdateExclusiveLock"], Findings: []),

        new("a column added with a volatile default rewrites the table",
            [["ALTER TABLE corpus.accounts ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp()"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: ["table-rewrite corpus.accounts"]),
        new("a column added with a constant default is only a catalog change",
            [["ALTER TABLE corpus.accounts ADD COLUMN plan text DEFAULT 'free'"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: []),

        new("a CHECK added valid scans the table under ACCESS EXCLUSIVE",
            [["ALTER TABLE corpus.accounts ADD CONSTRAINT score_positive CHECK (score >= 0)"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: ["scan-under-blocking-lock corpus.accounts"]),
        new("a CHECK added NOT VALID and validated apart scans under a lock that blocks nothing",
            [["ALTER TABLE corpus.accounts ADD CONSTRAINT score_positive CHECK (score >= 0) NOT VALID"], ["ALTER TABLE corpus.accounts VALIDATE CONSTRAINT score_positive"]],
            Locks: ["corpus.accounts AccessExclusiveLock", "corpus.accounts ShareUpdateExclusiveLock"], Findings: []),

        new("SET NOT NULL on its own scans the table under ACCESS EXCLUSIVE",
            [["ALTER TABLE corpus.accounts ALTER COLUMN score SET NOT NULL"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: ["scan-under-blocking-lock corpus.accounts"]),
        new("SET NOT NULL after a validated CHECK (col IS NOT NULL) skips the scan",
            [
                ["ALTER TABLE corpus.accounts ADD CONSTRAINT score_not_null CHECK (score IS NOT NULL) NOT VALID"],
                ["ALTER TABLE corpus.accounts VALIDATE CONSTRAINT score_not_null"],
                ["ALTER TABLE corpus.accounts ALTER COLUMN score SET NOT NULL"],
            ],
            Locks: ["corpus.accounts AccessExclusiveLock", "corpus.accounts ShareUpdateExclusiveLock"], Findings: []),

        new("a type change from integer to bigint rewrites the table",
            [["ALTER TABLE corpus.accounts ALTER COLUMN score TYPE bigint"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: ["table-rewrite corpus.accounts"]),
        new("widening varchar(10) to varchar(20) rewrites nothing",
            [["ALTER TABLE corpus.accounts ALTER COLUMN email TYPE varchar(20)"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: []),
        new("varchar(10) to text rewrites nothing",
            [["ALTER TABLE corpus.accounts ALTER COLUMN email TYPE text"]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: []),

        new("statements after an ACCESS EXCLUSIVE lock in its transaction keep it held",
            [[AddNote, TouchOrder]],
            Locks: ["corpus.accounts AccessExclusiveLock", "corpus.orders RowExclusiveLock"], Findings: ["lock-held-through-later-statements corpus.accounts"]),
        new("the same statements in transactions of their own release it at once",
            [[AddNote], [TouchOrder]],
            Locks: ["corpus.accounts AccessExclusiveLock", "corpus.orders RowExclusiveLock"], Findings: []),

        new("an ACCESS EXCLUSIVE lock requested with no lock_timeout can queue the app for ever",
            [[AddNote]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: ["lock-without-timeout corpus.accounts"], LockTimeout: "0"),
        new("the same lock with a lock_timeout gives up instead",
            [[AddNote]],
            Locks: ["corpus.accounts AccessExclusiveLock"], Findings: [], LockTimeout: "50ms"),

        new("a foreign key added valid scans the referencing table while blocking writes to both",
            [[OrdersFk]],
            Locks: ["corpus.orders ShareRowExclusiveLock", "corpus.accounts ShareRowExclusiveLock"], Findings: ["scan-under-blocking-lock corpus.orders"]),
        new("a foreign key added NOT VALID and validated apart blocks writes only for an instant",
            [[OrdersFk + " NOT VALID"], ["ALTER TABLE corpus.orders VALIDATE CONSTRAINT orders_account_fk"]],
            Locks: ["corpus.orders ShareRowExclusiveLock", "corpus.orders ShareUpdateExclusiveLock"], Findings: []),
    ];
}
