using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
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
        var noManifestCheck = new Option<bool>("--no-manifest-check")
        {
            Description = "Record migrations without comparing the catalog with their manifests: only for generating a manifest on a throwaway database (scripts/manifests).",
        };

        var up = new Command("up", "Apply every pending migration (opt-in ones only with --include).") { to, include, dryRun, allowChanged.Option, noManifestCheck };
        common.AddTo(up);
        up.SetAction((parse, cancellationToken) =>
        {
            var changed = allowChanged.Resolve(parse);
            var settings = common.Resolve(parse, console) with { CheckManifests = !parse.GetValue(noManifestCheck) };
            var options = new MigrateUpOptions(parse.GetValue(to), parse.GetValue(dryRun), (parse.GetValue(include) ?? []).ToHashSet(), changed);
            return new MigrateUpService(settings, console).RunAsync(options, cancellationToken);
        });

        return new Command("migrate", "Apply migrations.") { up };
    }
}
