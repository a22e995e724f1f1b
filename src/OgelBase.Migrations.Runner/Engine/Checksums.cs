using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using FluentMigrator.Infrastructure;
using FluentMigrator.Runner;
using FluentMigrator.Runner.Initialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// The checksum of what a migration executes: the SQL FluentMigrator renders for its Up and Down expressions
/// (rendered without a database, as FluentMigrator's connectionless preview does) plus the statements its code steps
/// declare (<see cref="ICodeStepStatements"/>). C# layout, comments, names and a code step's description do not reach
/// it; a changed statement does. Rendered with empty production seed values and default online options, so the checksum is the same in every
/// environment. FluentMigrator keeps none (its runner has no such feature); the runner stores it in the version table.
/// </summary>
public static class Checksums
{
    private static readonly Lazy<IReadOnlyDictionary<long, string>> Texts = new(RenderAll);
    private static readonly ConcurrentDictionary<long, string> Hashes = new();

    /// <summary>The checksum this build gives a migration it knows: SHA-256 of <see cref="TextOf"/>.</summary>
    public static string Of(long version) =>
        Hashes.GetOrAdd(version, v => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(TextOf(v)))));

    // What the build before this one (e357765) recorded where its checksum also took in code steps' descriptions, which
    // are prose, and 11's final-check query, which the manifest check replaced. Accepted once, replaced by this build's.
    private static readonly Dictionary<long, string> WithCodeStepDescriptions = new()
    {
        [4] = "bd561d09200690af4802880925e644dac75e8fc66f8f07db49d7e3cec4c3f95c",
        [6] = "cf5c8ca1a07ec90f15238c38e8963049e0ec08cb3775e7d58b4d2aedb96671e4",
        [8] = "412bb81c80002fa459b3c93b94f96f7d01d665549bd20e124e591d98e7cd0255",
        [9] = "9e24bc1cdf0454c705a2cabbdc0cb208bd7df0257b77d0047dab7556709a256c",
        [11] = "be59757341c043f344ecde0dd50a1a866849df6372879e5945cc5e04015d9266",
    };

    /// <summary>
    /// Why <paramref name="recorded"/>, not this build's checksum, still stands for the same migration: the checksum of its
    /// own earlier shape (<see cref="SupersedesChecksumAttribute"/>) or of the previous checksum's text; null when it does not.
    /// </summary>
    public static string? Supersedes(long version, string recorded)
    {
        if (WithCodeStepDescriptions.GetValueOrDefault(version) == recorded)
        {
            return "checksums no longer take in the descriptions of code steps; 11's final check is now the manifest check";
        }

        return KnownMigrations.Find(version)?.EarlierShapes.FirstOrDefault(a => a.Checksum == recorded)?.Reason;
    }

    /// <summary>Whether what was recorded for an applied version is this build's checksum, or one it supersedes.</summary>
    public static bool Matches(long version, string recorded) => recorded == Of(version) || Supersedes(version, recorded) is not null;

    /// <summary>What the checksum is taken of: the migration's rendered Up and Down statements and its declared code-step statements.</summary>
    public static string TextOf(long version) => Texts.Value[version];

    private static Dictionary<long, string> RenderAll()
    {
        var captured = new SqlCapture();
        using var services = FluentMigratorHost.AddMigrations(new ServiceCollection(), new OnlineDdlOptions(), new ProductionSeedOptions(),
                "Host=checksum.invalid", preview: true, captured)
            .Configure<RunnerOptions>(options =>
            {
                options.NoConnection = true;
                options.Tags = KnownMigrations.All.Where(m => m.OptIn is not null).Select(m => OptInAttribute.TagFor(m.Version)).ToArray();
            })
            .BuildServiceProvider();
        using var scope = services.CreateScope();
        var runner = (MigrationRunner)scope.ServiceProvider.GetRequiredService<IMigrationRunner>();
        var loaded = runner.MigrationLoader.LoadMigrations();

        var texts = new Dictionary<long, string>();
        foreach (var migration in KnownMigrations.All)
        {
            var info = loaded[migration.Version];
            var text = new StringBuilder();
            foreach (var (direction, apply) in new (string, Action)[]
                     {
                         ("up", () => runner.ApplyMigrationUp(info, useTransaction: false)),
                         ("down", () => runner.ApplyMigrationDown(info, useTransaction: false)),
                     })
            {
                captured.Statements.Clear();
                apply();
                text.Append("-- ").Append(direction).Append('\n');
                // The version table's own bookkeeping carries the time of the run; it is not the migration's.
                foreach (var statement in captured.Statements.Where(s => !s.Contains($"\"{VersionTable.Table}\"", StringComparison.Ordinal)))
                {
                    text.Append(statement.ReplaceLineEndings("\n").Trim()).Append("\n;\n");
                }
            }

            if (info.Migration is ICodeStepStatements code)
            {
                text.Append("-- code steps\n");
                foreach (var statement in code.CodeStepStatements)
                {
                    text.Append(statement.ReplaceLineEndings("\n").Trim()).Append("\n;\n");
                }
            }

            texts[migration.Version] = text.ToString();
        }

        return texts;
    }

    /// <summary>Keeps the SQL FluentMigrator logs (its Sql event), nothing else.</summary>
    private sealed class SqlCapture : ILoggerProvider
    {
        public ConcurrentQueue<string> Statements { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(SqlCapture capture) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (eventId.Id == RunnerEventIds.Sql.Id)
                {
                    capture.Statements.Enqueue(formatter(state, null));
                }
            }
        }
    }
}
