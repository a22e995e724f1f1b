using System.CommandLine;
using OgelBase.Migrations.Runner.Services;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>status [--json]</c>.</summary>
public static class StatusCommand
{
    public static Command Create(RunnerConsole console)
    {
        var common = new CommonOptions();
        var json = new Option<bool>("--json") { Description = "Write a stable JSON document to stdout (logs stay on stderr)." };
        var command = new Command("status", "List every known migration and every recorded version with its state.") { json };
        common.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
            new StatusService(common.Resolve(parse, console), console).RunAsync(new StatusOptions(parse.GetValue(json)), cancellationToken));
        return command;
    }
}
