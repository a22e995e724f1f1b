using Npgsql;
using OgelBase.Migrations.Runner.Connection;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Trace;

/// <summary>
/// The database a trace rehearses on: created empty (from template0, so nothing of template1 leaks in) under a
/// random <c>ogelbase_trace_</c> name on the chosen server, and dropped whatever happens, connections and all. Only
/// the database it created itself is ever dropped.
/// </summary>
public sealed class ScratchDatabase : IAsyncDisposable
{
    public const string Prefix = "ogelbase_trace_";

    private readonly RunSettings _server;
    private readonly RunnerConsole _console;
    private bool _dropped;

    private ScratchDatabase(RunSettings server, RunnerConsole console, string name)
    {
        _server = server;
        _console = console;
        Name = name;
        Settings = server with
        {
            Connection = new NpgsqlConnectionStringBuilder(server.Connection.ConnectionString) { Database = name },
            Target = DatabaseUrl.Describe(new NpgsqlConnectionStringBuilder(server.Connection.ConnectionString) { Database = name }),
        };
    }

    public string Name { get; }

    /// <summary>The run settings of the target, pointed at the scratch database.</summary>
    public RunSettings Settings { get; }

    /// <param name="server">How to reach the server; its database is only where CREATE DATABASE is sent from.</param>
    public static async Task<ScratchDatabase> CreateAsync(RunSettings server, RunnerConsole console, CancellationToken cancellationToken)
    {
        var scratch = new ScratchDatabase(server, console, Prefix + Guid.NewGuid().ToString("N")[..12]);
        await using var admin = await Database.ConnectAsync(server, console, "scratch database", cancellationToken);
        try
        {
            // Not cancelled half-way: a CREATE DATABASE interrupted at the wrong moment could leave a database nobody drops.
            await using var command = new NpgsqlCommand($"CREATE DATABASE {TargetCatalog.Quote(scratch.Name)} TEMPLATE template0", admin);
            await command.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (PostgresException e)
        {
            // CREATE DATABASE is all or nothing: there is nothing to drop, and dropping by name could only hit someone else's.
            throw new RunnerException(e.SqlState == PostgresErrorCodes.InsufficientPrivilege ? FailureKind.Usage : FailureKind.Failed,
                $"trace: cannot create a scratch database on {DatabaseUrl.Describe(server.Connection)}: {e.SqlState} {e.MessageText}; " +
                "give the role CREATEDB or name a server where it may create one with --scratch-url. The target was not changed.");
        }

        console.Info($"trace: scratch database {scratch.Settings.Target} created; it is dropped when the trace ends (if this process is killed, drop it by hand)");
        return scratch;
    }

    /// <summary>Drops the scratch database if it is there; false (and a log line saying so) when that failed.</summary>
    public async Task<bool> DropAsync()
    {
        if (_dropped)
        {
            return true;
        }

        try
        {
            await using var admin = await Database.ConnectAsync(_server with { ConnectTimeout = TimeSpan.FromSeconds(15) }, _console, "dropping the scratch database", CancellationToken.None);
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {TargetCatalog.Quote(Name)} WITH (FORCE)", admin);
            await command.ExecuteNonQueryAsync(CancellationToken.None);
            _dropped = true;
        }
        catch (Exception e) when (e is NpgsqlException or RunnerException or TimeoutException)
        {
            _console.Info($"trace: could not drop the scratch database {Settings.Target}: {MigrationSession.OneLine(e.Message)}; drop it by hand");
        }

        return _dropped;
    }

    public async ValueTask DisposeAsync() => await DropAsync();
}
