using System.Globalization;
using System.Text;
using Npgsql;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Connection;

/// <summary>
/// Turns <c>DATABASE_URL</c> into Npgsql settings. Npgsql itself does not accept <c>postgres://</c> URIs
/// (npgsql issue #2090), and Railway hands us exactly that form. Error messages name what is wrong but
/// never repeat the input, which holds the password.
/// </summary>
public static class DatabaseUrl
{
    public const int MaxLength = 4096;

    private static readonly Dictionary<string, SslMode> SslModes = new(StringComparer.Ordinal)
    {
        ["disable"] = SslMode.Disable,
        ["allow"] = SslMode.Allow,
        ["prefer"] = SslMode.Prefer,
        ["require"] = SslMode.Require,
        ["verify-ca"] = SslMode.VerifyCA,
        ["verify-full"] = SslMode.VerifyFull,
    };

    private static readonly Dictionary<string, ChannelBinding> ChannelBindings = new(StringComparer.Ordinal)
    {
        ["disable"] = ChannelBinding.Disable,
        ["prefer"] = ChannelBinding.Prefer,
        ["require"] = ChannelBinding.Require,
    };

    private static readonly Dictionary<string, GssEncryptionMode> GssEncryptionModes = new(StringComparer.Ordinal)
    {
        ["disable"] = GssEncryptionMode.Disable,
        ["prefer"] = GssEncryptionMode.Prefer,
        ["require"] = GssEncryptionMode.Require,
    };

    private static readonly string[] SupportedQueryKeys =
    [
        "sslmode", "connect_timeout", "application_name", "options", "sslrootcert", "sslcert", "sslkey", "sslpassword",
        "target_session_attrs", "keepalives_idle", "channel_binding", "gssencmode", "host", "port", "user", "password", "dbname",
    ];

    public static NpgsqlConnectionStringBuilder Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length > MaxLength)
        {
            throw Invalid($"it is {value.Length} characters long; the limit is {MaxLength}");
        }

        var text = value.Trim();
        if (text.Length == 0)
        {
            throw Invalid("it is empty");
        }

        if (text.Any(char.IsControl))
        {
            throw Invalid("it contains a control character");
        }

        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            var scheme = text[..schemeEnd].ToLowerInvariant();
            if (scheme is not ("postgres" or "postgresql"))
            {
                throw Invalid($"the scheme '{Truncate(scheme)}' is not supported; use postgres:// or postgresql://");
            }

            return ParseUri(text[(schemeEnd + 3)..]);
        }

        if (text.Contains('='))
        {
            return ParseKeywords(text);
        }

        throw Invalid("it is neither a postgres:// URI nor a key=value connection string");
    }

    /// <summary>What logs may show of a target: host, port and database, never the user or password.</summary>
    public static string Describe(NpgsqlConnectionStringBuilder builder)
    {
        var host = builder.Host ?? "localhost";
        if (host.Contains(':') && !host.StartsWith('['))
        {
            host = $"[{host}]";
        }

        return $"{host}:{builder.Port}/{builder.Database ?? builder.Username ?? "postgres"}";
    }

    private static NpgsqlConnectionStringBuilder ParseKeywords(string text)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(text);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            // Npgsql's messages name the keyword, not the value; keep only the first line.
            var reason = e.Message.Split('\n')[0].Trim();
            if (reason.Contains("assword", StringComparison.Ordinal) && reason.Contains('='))
            {
                reason = "a value could not be read";
            }

            throw Invalid($"the key=value connection string was rejected: {reason}");
        }
    }

    private static NpgsqlConnectionStringBuilder ParseUri(string rest)
    {
        var builder = new NpgsqlConnectionStringBuilder { Port = 5432 };

        var authorityEnd = rest.IndexOfAny(['/', '?']);
        var authority = authorityEnd < 0 ? rest : rest[..authorityEnd];
        var remainder = authorityEnd < 0 ? "" : rest[authorityEnd..];

        var at = authority.IndexOf('@');
        if (at >= 0 && authority.IndexOf('@', at + 1) >= 0)
        {
            throw Invalid("the user or password contains an unencoded '@'; percent-encode it as %40");
        }

        var hostPart = authority;
        if (at >= 0)
        {
            var userInfo = authority[..at];
            hostPart = authority[(at + 1)..];
            var colon = userInfo.IndexOf(':');
            var user = Decode(colon < 0 ? userInfo : userInfo[..colon], "user name");
            if (user.Length > 0)
            {
                builder.Username = user;
            }

            if (colon >= 0)
            {
                builder.Password = Decode(userInfo[(colon + 1)..], "password");
            }
        }

        ParseHost(hostPart, builder);

        var queryStart = remainder.IndexOf('?');
        var path = queryStart < 0 ? remainder : remainder[..queryStart];
        var query = queryStart < 0 ? "" : remainder[(queryStart + 1)..];

        if (path.Length > 1)
        {
            var database = Decode(path[1..], "database name");
            if (database.Contains('/'))
            {
                throw Invalid("the database name contains '/'; percent-encode it as %2F");
            }

            builder.Database = database;
        }

        if (query.Length > 0)
        {
            ApplyQuery(query, builder);
        }

        if (string.IsNullOrEmpty(builder.Host))
        {
            throw Invalid("it names no host");
        }

        return builder;
    }

    private static void ParseHost(string hostPart, NpgsqlConnectionStringBuilder builder)
    {
        if (hostPart.Contains(','))
        {
            throw Invalid("it names several hosts; give exactly one");
        }

        string host;
        string? port = null;
        if (hostPart.StartsWith('['))
        {
            var close = hostPart.IndexOf(']');
            if (close < 0)
            {
                throw Invalid("an IPv6 host opens '[' but never closes it");
            }

            host = hostPart[1..close];
            var after = hostPart[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    throw Invalid("unexpected text after the IPv6 host");
                }

                port = after[1..];
            }

            if (!System.Net.IPAddress.TryParse(host, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                throw Invalid("the bracketed host is not an IPv6 address");
            }
        }
        else
        {
            if (hostPart.Contains('[') || hostPart.Contains(']'))
            {
                throw Invalid("the host has unbalanced brackets");
            }

            var colon = hostPart.LastIndexOf(':');
            host = colon < 0 ? hostPart : hostPart[..colon];
            port = colon < 0 ? null : hostPart[(colon + 1)..];
            host = Decode(host, "host");
            if (host.Length > 0 && !host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
            {
                throw Invalid("the host name contains characters a host name cannot have");
            }
        }

        if (host.Length > 0)
        {
            builder.Host = host;
        }

        if (port is not null)
        {
            builder.Port = ParsePort(port);
        }
    }

    private static int ParsePort(string port)
    {
        if (port.Length == 0 || port.Length > 5 || !port.All(char.IsAsciiDigit))
        {
            throw Invalid("the port is not a number from 1 to 65535");
        }

        var number = int.Parse(port, CultureInfo.InvariantCulture);
        if (number is < 1 or > 65535)
        {
            throw Invalid("the port is not a number from 1 to 65535");
        }

        return number;
    }

    private static void ApplyQuery(string query, NpgsqlConnectionStringBuilder builder)
    {
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
            {
                throw Invalid("a query parameter has no key=value form");
            }

            var key = Decode(pair[..eq], "query key");
            var raw = Decode(pair[(eq + 1)..], $"value of '{Truncate(key)}'");
            switch (key)
            {
                case "sslmode":
                    builder.SslMode = Choice(key, raw, SslModes);
                    break;
                case "connect_timeout":
                    builder.Timeout = raw.All(char.IsAsciiDigit) && raw.Length is > 0 and < 6
                        ? Math.Clamp(int.Parse(raw, CultureInfo.InvariantCulture), 1, 1024)
                        : throw Invalid("connect_timeout is not a whole number of seconds");
                    break;
                case "application_name":
                    builder.ApplicationName = raw;
                    break;
                case "options":
                    builder.Options = raw;
                    break;
                case "sslrootcert":
                    builder.RootCertificate = raw;
                    break;
                case "sslcert":
                    builder.SslCertificate = raw;
                    break;
                case "sslkey":
                    builder.SslKey = raw;
                    break;
                case "sslpassword":
                    builder.SslPassword = raw;
                    break;
                case "target_session_attrs":
                    builder.TargetSessionAttributes = raw;
                    break;
                case "keepalives_idle":
                    builder.TcpKeepAliveTime = raw.All(char.IsAsciiDigit) && raw.Length is > 0 and < 6
                        ? int.Parse(raw, CultureInfo.InvariantCulture)
                        : throw Invalid("keepalives_idle is not a whole number of seconds");
                    break;
                case "channel_binding":
                    builder.ChannelBinding = Choice(key, raw, ChannelBindings);
                    break;
                case "gssencmode":
                    builder.GssEncryptionMode = Choice(key, raw, GssEncryptionModes);
                    break;
                case "host":
                    ParseHost(raw, builder);
                    break;
                case "port":
                    builder.Port = ParsePort(raw);
                    break;
                case "user":
                    builder.Username = raw;
                    break;
                case "password":
                    builder.Password = raw;
                    break;
                case "dbname":
                    builder.Database = raw;
                    break;
                default:
                    throw Invalid($"the query parameter '{Truncate(key)}' is not supported (supported: {string.Join(", ", SupportedQueryKeys)})");
            }
        }
    }

    private static string Decode(string text, string what)
    {
        if (!text.Contains('%'))
        {
            return text;
        }

        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '%')
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
                continue;
            }

            if (i + 2 >= text.Length || !Uri.IsHexDigit(text[i + 1]) || !Uri.IsHexDigit(text[i + 2]))
            {
                throw Invalid($"the {what} has a malformed percent-escape");
            }

            bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
            i += 2;
        }

        string decoded;
        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            throw Invalid($"the {what} is not valid UTF-8 once decoded");
        }

        if (decoded.Any(c => c == '\0' || char.IsControl(c)))
        {
            throw Invalid($"the {what} contains a control character once decoded");
        }

        return decoded;
    }

    // Keys and scheme names are echoed to help the user; they are cut short so a pasted secret is not.
    private static string Truncate(string text) => text.Length <= 24 ? text : text[..24] + "…";

    private static T Choice<T>(string key, string raw, Dictionary<string, T> choices) =>
        choices.TryGetValue(raw, out var value) ? value : throw Invalid($"{key} '{Truncate(raw)}' is not one of {string.Join(", ", choices.Keys)}");

    private static RunnerException Invalid(string reason) =>
        new(FailureKind.Usage, $"DATABASE_URL is malformed: {reason}.");
}
