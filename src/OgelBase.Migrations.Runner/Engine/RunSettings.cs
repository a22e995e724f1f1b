using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>Everything a command needs to reach and change the database, resolved from arguments and environment.</summary>
public sealed record RunSettings
{
    public required NpgsqlConnectionStringBuilder Connection { get; init; }

    /// <summary>host:port/database, the only form of the target that is ever printed.</summary>
    public required string Target { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for another runner to release the migration lock.</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>lock_timeout of the migration session: no statement queues longer than this for a lock.</summary>
    public TimeSpan StatementLockTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Attempts in all for a transactional migration that failed on its lock_timeout (SQLSTATE 55P03).</summary>
    public int LockTimeoutAttempts { get; init; } = 4;

    public bool Verbose { get; init; }

    /// <summary>Check each migration against its manifest before recording it; off only to generate a manifest.</summary>
    public bool CheckManifests { get; init; } = true;

    /// <summary>Added last to FluentMigrator's services (<see cref="RunnerApp.RunAsync"/>): how a test host installs its pauses. None in production.</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    public OnlineDdlOptions Online { get; init; } = new();

    public ProductionSeedOptions Seeds { get; init; } = new();
}
