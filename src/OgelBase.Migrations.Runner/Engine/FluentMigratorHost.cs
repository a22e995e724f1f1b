using FluentMigrator;
using FluentMigrator.Expressions;
using FluentMigrator.Infrastructure;
using FluentMigrator.Runner;
using FluentMigrator.Runner.Initialization;
using FluentMigrator.Runner.Processors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Npgsql;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Output;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// FluentMigrator, configured for this tool: PostgreSQL 15 dialect, our version table, our logging,
/// the online executor for the SQL of non-transactional migrations (<see cref="OnlineMigrationProcessor"/>)
/// and the opt-in tags the operator asked for. Built before the migration lock is taken (its session is the pooler
/// check's second client), but its runner is only used once the lock is held: FluentMigrator creates and reads its
/// version table on first use.
/// </summary>
public sealed class FluentMigratorHost : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly IServiceScope _scope;

    private FluentMigratorHost(ServiceProvider services, string applicationName)
    {
        _services = services;
        _scope = services.CreateScope();
        ApplicationName = applicationName;
    }

    /// <summary>The application_name of the migration session, unique per run, so it can be found and stopped.</summary>
    public string ApplicationName { get; }

    /// <summary>The lock record of this run's statements.</summary>
    public LockTracer Tracer => _scope.ServiceProvider.GetRequiredService<LockTracer>();

    public MigrationRunner Runner => (MigrationRunner)_scope.ServiceProvider.GetRequiredService<IMigrationRunner>();

    /// <summary>
    /// The migration session: FluentMigrator's own connection, opened if it is not. Reached through the processor, not
    /// <see cref="Runner"/>, so it can be opened before the migration lock is held: building the runner reads the version table.
    /// </summary>
    public NpgsqlConnection OpenSession()
    {
        var processor = (GenericProcessorBase)_scope.ServiceProvider.GetRequiredService<IMigrationProcessor>();
        var connection = (NpgsqlConnection)processor.Connection;
        if (connection.State != System.Data.ConnectionState.Open)
        {
            connection.Open();
        }

        return connection;
    }

    public static FluentMigratorHost Create(RunSettings settings, RunnerConsole console, IEnumerable<long> includes, bool preview)
    {
        var applicationName = $"ogelbase-migrate {Guid.NewGuid():N}"[..40];
        var connection = new NpgsqlConnectionStringBuilder(settings.Connection.ConnectionString)
        {
            ApplicationName = applicationName,
            Pooling = false,
            CommandTimeout = 0,
            Timeout = 15,
            KeepAlive = 30,

            // lock_timeout is set with SET by MigrationSession once connected, not as "-c lock_timeout" in Options:
            // PgBouncer rejects or drops that startup parameter.
        };

        var services = AddMigrations(new ServiceCollection(), settings.Online, settings.Seeds, connection.ConnectionString, preview,
                new StderrLoggerProvider(console, showStatements: settings.Verbose || preview))
            .AddSingleton(new ManifestCheck(settings.CheckManifests))
            .AddScoped<OnlineMigrationProcessor>()
            .Replace(ServiceDescriptor.Scoped<IMigrationProcessor>(provider => provider.GetRequiredService<OnlineMigrationProcessor>()))
            .Configure<RunnerOptions>(options => options.Tags = includes.Select(OptInAttribute.TagFor).ToArray());
        settings.ConfigureServices?.Invoke(services);
        var host = new FluentMigratorHost(services.BuildServiceProvider(), applicationName);
        host.Tracer.EveryStatement = settings.Verbose;
        return host;
    }

    /// <summary>
    /// What every FluentMigrator service provider of this tool has: the migrations' own dependencies (online options,
    /// production seed values), one logger provider, the PostgreSQL 15 dialect, our version table and this assembly's
    /// migrations. Used for real runs here and for rendering checksums (<see cref="Checksums"/>).
    /// </summary>
    public static IServiceCollection AddMigrations(IServiceCollection services, OnlineDdlOptions online, ProductionSeedOptions seeds,
        string connectionString, bool preview, ILoggerProvider logs) =>
        services
            .AddSingleton(online)
            .AddSingleton<IOnlineSessions, OnlineSessions>()
            .AddSingleton<LockTracer>()
            .AddSingleton(seeds)
            .AddLogging(logging =>
            {
                logging.ClearProviders();
                logging.SetMinimumLevel(LogLevel.Information);
                logging.AddProvider(logs);
            })
            .AddFluentMigratorCore()
            .ConfigureRunner(runner => runner
                .AddPostgres15_0()
                .WithGlobalConnectionString(connectionString)
                .WithGlobalCommandTimeout(TimeSpan.FromHours(12))
                .WithVersionTable(new VersionTable())
                .AsGlobalPreview(preview)
                .ScanIn(KnownMigrations.Assembly).For.Migrations());

    public IMigrationInfo Info(long version) => Runner.MigrationLoader.LoadMigrations()[version];

    /// <summary>
    /// How many steps of a migration run through Execute.WithConnection: FluentMigrator's preview skips
    /// them, so a dry run has to say they are not shown.
    /// </summary>
    public int CountConnectionSteps(long version, bool up)
    {
        var migration = Info(version).Migration;
        var context = new MigrationContext(Runner.Processor, _scope.ServiceProvider, "");
        if (up)
        {
            migration.GetUpExpressions(context);
        }
        else
        {
            migration.GetDownExpressions(context);
        }

        return context.Expressions.Count(e => e is PerformDBOperationExpression);
    }

    public void Dispose()
    {
        _scope.Dispose();
        _services.Dispose();
    }
}
