using Npgsql;
using OgelBase.Migrations.Runner;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>A freshly created database for one test, dropped when the test ends.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(string name)
    {
        Name = name;
    }

    public string Name { get; }

    public string ConnectionString => PostgresServer.ConnectionStringFor(Name);

    /// <summary>The database as a <c>postgres://</c> URI, the form Railway hands the runner.</summary>
    public string Url => PostgresServer.UrlFor(Name);

    public static async Task<TestDatabase> CreateAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
        await admin.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
        await create.ExecuteNonQueryAsync();
        return new TestDatabase(name);
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
    }
}
