using System.CommandLine;
using System.Globalization;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>--allow-changed 3,8</c>: applied versions whose changed checksum the operator accepts (migrate up, rollback).</summary>
public sealed class AllowChangedOption
{
    public Option<string[]> Option { get; } = new("--allow-changed")
    {
        Description = "Accept these applied migrations although what they execute changed since they were applied (e.g. 3,8); records the new checksums.",
        AllowMultipleArgumentsPerToken = true,
    };

    public IReadOnlySet<long> Resolve(ParseResult parse)
    {
        var versions = new HashSet<long>();
        foreach (var token in (parse.GetValue(Option) ?? []).SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var version) || KnownMigrations.Find(version) is null)
            {
                throw new RunnerException(FailureKind.Usage, $"--allow-changed {token}: not a version this build knows (known: {string.Join(", ", KnownMigrations.All.Select(m => m.Version))}).");
            }

            versions.Add(version);
        }

        return versions;
    }
}
