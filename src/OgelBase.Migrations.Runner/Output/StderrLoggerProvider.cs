using Microsoft.Extensions.Logging;

namespace OgelBase.Migrations.Runner.Output;

/// <summary>
/// Routes FluentMigrator's and the migrations' own logs to stderr. Migration progress (categories under
/// OgelBase.Migrations) is always shown; FluentMigrator's statement echo only with --verbose or --dry-run.
/// Exceptions are never printed with their stack: the runner reports failures itself, in one line.
/// </summary>
internal sealed class StderrLoggerProvider(RunnerConsole console, bool showStatements) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new StderrLogger(console, categoryName, showStatements);

    public void Dispose()
    {
    }

    private sealed class StderrLogger(RunnerConsole console, string category, bool showStatements) : ILogger
    {
        // Ours, not FluentMigrator's: the migrations' own lines and the online executor's, the one runner piece that logs
        // through ILogger (the runner's other lines go through RunnerConsole).
        private readonly bool _isMigrationCode = category.StartsWith("OgelBase.Migrations", StringComparison.Ordinal);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel switch
        {
            >= LogLevel.Error => false, // failures are reported by the runner, once
            >= LogLevel.Information => _isMigrationCode || showStatements,
            _ => false,
        };

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, null);
            if (string.IsNullOrWhiteSpace(message))
            {
                return;
            }

            // Structured fields travel beside the text (LogFields, or a message template's arguments) for --log-format json.
            var fields = state is IReadOnlyList<KeyValuePair<string, object?>> pairs
                ? pairs.Where(p => p.Key != "{OriginalFormat}").Select(p => (p.Key, p.Value)).ToArray()
                : [];
            var prefix = _isMigrationCode ? "  " : "  | ";
            if (console.Format == LogFormat.Json)
            {
                // One object per message: a multi-line statement stays one log entry.
                console.Info(message.TrimEnd(), [.. fields, ("source", _isMigrationCode ? "migration" : "fluentmigrator")]);
                return;
            }

            foreach (var line in message.TrimEnd().Split('\n'))
            {
                console.Info(prefix + line.TrimEnd('\r'));
            }
        }
    }
}
