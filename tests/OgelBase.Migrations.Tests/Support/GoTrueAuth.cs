using System.Security.Cryptography;
using System.Text;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// GoTrue in a test database: its <c>auth.users</c> as supabase/auth's migrations leave it (every column nullable but
/// id, confirmed_at generated, is_sso_user/is_anonymous NOT NULL), owned by its own login role that has no rights on
/// schema platform, and GoTrue's writes (sign-up, sign-in, ban, soft delete, hard delete) issued as that role.
/// </summary>
public sealed class GoTrueAuth : IAsyncDisposable
{
    private static readonly Lazy<Task<(string Role, string Password)>> TemplateRole = new(CreateTemplateRoleAsync);

    private readonly TestDatabase _db;
    private readonly bool _sharedRole;

    private GoTrueAuth(TestDatabase db, string role, string password, bool sharedRole = false)
    {
        _db = db;
        Role = role;
        _sharedRole = sharedRole;
        ConnectionString = PostgresServer.ConnectionStringFor(db.Name, role, password);
    }

    /// <summary>
    /// auth.users in a template database (<see cref="TestDatabase.MigratedAsync((string, Func{string, Task}), string[])"/>),
    /// so the migrations run once per template, not once per test. The template and its copies share one GoTrue role,
    /// dropped after the templates.
    /// </summary>
    public static (string Name, Func<string, Task> Prepare) InTemplate => ("GoTrue's auth.users", PrepareTemplateAsync);

    /// <summary>GoTrue in a copy of an <see cref="InTemplate"/> template: the same schema and role, as GoTrue would have left them.</summary>
    public static async Task<GoTrueAuth> InCopyAsync(TestDatabase copy)
    {
        var (role, password) = await TemplateRole.Value;
        return new GoTrueAuth(copy, role, password, sharedRole: true);
    }

    private static async Task PrepareTemplateAsync(string database)
    {
        var (role, _) = await TemplateRole.Value;
        // Unpooled: nobody may stay connected to a template that is to be copied.
        await using var connection = new NpgsqlConnection(PostgresServer.ConnectionStringFor(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            {AuthUsersDdl}
            ALTER SCHEMA auth OWNER TO "{role}";
            ALTER TABLE auth.users OWNER TO "{role}";
            """, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<(string Role, string Password)> CreateTemplateRoleAsync()
    {
        var role = await LoginRole.CreateAsync("gotrue_tpl_");
        Templates.AfterDropAll(async () => await role.DisposeAsync());
        return (role.Name, role.Password);
    }

    public string Role { get; }

    /// <summary>GoTrue's own connection: its role, not the platform's owner.</summary>
    public string ConnectionString { get; }

    /// <summary>auth.users with every column the issue lists (the text is shared with the 009 benchmark).</summary>
    public static string AuthUsersDdl => OgelBase.Migrations.Bench.GoTrueSchema.AuthUsersDdl;

    /// <summary>Creates auth.users as GoTrue's migrations would, owned by a fresh GoTrue role.</summary>
    public static async Task<GoTrueAuth> CreateAsync(TestDatabase db)
    {
        var role = "gotrue_" + db.Name[2..];
        var password = "pw-" + Guid.NewGuid().ToString("N");
        SecretGuard.Register(password);
        await PostgresServer.AdminAsync($"CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'");

        var gotrue = new GoTrueAuth(db, role, password);
        await db.ExecuteAsync($"""
            GRANT CONNECT ON DATABASE "{db.Name}" TO "{role}";
            {AuthUsersDdl}
            ALTER SCHEMA auth OWNER TO "{role}";
            ALTER TABLE auth.users OWNER TO "{role}";
            """);
        return gotrue;
    }

    public async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>A sign-up as GoTrue writes it; <paramref name="email"/> null for a phone or anonymous sign-up.</summary>
    public async Task<Guid> SignUpAsync(string? email, string? metadataJson = null, Guid? id = null, bool confirmed = false, string? phone = null)
    {
        var userId = id ?? Guid.NewGuid();
        await ExecuteAsync("""
            INSERT INTO auth.users (instance_id, id, aud, "role", email, encrypted_password, email_confirmed_at, phone,
                                    raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at, is_anonymous)
            VALUES ('00000000-0000-0000-0000-000000000000', @id, 'authenticated', 'authenticated', @email::text, '$2a$10$hash',
                    CASE WHEN @confirmed THEN now() END, @phone::text, '{"provider":"email","providers":["email"]}', @meta::jsonb, false,
                    now(), now(), @email::text IS NULL AND @phone::text IS NULL)
            """, ("id", userId), ("email", email), ("confirmed", confirmed), ("phone", phone), ("meta", metadataJson ?? "{}"));
        return userId;
    }

    public Task SignInAsync(Guid id) =>
        ExecuteAsync("UPDATE auth.users SET last_sign_in_at = now(), updated_at = now() WHERE id = @id", ("id", id));

    public Task ConfirmAsync(Guid id) =>
        ExecuteAsync("UPDATE auth.users SET email_confirmed_at = now(), confirmation_token = '', updated_at = now() WHERE id = @id", ("id", id));

    public Task ChangeEmailAsync(Guid id, string? email) =>
        ExecuteAsync("UPDATE auth.users SET email = @email::text, email_change = '', updated_at = now() WHERE id = @id", ("id", id), ("email", email));

    /// <summary>The admin API's ban: banned_until set to now + the duration.</summary>
    public Task BanAsync(Guid id) =>
        ExecuteAsync("UPDATE auth.users SET banned_until = now() + interval '100 years', updated_at = now() WHERE id = @id", ("id", id));

    /// <summary>GoTrue's soft delete: deleted_at set, e-mail and phone scrambled, password cleared.</summary>
    public Task SoftDeleteAsync(Guid id) =>
        ExecuteAsync("""
            UPDATE auth.users SET deleted_at = now(), email = md5(coalesce(email, '') || id::text), phone = NULL,
                                  encrypted_password = '', updated_at = now()
            WHERE id = @id
            """, ("id", id));

    public Task HardDeleteAsync(Guid id) => ExecuteAsync("DELETE FROM auth.users WHERE id = @id", ("id", id));

    public async Task ExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Studio's request authentication (apps/studio/lib/api/apiAuthenticate.ts), the query as it runs it.</summary>
    public const string StudioLookupQuery = """
        SELECT
          s.id as session_id,
          s.user_id,
          s.expires_at,
          s.last_activity_at,
          u.email,
          u.first_name,
          u.last_name,
          u.username
        FROM platform.user_sessions s
        JOIN platform.users u ON s.user_id = u.id
        WHERE s.token = $1
          AND s.expires_at > NOW()
          AND u.deleted_at IS NULL
          AND u.banned_until IS NULL
        """;

    /// <summary>A Studio session for the user (the token stored as its SHA-256 hex, as the app does); returns the bearer token.</summary>
    public static async Task<string> StudioSessionAsync(TestDatabase db, Guid userId)
    {
        var token = "tok-" + Guid.NewGuid().ToString("N");
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "INSERT INTO platform.user_sessions (user_id, token, expires_at) VALUES (@user, @token, now() + interval '1 hour')", connection);
        command.Parameters.AddWithValue("user", userId);
        command.Parameters.AddWithValue("token", Sha256Hex(token));
        await command.ExecuteNonQueryAsync();
        return token;
    }

    /// <summary>Whether Studio authenticates the bearer token: the lookup returns a row.</summary>
    public static async Task<bool> StudioAuthenticatesAsync(TestDatabase db, string token)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand(StudioLookupQuery, connection) { Parameters = { new() { Value = Sha256Hex(token) } } };
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync();
    }

    private static string Sha256Hex(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    public async ValueTask DisposeAsync()
    {
        if (_sharedRole)
        {
            // The copy goes with its database; the role outlives every copy (Templates drops it last).
            return;
        }

        // The role owns objects in the test database; hand them back before dropping it.
        try
        {
            await _db.ExecuteAsync($"REASSIGN OWNED BY \"{Role}\" TO CURRENT_USER; DROP OWNED BY \"{Role}\";");
        }
        catch (PostgresException)
        {
            // The database may already be gone.
        }

        await PostgresServer.AdminAsync($"DROP ROLE IF EXISTS \"{Role}\"");
    }
}
