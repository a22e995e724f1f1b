using System.Globalization;
using System.Text;
using System.Text.Json;
using OgelBase.Migrations.Infrastructure;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner;

/// <summary>How log lines on stderr are written: for people (text, the default) or for log explorers (one JSON object per line).</summary>
public enum LogFormat
{
    Text,
    Json,
}

/// <summary>
/// The process's streams and environment, passed in so tests can run the real CLI in-process.
/// Results go to <see cref="Out"/>; everything a person reads while it runs goes to <see cref="Error"/>,
/// as text or, with --log-format json / OGELBASE_LOG_FORMAT=json, as one JSON object per line.
/// </summary>
public sealed class RunnerConsole(TextWriter output, TextWriter error, Func<string, string?> environment)
{
    public const string FormatVariable = "OGELBASE_LOG_FORMAT";

    private readonly Lock _gate = new();

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public Func<string, string?> Environment { get; } = environment;

    public LogFormat Format { get; set; } = LogFormat.Text;

    public static RunnerConsole FromProcess() =>
        new(Console.Out, Console.Error, System.Environment.GetEnvironmentVariable);

    /// <summary>
    /// The format asked for by <c>--log-format</c> (<paramref name="value"/>), else OGELBASE_LOG_FORMAT, else text.
    /// Returns an error message for a value that is neither text nor json (the format then stays text).
    /// </summary>
    public string? ConfigureFormat(string? value)
    {
        var source = "--log-format";
        if (value is null && !string.IsNullOrWhiteSpace(Environment(FormatVariable)))
        {
            (value, source) = (Environment(FormatVariable)!, FormatVariable);
        }

        switch (value?.Trim().ToLowerInvariant())
        {
            case null or "text":
                Format = LogFormat.Text;
                return null;
            case "json":
                Format = LogFormat.Json;
                return null;
            default:
                Format = LogFormat.Text;
                return $"{source} must be text or json.";
        }
    }

    /// <summary>One line of progress or explanation, on stderr.</summary>
    public void Info(string line) => Write("info", line, []);

    /// <summary>One line of progress with structured fields (written as JSON attributes in the json format).</summary>
    public void Info(string line, params (string Name, object? Value)[] fields) => Write("info", line, fields);

    /// <summary>The one line that says why a command failed, on stderr.</summary>
    public void Fail(string line) => Write("error", line, []);

    public void Result(string text)
    {
        lock (_gate)
        {
            Out.WriteLine(text);
            Out.Flush();
        }
    }

    internal void Write(string level, string line, IReadOnlyList<(string Name, object? Value)> fields)
    {
        var text = Format == LogFormat.Json ? Json(level, line, fields) : (level == "error" ? "error: " : "") + line;
        lock (_gate)
        {
            Error.WriteLine(text);
            Error.Flush();
        }
    }

    private static string Json(string level, string line, IReadOnlyList<(string Name, object? Value)> fields)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("time", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            json.WriteString("level", level);
            json.WriteString("message", line.Trim());
            foreach (var (name, value) in fields)
            {
                if (value is null || name is "time" or "level" or "message")
                {
                    continue;
                }

                json.WritePropertyName(name);
                WriteValue(json, value);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteValue(Utf8JsonWriter json, object value)
    {
        switch (value)
        {
            case string s:
                json.WriteStringValue(s);
                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case int or long or short or byte:
                json.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case double or float or decimal:
                json.WriteNumberValue(Convert.ToDouble(value, CultureInfo.InvariantCulture));
                break;
            case TimeSpan span:
                json.WriteNumberValue(Math.Round(span.TotalSeconds, 3));
                break;
            case Blocker blocker:
                json.WriteStartObject();
                json.WriteNumber("pid", blocker.Pid);
                json.WriteString("application_name", blocker.Application);
                json.WriteString("state", blocker.State);
                if (blocker.TransactionAge is { } age)
                {
                    json.WriteNumber("transaction_s", Math.Round(age.TotalSeconds, 1));
                }

                json.WriteString("query", blocker.Query);
                json.WriteEndObject();
                break;
            case TracedLock held:
                json.WriteStartObject();
                json.WriteString("relation", held.Relation);
                json.WriteString("mode", held.Mode);
                json.WriteBoolean("created", held.Created);
                json.WriteString("blocks", held.Blocks);
                if (held.Held is { } time)
                {
                    json.WriteNumber("held_ms", Math.Round(time.TotalMilliseconds, 1));
                }

                json.WriteEndObject();
                break;
            case System.Collections.IEnumerable items:
                json.WriteStartArray();
                foreach (var item in items)
                {
                    if (item is null)
                    {
                        json.WriteNullValue();
                    }
                    else
                    {
                        WriteValue(json, item);
                    }
                }

                json.WriteEndArray();
                break;
            default:
                json.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
