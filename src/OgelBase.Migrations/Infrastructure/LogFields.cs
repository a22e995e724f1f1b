using System.Collections;
using Microsoft.Extensions.Logging;

namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// A log line with structured fields beside its text: the text is what a person reads (--log-format text), the
/// fields are what a log explorer indexes (--log-format json). Any ILogger can take it; the runner's stderr logger
/// writes the fields as JSON attributes.
/// </summary>
public sealed class LogFields(string message, IReadOnlyList<KeyValuePair<string, object?>> fields) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public string Message { get; } = message;

    public int Count => fields.Count;

    public KeyValuePair<string, object?> this[int index] => fields[index];

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => fields.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => Message;
}

public static class LogFieldsExtensions
{
    public static void Info(this ILogger logger, string message, params (string Name, object? Value)[] fields) =>
        logger.Log(LogLevel.Information, default, new LogFields(message, fields.Select(f => new KeyValuePair<string, object?>(f.Name, f.Value)).ToList()), null,
            static (state, _) => state.Message);
}
