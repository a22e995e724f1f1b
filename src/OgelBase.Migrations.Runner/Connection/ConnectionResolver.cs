using System.Globalization;
using Npgsql;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Connection;

/// <summary>
/// Where the target database comes from: <c>--connection</c>, else <c>DATABASE_URL</c>, else the libpq
/// variables Railway also sets (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). Never a built-in default:
/// an image that silently migrated localhost would be worse than one that stops.
/// </summary>
public static class ConnectionResolver
{
    public static NpgsqlConnectionStringBuilder Resolve(string? connectionOption, Func<string, string?> environment)
    {
        var builder = Target(connectionOption, environment);

        // Every value the runner reads is of a built-in type (catalog names, counts, text, uuids). Without this, each
        // new connection string (a run's lock and migration sessions are named differently) first loads all of the database's
        // types: a catalog query that made a connection cost 72 ms of CPU instead of 51 on the 2-core test machine,
        // and one that an unusual extension type could make fail.
        // Npgsql would rather have this on a data source builder; FluentMigrator opens its session from a connection string.
#pragma warning disable CS0618
        builder.ServerCompatibilityMode = ServerCompatibilityMode.NoTypeLoading;
#pragma warning restore CS0618

        // GSS encryption only when the URL's gssencmode or a key=value string asks: Npgsql's Prefer loads libgssapi_krb5, absent from the image, and logged its failure on every connect.
        if (!builder.ShouldSerialize("GSS Encryption Mode"))
        {
            builder.GssEncryptionMode = GssEncryptionMode.Disable;
        }

        return builder;
    }

    private static NpgsqlConnectionStringBuilder Target(string? connectionOption, Func<string, string?> environment)
    {
        if (connectionOption is not null)
        {
            return DatabaseUrl.Parse(connectionOption);
        }

        var url = environment("DATABASE_URL");
        if (url is not null)
        {
            if (string.IsNullOrWhiteSpace(url))
            {
                throw new RunnerException(FailureKind.Usage, "DATABASE_URL is set but empty. Set it to postgres://user:password@host:5432/database (on Railway: ${{Postgres.DATABASE_URL}}).");
            }

            return DatabaseUrl.Parse(url);
        }

        var host = environment("PGHOST");
        if (!string.IsNullOrWhiteSpace(host))
        {
            var builder = new NpgsqlConnectionStringBuilder { Host = host.Trim(), Port = 5432 };
            var port = environment("PGPORT");
            if (!string.IsNullOrWhiteSpace(port))
            {
                builder.Port = int.TryParse(port.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536
                    ? p
                    : throw new RunnerException(FailureKind.Usage, "PGPORT is not a number from 1 to 65535.");
            }

            builder.Username = NullIfBlank(environment("PGUSER"));
            builder.Password = environment("PGPASSWORD");
            builder.Database = NullIfBlank(environment("PGDATABASE"));
            var sslMode = NullIfBlank(environment("PGSSLMODE"));
            if (sslMode is not null)
            {
                // Reuse the URI parser's sslmode rules and messages.
                builder.SslMode = DatabaseUrl.Parse($"postgres://h/?sslmode={Uri.EscapeDataString(sslMode)}").SslMode;
            }

            return builder;
        }

        throw new RunnerException(FailureKind.Usage,
            "DATABASE_URL is not set. Set it to postgres://user:password@host:5432/database (on Railway: the reference variable ${{Postgres.DATABASE_URL}}), " +
            "pass --connection, or set PGHOST/PGUSER/PGPASSWORD/PGDATABASE; for a local throwaway database run ./scripts/dev migrate up.");
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
