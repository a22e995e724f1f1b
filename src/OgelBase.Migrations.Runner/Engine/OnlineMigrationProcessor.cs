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
    ManifestCheck manifestCheck)
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
        new OnlineDdl(Connection, null, online, onlineLogger).Run(sql);
    }

    public override void Process(InsertDataExpression expression)
    {
        if (!Options.PreviewOnly && expression.SchemaName == VersionTable.Schema && expression.TableName == VersionTable.Table)
        {
            var version = Convert.ToInt64(expression.Rows[0].First(p => p.Key == new VersionTable().ColumnName).Value, System.Globalization.CultureInfo.InvariantCulture);
            EnsureConnectionIsOpen();
            manifestCheck.BeforeRecording(version, (NpgsqlConnection)Connection);
        }

        base.Process(expression);
    }
}
