using OgelBase.Migrations.Runner;
using OgelBase.Migrations.TestRunner;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// Runs the real command line in-process with a private environment and captured output, plus the pauses that
/// environment asks for (<see cref="TestPauses"/>).
/// </summary>
public static class Cli
{
    public static async Task<CliResult> RunAsync(IDictionary<string, string?> environment, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var console = new RunnerConsole(stdout, stderr, name => environment.TryGetValue(name, out var v) ? v : null);
        SecretGuard.RegisterFrom(environment);
        var code = await RunnerApp.RunAsync(args, console, CancellationToken.None, TestPauses.FromEnvironment(console.Environment).Install);
        var result = new CliResult(code, stdout.ToString(), stderr.ToString());
        SecretGuard.AssertClean(result);
        return result;
    }
}
