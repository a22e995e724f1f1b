using Npgsql;
using OgelBase.Migrations.Runner;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>A freshly created database for one test, dropped when the test ends.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(string name, string? owner, string? ownerPassword)
    {
        Name = name;
        Owner = owner;
        OwnerPassword = ownerPassword;
    }

    public string Name { get; }

    /// <summary>A non-superuser login role that owns the database, when the test asked for one.</summary>
    public string? Owner { get; }

    public string? OwnerPassword { get; }

    /// <summary>A superuser connection, for setting up and inspecting.</summary>
    public string ConnectionString => PostgresServer.ConnectionStringFor(Name);

    /// <summary>The database as a <c>postgres://</c> URI, the form Railway hands the runner (as the owner role, if any).</summary>
    public string Url => PostgresServer.UrlFor(Name, Owner, OwnerPassword);

    public static async Task<TestDatabase> CreateAsync() => await CreateAsync(ownedByPlainRole: false);

    /// <param name="ownedByPlainRole">Create a login role without superuser, CREATEDB or CREATEROLE that owns the database, and run the CLI as it.</param>
    public static async Task<TestDatabase> CreateAsync(bool ownedByPlainRole)
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
        await admin.OpenAsync();
        string? owner = null, password = null;
        if (ownedByPlainRole)
        {
            owner = "owner_" + name[2..];
            password = "pw-" + Guid.NewGuid().ToString("N");
            SecretGuard.Register(password);
            await using var role = new NpgsqlCommand($"CREATE ROLE \"{owner}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'", admin);
            await role.ExecuteNonQueryAsync();
        }

        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"{(owner is null ? "" : $" OWNER \"{owner}\"")}", admin);
        await create.ExecuteNonQueryAsync();
        return new TestDatabase(name, owner, password);
    }

    /// <summary>Runs the CLI in-process against this database (DATABASE_URL set to <see cref="Url"/>).</summary>
    public Task<CliResult> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string?>(), args);

    public async Task<CliResult> RunAsync(IDictionary<string, string?> extraEnvironment, params string[] args)
    {
        var environment = new Dictionary<string, string?> { ["DATABASE_URL"] = Url };
        foreach (var (key, value) in extraEnvironment)
        {
            environment[key] = value;
        }

        return await Cli.RunAsync(environment, args);
    }

    public async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? default! : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<List<string>> ColumnAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.IsDBNull(0) ? "<null>" : Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return values;
    }

    public async ValueTask DisposeAsync()
    {
        await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
        if (Owner is not null)
        {
            await using var dropRole = new NpgsqlCommand($"DROP ROLE IF EXISTS \"{Owner}\"", admin);
            await dropRole.ExecuteNonQueryAsync();
        }
    }
}
