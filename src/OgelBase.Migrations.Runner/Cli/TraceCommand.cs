using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using OgelBase.Migrations.Runner.Connection;
using OgelBase.Migrations.Runner.Engine;
using OgelBase.Migrations.Runner.Services;
using OgelBase.Migrations.Runner.Trace;

namespace OgelBase.Migrations.Runner.Cli;

/// <summary><c>trace [--to V] [--include V] [--format text|json|markdown] [--scratch-url URL] [--waivers FILE] [--fail-on-findings]</c>.</summary>
public static class TraceCommand
{
    public static Command Create(RunnerConsole console, Action<IServiceCollection>? configureServices = null)
    {
        var common = new CommonOptions(configureServices);
        var to = new Option<long?>("--to") { Description = "Trace pending migrations up to and including this version." };
        var include = new Option<long[]>("--include")
        {
            Description = "Also trace this opt-in migration (e.g. --include 9). Repeatable.",
            AllowMultipleArgumentsPerToken = true,
        };
        var format = new Option<string>("--format")
        {
            Description = "How the report is written to stdout: text (default), json (a stable document) or markdown (for a pull-request comment).",
            DefaultValueFactory = _ => "text",
        };
        var scratchUrl = new Option<string?>("--scratch-url")
        {
            Description = "A server (URI or key=value string, reached through the database it names) to create the scratch database on; default: the target's server.",
        };
        var waivers = new Option<string?>("--waivers")
        {
            Description = $"Accepted findings, tab-separated: rule, versions, relation, reason. Default: {LockWaivers.DefaultPath} when it exists in the working directory.",
        };
        var failOnFindings = new Option<bool>("--fail-on-findings") { Description = "Exit 1 when a finding is not waived (CI)." };

        var command = new Command("trace", "Rehearse the pending migrations on a scratch database and report every lock they take, judged against the target's table sizes; the target is only read.")
        {
            to, include, format, scratchUrl, waivers, failOnFindings,
        };
        common.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var settings = common.Resolve(parse, console);
            var options = new TraceOptions(
                parse.GetValue(to),
                (parse.GetValue(include) ?? []).ToHashSet(),
                Format(parse.GetValue(format)),
                Scratch(parse.GetValue(scratchUrl), settings, console),
                parse.GetValue(waivers) ?? (File.Exists(LockWaivers.DefaultPath) ? LockWaivers.DefaultPath : null),
                parse.GetValue(failOnFindings));
            return new TraceService(settings, console).RunAsync(options, cancellationToken);
        });
        return command;
    }

    private static TraceFormat Format(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "text" => TraceFormat.Text,
        "json" => TraceFormat.Json,
        "markdown" or "md" => TraceFormat.Markdown,
        _ => throw new RunnerException(FailureKind.Usage, "--format must be text, json or markdown."),
    };

    private static RunSettings? Scratch(string? url, RunSettings target, RunnerConsole console)
    {
        if (url is null)
        {
            return null;
        }

        try
        {
            var builder = ConnectionResolver.Resolve(url, console.Environment);
            return target with { Connection = builder, Target = DatabaseUrl.Describe(builder) };
        }
        catch (RunnerException e) when (e.Kind == FailureKind.Usage)
        {
            throw new RunnerException(FailureKind.Usage, e.Message.Replace("DATABASE_URL", "--scratch-url", StringComparison.Ordinal));
        }
    }
}
