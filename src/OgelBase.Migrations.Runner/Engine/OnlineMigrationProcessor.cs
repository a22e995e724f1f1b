using FluentMigrator.Expressions;
using FluentMigrator.Runner;
using FluentMigrator.Runner.Generators.Postgres;
using FluentMigrator.Runner.Initialization;
using FluentMigrator.Runner.Processors;
using FluentMigrator.Runner.Processors.Postgres;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// FluentMigrator's PostgreSQL processor, except for the SQL of an online migration: a migration declared
/// <c>TransactionBehavior.None</c> runs with no transaction open, and each of its <c>Execute.Sql</c> (and
/// <c>Execute.EmbeddedScript</c>) statements then goes through <see cref="OnlineDdl.Run"/>, which applies the
/// short lock_timeout, the retries and the INVALID-index cleanup. So the migration says only what it executes,
/// and the mechanics are applied the same way to every statement. Transactional migrations, FluentMigrator's own
/// expressions, the version table's rows and a dry run's preview take FluentMigrator's path unchanged. Every version
/// row is preceded by the <see cref="ManifestCheck"/>, in the migration's transaction when it has one.
/// </summary>
public sealed class OnlineMigrationProcessor(
    PostgresDbFactory factory,
    Postgres15_0Generator generator,
    ILogger<Postgres15_0Processor> logger,
    IOptionsSnapshot<ProcessorOptions> options,
    IConnectionStringAccessor connectionStringAccessor,
    PostgresOptions postgresOptions,
    OnlineDdlOptions online,
    ILogger<OnlineDdl> onlineLogger,
    ManifestCheck manifestCheck,
    LockTracer tracer)
    : Postgres15_0Processor(factory, generator, logger, options, connectionStringAccessor, postgresOptions)
{
    public override void Execute(string sql)
    {
        if (Options.PreviewOnly || Transaction is not null || string.IsNullOrWhiteSpace(sql))
        {
            base.Execute(sql);
            return;
        }

        // FluentMigrator's own echo of the statement first (--verbose), as its path would have written it.
        Logger.LogSql(sql);
        EnsureConnectionIsOpen();
        new OnlineDdl(Connection, null, online, onlineLogger, tracer).Run(sql);
    }

    /// <summary>Every statement FluentMigrator itself sends (a transactional migration's, a version row) goes into the lock record.</summary>
    protected override void Process(string sql)
    {
        if (Options.PreviewOnly || string.IsNullOrEmpty(sql))
        {
            base.Process(sql);
            return;
        }

        Logger.LogSql(sql);
        EnsureConnectionIsOpen();
        try
        {
            tracer.InTransaction((NpgsqlConnection)Connection, (NpgsqlTransaction?)Transaction, new OnlineDdlStatement(sql).Label, () =>
            {
                using var command = CreateCommand(sql);
                return (0, (long?)command.ExecuteNonQuery());
            });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ReThrowWithSql(e, sql);
        }
    }

    /// <summary>A code step of a transactional migration is one entry of the lock record (an online one's reads and batches are their own).</summary>
    public override void Process(PerformDBOperationExpression expression)
    {
        if (Options.PreviewOnly || Transaction is null)
        {
            base.Process(expression);
            return;
        }

        EnsureConnectionIsOpen();
        tracer.InTransaction((NpgsqlConnection)Connection, (NpgsqlTransaction)Transaction, $"code step: {expression.Description ?? "unnamed"}", () =>
        {
            base.Process(expression);
            return (0, (long?)null);
        });
    }

    public override void CommitTransaction()
    {
        base.CommitTransaction();
        tracer.TransactionEnded();
    }

    public override void RollbackTransaction()
    {
        base.RollbackTransaction();
        tracer.TransactionEnded();
    }


    public override void Process(InsertDataExpression expression)
    {
        if (!Options.PreviewOnly && expression.SchemaName == VersionTable.Schema && expression.TableName == VersionTable.Table)
        {
            var version = Convert.ToInt64(expression.Rows[0].First(p => p.Key == new VersionTable().ColumnName).Value, System.Globalization.CultureInfo.InvariantCulture);
            EnsureConnectionIsOpen();

            // Its catalog reads lock what they describe (AccessShareLock), so they are part of the record.
            tracer.InTransaction((NpgsqlConnection)Connection, (NpgsqlTransaction?)Transaction, $"manifest check of {version}", () =>
            {
                manifestCheck.BeforeRecording(version, (NpgsqlConnection)Connection);
                return (0, (long?)null);
            });
        }

        base.Process(expression);
    }
}
