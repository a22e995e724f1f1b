using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Operations;

/// <summary>What the online executor reads from a statement's text: how to run it and how to recognise a re-run.</summary>
public sealed class OnlineDdlStatementTests
{
    [TestCase("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON platform.users (a)")]
    [TestCase("create unique index concurrently idx_a on platform.users (a)")]
    [TestCase("-- why\nDROP INDEX CONCURRENTLY IF EXISTS platform.idx_a")]
    public void Concurrent_index_statements_run_outside_a_transaction_block(string sql) =>
        Assert.That(new OnlineDdlStatement(sql).OutsideTransaction, Is.True);

    [TestCase("CREATE INDEX idx_a ON platform.users (a)")]
    [TestCase("ALTER TABLE platform.users ADD COLUMN IF NOT EXISTS a uuid")]
    [TestCase("COMMENT ON INDEX platform.idx_a IS 'built CONCURRENTLY'")]
    public void Everything_else_runs_in_one_short_transaction(string sql) =>
        Assert.That(new OnlineDdlStatement(sql).OutsideTransaction, Is.False);

    [Test]
    public void A_concurrent_build_names_the_index_and_the_table_whose_schema_holds_it()
    {
        var build = new OnlineDdlStatement("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_active_org ON platform.users (active_org_id) WHERE active_org_id IS NOT NULL").BuiltIndex;

        Assert.That(build, Is.EqualTo(("idx_users_active_org", "platform.users")));
    }

    [Test]
    public void A_lone_add_constraint_names_its_constraint()
    {
        var statement = new OnlineDdlStatement("""
            ALTER TABLE platform.users ADD CONSTRAINT users_active_org_id_fkey
              FOREIGN KEY (active_org_id) REFERENCES platform.organizations (id) ON DELETE SET NULL NOT VALID
            """);

        Assert.That(statement.AddedConstraint, Is.EqualTo("users_active_org_id_fkey"));
    }

    [TestCase("ALTER TABLE platform.t ADD CONSTRAINT t_a_check CHECK (a IN ('x,y', 'z')), ADD COLUMN b int")]
    [TestCase("ALTER TABLE platform.t ADD CONSTRAINT t_a_check CHECK (a > 0); UPDATE platform.t SET a = 1")]
    public void An_add_constraint_with_other_work_in_the_same_statement_is_never_taken_for_a_rerun(string sql) =>
        Assert.That(new OnlineDdlStatement(sql).AddedConstraint, Is.Null);

    [Test]
    public void The_label_is_the_statement_on_one_line_cut_after_a_word()
    {
        var statement = new OnlineDdlStatement("""
            -- leading comments are not the statement
            CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_active_org
              ON platform.users (active_org_id) WHERE active_org_id IS NOT NULL
            """);

        Assert.That(statement.Label, Is.EqualTo("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_active_org ON platform.users …"));
    }
}
