using System.CommandLine;
using OgelBase.Migrations.Runner.Services;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>verify</c>.</summary>
public static class VerifyCommand
{
    public static Command Create(RunnerConsole console)
    {
        var common = new CommonOptions();
        var command = new Command("verify", "Check every applied version's objects against the live catalog; exit 1 on drift.");
        common.AddTo(command);
        command.SetAction((parse, cancellationToken) => new VerifyService(common.Resolve(parse, console), console).RunAsync(cancellationToken));
        return command;
    }
}
