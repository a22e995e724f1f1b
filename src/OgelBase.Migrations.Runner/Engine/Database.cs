using System.Net.Sockets;
using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>Opening connections: transient failures are retried until the connect timeout, permanent ones fail at once.</summary>
public static class Database
{
    public static async Task<NpgsqlConnection> ConnectAsync(RunSettings settings, RunnerConsole console, string purpose, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + settings.ConnectTimeout;
        var delay = TimeSpan.FromMilliseconds(250);
        var attempt = 0;
        while (true)
        {
            attempt++;
            var remaining = deadline - DateTime.UtcNow;
            var builder = new NpgsqlConnectionStringBuilder(settings.Connection.ConnectionString)
            {
                Timeout = (int)Math.Clamp(Math.Ceiling(remaining.TotalSeconds), 1, 15),
                ApplicationName = settings.Connection.ApplicationName ?? "ogelbase-migrate",
                Pooling = false,
                KeepAlive = 30,
                CommandTimeout = 0,
            };
            var connection = new NpgsqlConnection(builder.ConnectionString);
            try
            {
                await connection.OpenAsync(cancellationToken);
                return connection;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or SocketException)
            {
                await connection.DisposeAsync();
                var (transient, reason) = Classify(e);
                if (!transient)
                {
                    throw new RunnerException(FailureKind.Unavailable, $"cannot connect to {settings.Target}: {reason}");
                }

                if (DateTime.UtcNow + delay >= deadline)
                {
                    throw new RunnerException(FailureKind.Unavailable,
                        $"cannot connect to {settings.Target} within {settings.ConnectTimeout.TotalSeconds:0} s ({attempt} attempts): {reason}{Hint(settings)}");
                }

                console.Info($"waiting for {settings.Target} ({purpose}): {reason}; retrying in {delay.TotalSeconds:0.#} s");
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 4000));
            }
        }
    }

    /// <summary>Whether a failure to connect may go away by itself, and a one-line reason free of secrets.</summary>
    public static (bool Transient, string Reason) Classify(Exception e)
    {
        if (e is PostgresException pg)
        {
            return pg.SqlState switch
            {
                PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification =>
                    (false, $"authentication failed for the given user ({pg.SqlState})"),
                PostgresErrorCodes.InvalidCatalogName => (false, $"the database does not exist ({pg.SqlState})"),
                PostgresErrorCodes.CannotConnectNow => (true, $"the server is not accepting connections yet ({pg.SqlState})"),
                // The server's own words say whose limit it is: the server's, the database's or the role's.
                PostgresErrorCodes.TooManyConnections => (true, $"{pg.MessageText} ({pg.SqlState})"),
                _ => (false, $"{pg.MessageText} ({pg.SqlState})"),
            };
        }

        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case SocketException socket:
                    return socket.SocketErrorCode switch
                    {
                        SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => (true, "the host name does not resolve"),
                        SocketError.ConnectionRefused => (true, "connection refused"),
                        SocketError.TimedOut => (true, "connection timed out"),
                        SocketError.NetworkUnreachable or SocketError.HostUnreachable => (true, "network unreachable"),
                        _ => (true, $"network error ({socket.SocketErrorCode})"),
                    };
                case TimeoutException:
                    return (true, "connection timed out");
                case System.Security.Authentication.AuthenticationException:
                    return (false, "the TLS handshake failed (check sslmode and certificates)");
            }
        }

        return (true, "the connection failed");
    }

    private static string Hint(RunSettings settings) =>
        settings.Connection.Host?.EndsWith(".railway.internal", StringComparison.OrdinalIgnoreCase) == true
            ? " (*.railway.internal resolves only inside Railway's private network; from outside use the public proxy URL)"
            : "";
}
