namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// A login role without superuser, CREATEDB or CREATEROLE: what any other tenant's or tool's login looks like to the
/// database, and (as a database owner) what Railway's plain owner role looks like to the runner.
/// </summary>
public sealed class LoginRole : IAsyncDisposable
{
    private LoginRole(string name, string password)
    {
        Name = name;
        Password = password;
    }

    public string Name { get; }

    public string Password { get; }

    public static async Task<LoginRole> CreateAsync(string prefix = "plain_")
    {
        var role = new LoginRole(prefix + Guid.NewGuid().ToString("N")[..12], "pw-" + Guid.NewGuid().ToString("N"));
        SecretGuard.Register(role.Password);
        await PostgresServer.AdminAsync($"CREATE ROLE \"{role.Name}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '{role.Password}'");
        return role;
    }

    public NpgsqlConnection Connect(TestDatabase db) => new(PostgresServer.ConnectionStringFor(db.Name, Name, Password));

    public async Task<NpgsqlConnection> ConnectAsync(TestDatabase db)
    {
        var connection = Connect(db);
        await connection.OpenAsync();
        return connection;
    }

    // Dispose a role after the databases it holds grants in: a role that still holds grants in a database cannot be dropped.
    public async ValueTask DisposeAsync() => await PostgresServer.AdminAsync($"DROP ROLE IF EXISTS \"{Name}\"");
}
