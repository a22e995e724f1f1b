using System.CommandLine;
using OgelBase.Migrations.Bench;
using OgelBase.Migrations.Runner;

var serverUrl = new Option<string?>("--server-url")
{
    Description = "postgres:// URL of a server on which the benchmark may create and drop a database. Default: start a throwaway local cluster (initdb/pg_ctl).",
};
var users = new Option<int>("--users") { Description = "Users to generate (organizations: users/5; 0-6 memberships per user).", DefaultValueFactory = _ => 1_000_000 };
var clients = new Option<int>("--clients")
{
    Description = "Concurrent traffic connections; with 4 or more, connection c sends only kind c mod 4 (read user by PK, update users.updated_at, insert user, insert membership); 0: an idle server.",
    DefaultValueFactory = _ => 8,
};
var rate = new Option<double>("--rate") { Description = "Queries per second per client, on a fixed schedule.", DefaultValueFactory = _ => 25 };
var mode = new Option<BenchMode>("--mode")
{
    Description = "online: migration 8 and rollback 7 through the runner; original: the single-transaction 008 and its rollback (docs/schema-facts.md §8); both: one after the other, each on a file copy of the same generated data set.",
    DefaultValueFactory = _ => BenchMode.Online,
};
var output = new Option<string>("--out") { Description = "Directory for report.md, chart.png/svg, samples.csv and summary.json.", DefaultValueFactory = _ => Path.Combine("bench", "out") };
var warmup = new Option<double>("--warmup") { Description = "Seconds of traffic before the migration.", DefaultValueFactory = _ => 10 };
var settle = new Option<double>("--settle") { Description = "Seconds of traffic between migration and rollback, and after the rollback.", DefaultValueFactory = _ => 5 };
var runner = new Option<string?>("--runner") { Description = "Path of ogelbase-migrate.dll. Default: the one built next to the benchmark." };
var runnerArgs = new Option<string[]>("--runner-arg")
{
    Description = "Extra argument for the runner's migrate/rollback (repeatable), e.g. --runner-arg=--batch-size --runner-arg=10000.",
    AllowMultipleArgumentsPerToken = false,
};
var compare = new Option<string[]>("--compare")
{
    Description = "Compare a build of the runner on the same data: NAME=PATH/ogelbase-migrate.dll[ ARG ...] (repeatable; online mode).",
    AllowMultipleArgumentsPerToken = false,
};
var repeat = new Option<int>("--repeat") { Description = "Rounds of --compare, the builds alternating.", DefaultValueFactory = _ => 1 };
var disturbAt = new Option<double?>("--disturb-at") { Description = "Seconds after the migration starts: a second writer saturates the WAL for 10 s and VACUUM runs on platform.users (the comparison gives the app's p99 in that window)." };
var keep = new Option<bool>("--keep-database") { Description = "Keep the benchmark database instead of dropping it." };
var replot = new Option<string?>("--replot") { Description = "Only draw chart.png/chart.svg again from a finished run's directory (summary.json, samples.csv)." };

var root = new RootCommand("Online-migration benchmark: migration 8 and its rollback under live traffic (issue #7).")
{
    serverUrl, users, clients, rate, mode, output, warmup, settle, runner, runnerArgs, compare, repeat, disturbAt, keep, replot,
};

using var signals = new StopSignals();

root.SetAction(async (parse, cancellationToken) =>
{
    if (parse.GetValue(replot) is { } directory)
    {
        Chart.Replot(directory);
        Console.WriteLine($"redrawn: {Path.Combine(directory, "chart.png")}, {Path.Combine(directory, "chart.svg")}");
        return 0;
    }

    var options = new BenchOptions
    {
        ServerUrl = parse.GetValue(serverUrl),
        Users = parse.GetValue(users),
        Clients = parse.GetValue(clients),
        Rate = parse.GetValue(rate),
        Mode = parse.GetValue(mode),
        OutputDirectory = parse.GetValue(output)!,
        WarmupSeconds = parse.GetValue(warmup),
        SettleSeconds = parse.GetValue(settle),
        RunnerDll = parse.GetValue(runner) ?? Path.Combine(AppContext.BaseDirectory, "ogelbase-migrate.dll"),
        RunnerArguments = parse.GetValue(runnerArgs) ?? [],
        KeepDatabase = parse.GetValue(keep),
        Compare = [.. (parse.GetValue(compare) ?? []).Select(Arm)],
        Repeat = parse.GetValue(repeat),
        DisturbAt = parse.GetValue(disturbAt),
    };
    try
    {
        return await ExitCodeAsync(async () =>
        {
            var runs = await BenchmarkRun.RunAsync(options, Console.Out, cancellationToken);
            return runs.Any(r => r.FailedQueries > 0) ? 1 : 0;
        });
    }
    catch (ArgumentException e)
    {
        await Console.Error.WriteLineAsync($"error: {e.Message}");
        return 2;
    }
});

static (string Name, string Dll, IReadOnlyList<string> Args) Arm(string text)
{
    var eq = text.IndexOf('=', StringComparison.Ordinal);
    var words = text[(eq + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    return eq <= 0 || words.Length == 0
        ? throw new ArgumentException($"--compare takes NAME=PATH[ ARG ...], not '{text}'")
        : (text[..eq], words[0], words[1..]);
}

// Migration 9: its own data set and traffic (GoTrue sign-ups, sign-ins, Studio lookups); see GoTrueBenchmark.
var gotrueUsers = new Option<int>("--users") { Description = "GoTrue users in auth.users before 9.", DefaultValueFactory = _ => 100_000 };
var gotrueClients = new Option<int>("--clients") { Description = "Traffic connections; connection c sends c mod 3: sign-up, sign-in, Studio lookup.", DefaultValueFactory = _ => 6 };
var gotrueRate = new Option<double>("--rate") { Description = "Queries per second per client.", DefaultValueFactory = _ => 20 };
var gotrueServer = new Option<string?>("--server-url") { Description = serverUrl.Description };
var gotrueOut = new Option<string>("--out") { Description = "Directory for gotrue-N.md.", DefaultValueFactory = _ => Path.Combine("bench", "out") };
var gotrueRunnerArgs = new Option<string[]>("--runner-arg") { Description = runnerArgs.Description, AllowMultipleArgumentsPerToken = false };
var gotrue = new Command("gotrue", "Migration 9: GoTrue users backfilled while sign-ups, sign-ins and Studio's lookups run (issue #13).")
{
    gotrueUsers, gotrueClients, gotrueRate, gotrueServer, gotrueOut, gotrueRunnerArgs,
};
gotrue.SetAction((parse, cancellationToken) => ExitCodeAsync(() => GoTrueBenchmark.RunAsync(new GoTrueBenchOptions
{
    ServerUrl = parse.GetValue(gotrueServer),
    Users = parse.GetValue(gotrueUsers),
    Clients = parse.GetValue(gotrueClients),
    Rate = parse.GetValue(gotrueRate),
    OutputDirectory = parse.GetValue(gotrueOut)!,
    RunnerArguments = parse.GetValue(gotrueRunnerArgs) ?? [],
}, Console.Out, cancellationToken)));
root.Subcommands.Add(gotrue);

var parsed = root.Parse(args);
return await parsed.InvokeAsync(cancellationToken: signals.Token);

// What every benchmark command exits with when its run stops early: 130 when interrupted, 1 when it could not go on.
static async Task<int> ExitCodeAsync(Func<Task<int>> run)
{
    try
    {
        return await run();
    }
    catch (OperationCanceledException)
    {
        await Console.Error.WriteLineAsync("interrupted");
        return 130;
    }
    catch (InvalidOperationException e)
    {
        await Console.Error.WriteLineAsync($"error: {e.Message}");
        return 1;
    }
}
