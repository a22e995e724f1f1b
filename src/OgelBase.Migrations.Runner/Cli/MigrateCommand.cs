using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.Runner.Services;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>migrate up [--to V] [--include V] [--dry-run] [--allow-changed V,...]</c>.</summary>
public static class MigrateCommand
{
    public static Command Create(RunnerConsole console, Action<IServiceCollection>? configureServices = null)
    {
        var common = new CommonOptions(configureServices);
        var to = new Option<long?>("--to") { Description = "Apply pending migrations up to and including this version." };
        var include = new Option<long[]>("--include")
        {
            Description = "Also apply this opt-in migration (e.g. --include 7). Repeatable.",
            AllowMultipleArgumentsPerToken = true,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be applied and its SQL; change nothing." };
        var allowChanged = new AllowChangedOption();
        var maxDuration = new Option<double?>("--max-duration")
        {
            Description = "Stop at the next safe point (between migrations, or between backfill batches) once this many seconds are spent; exit 4, the next run resumes. Default: OGELBASE_MAX_DURATION, else no limit.",
        };
        var noManifestCheck = new Option<bool>("--no-manifest-check")
        {
            Description = "Record migrations without comparing the catalog with their manifests: only for generating a manifest on a throwaway database (scripts/manifests).",
        };

        var up = new Command("up", "Apply every pending migration (opt-in ones only with --include).") { to, include, dryRun, allowChanged.Option, maxDuration, noManifestCheck };
        common.AddTo(up);
        up.SetAction((parse, cancellationToken) =>
        {
            var changed = allowChanged.Resolve(parse);
            var settings = common.Resolve(parse, console) with { CheckManifests = !parse.GetValue(noManifestCheck) };
            settings.Online.Deadline = Budget(parse.GetValue(maxDuration), console.Environment(BudgetVariable)) is { } budget ? DateTimeOffset.UtcNow + budget : null;
            var options = new MigrateUpOptions(parse.GetValue(to), parse.GetValue(dryRun), (parse.GetValue(include) ?? []).ToHashSet(), changed);
            return new MigrateUpService(settings, console).RunAsync(options, cancellationToken);
        });

        return new Command("migrate", "Apply migrations.") { up };
    }

    /// <summary>Railway's way to set the budget of a pre-deploy gate without changing the command.</summary>
    public const string BudgetVariable = "OGELBASE_MAX_DURATION";

    private static TimeSpan? Budget(double? option, string? variable)
    {
        if (option is null && string.IsNullOrWhiteSpace(variable))
        {
            return null;
        }

        if (option is { } seconds && seconds > 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        if (option is null && double.TryParse(variable, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var fromVariable) && fromVariable > 0)
        {
            return TimeSpan.FromSeconds(fromVariable);
        }

        throw new RunnerException(FailureKind.Usage, option is null
            ? $"{BudgetVariable}: expected a number of seconds greater than 0."
            : "--max-duration: expected a number of seconds greater than 0.");
    }
}
