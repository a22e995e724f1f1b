using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using System.Globalization;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.Runner.Services;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>baseline [--dry-run] [--versions 1-6,8]</c>.</summary>
public static class BaselineCommand
{
    public static Command Create(RunnerConsole console, Action<IServiceCollection>? configureServices = null)
    {
        var common = new CommonOptions(configureServices);
        var dryRun = new Option<bool>("--dry-run") { Description = "Probe and print what would be recorded; change nothing." };
        var versions = new Option<string?>("--versions") { Description = "Record exactly these versions instead of probing, e.g. 1-6,8." };
        var command = new Command("baseline", "Adopt a database migrated by hand: probe each version and record the present ones as applied.") { dryRun, versions };
        common.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var list = parse.GetValue(versions) is { } text ? ParseList(text) : null;
            var settings = common.Resolve(parse, console);
            return new BaselineService(settings, console).RunAsync(new BaselineOptions(parse.GetValue(dryRun), list), cancellationToken);
        });
        return command;
    }

    public static List<long> ParseList(string text)
    {
        var versions = new List<long>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-');
            if (range.Length == 1 && long.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var single))
            {
                versions.Add(single);
            }
            else if (range.Length == 2
                     && long.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                     && long.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out var to)
                     && from <= to && to - from < 1000)
            {
                for (var v = from; v <= to; v++)
                {
                    versions.Add(v);
                }
            }
            else
            {
                throw new RunnerException(FailureKind.Usage, $"--versions: '{(part.Length > 20 ? part[..20] + "…" : part)}' is not a version or a range like 1-6.");
            }
        }

        return versions.Count > 0 ? versions : throw new RunnerException(FailureKind.Usage, "--versions: give at least one version, e.g. 1-6,8.");
    }
}
