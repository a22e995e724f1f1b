using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using OgelBase.Migrations.Runner.Services;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>rollback VERSION [--dry-run] [--allow-data-loss] [--allow-changed V,...]</c>.</summary>
public static class RollbackCommand
{
    public static Command Create(RunnerConsole console, Action<IServiceCollection>? configureServices = null)
    {
        var common = new CommonOptions(configureServices);
        var version = new Argument<long>("version")
        {
            Description = "Bring the database back to this version: revert every applied migration above it (0 reverts all).",
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Say what would be reverted and removed; change nothing." };
        var allowDataLoss = new Option<bool>("--allow-data-loss") { Description = "Proceed even when a Down drops tables, columns or rows that hold data." };

        var allowChanged = new AllowChangedOption();

        var command = new Command("rollback", "Revert applied migrations newer than VERSION, newest first.") { version, dryRun, allowDataLoss, allowChanged.Option };
        common.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var target = parse.GetValue(version);
            RollbackService.Validate(target); // a bad version fails before any connection is made
            var changed = allowChanged.Resolve(parse);
            var settings = common.Resolve(parse, console);
            return new RollbackService(settings, console).RunAsync(new RollbackOptions(target, parse.GetValue(dryRun), parse.GetValue(allowDataLoss), changed), cancellationToken);
        });
        return command;
    }
}
