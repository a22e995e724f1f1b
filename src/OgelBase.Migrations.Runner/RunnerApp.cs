using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OgelBase.Migrations.Runner.Cli;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Runner;

/// <summary>The command line: parses, runs one verb, and turns every outcome into one exit code and at most one error line.</summary>
public static class RunnerApp
{
    /// <summary>The runner as this process: its streams and environment, and Ctrl-C / SIGTERM to stop it.</summary>
    /// <param name="configureServices">See <see cref="RunAsync"/>; the production entry point passes none.</param>
    public static async Task<int> RunProcessAsync(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        using var signals = new StopSignals();
        return await RunAsync(args, RunnerConsole.FromProcess(), signals.Token, configureServices);
    }

    /// <param name="configureServices">
    /// Applied last to the services of every FluentMigrator run (migrate up, rollback, baseline): how a test host
    /// adds what only tests need, such as pauses that let a kill land inside a migration.
    /// </param>
    public static async Task<int> RunAsync(string[] args, RunnerConsole console, CancellationToken cancellationToken, Action<IServiceCollection>? configureServices = null)
    {
        var root = new RootCommand("OgelBase platform database migrations (FluentMigrator).")
        {
            MigrateCommand.Create(console, configureServices),
            RollbackCommand.Create(console, configureServices),
            StatusCommand.Create(console),
            BaselineCommand.Create(console, configureServices),
            VerifyCommand.Create(console),
            TraceCommand.Create(console, configureServices),
        };

        // Declared once for every verb, and read before the parse errors: a usage error, too, comes out in the format the platform's log explorer indexes.
        var logFormat = new Option<string>("--log-format")
        {
            Description = $"How log lines on stderr are written: text (default) or json (one object per line with time, level, message and fields). Environment: {RunnerConsole.FormatVariable}.",
            Recursive = true,
        };
        root.Options.Add(logFormat);
        var parse = root.Parse(args);
        if (console.ConfigureFormat(parse.GetResult(logFormat)?.Tokens is [.., var last] ? last.Value : null) is { } formatError)
        {
            console.Fail(formatError);
            return ExitCodes.Usage;
        }

        if (parse.Errors.Count > 0)
        {
            console.Fail($"{MigrationSession.OneLine(parse.Errors[0].Message)} (see --help)");
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(
                new InvocationConfiguration { Output = console.Out, Error = console.Error, EnableDefaultExceptionHandler = false },
                cancellationToken);
        }
        catch (RunnerException e)
        {
            // Our own messages are written to be read whole (baseline lists every missing object): one line, not cut short.
            console.Fail(MigrationSession.OneLine(e.Message, maxLength: 4000));
            return ExitCodes.For(e.Kind);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.Fail("interrupted; nothing further was started and the migration lock was released.");
            return ExitCodes.Interrupted;
        }
        catch (PostgresException e)
        {
            console.Fail($"the database refused a statement: {e.SqlState} {MigrationSession.OneLine(e.MessageText)}");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            var (_, reason) = Database.Classify(e);
            console.Fail($"lost the database connection: {reason}");
            return ExitCodes.Unavailable;
        }
        catch (Exception e)
        {
            // Never a stack trace on the console; the type and first line are enough to search for.
            console.Fail($"unexpected {e.GetType().Name}: {MigrationSession.OneLine(e.Message)}");
            return ExitCodes.Failed;
        }
    }
}
