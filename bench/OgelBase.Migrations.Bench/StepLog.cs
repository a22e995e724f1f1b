using System.Diagnostics;

namespace OgelBase.Migrations.Bench;

/// <summary>A line the migration printed (runner log line, or the statement the original mode is about to run), stamped with the traffic clock.</summary>
public readonly record struct StepLine(double At, string Text);

/// <summary>What one migration or rollback did: its window on the traffic clock, its outcome, and its timestamped lines.</summary>
public sealed record MigrationWindow(string Name, string Command, double Start, double End, int ExitCode, IReadOnlyList<StepLine> Lines)
{
    public double Seconds => End - Start;

    public bool Succeeded => ExitCode == 0;

    /// <summary>The last line printed at or before <paramref name="at"/>: the step that had just finished or started when a query began.</summary>
    public StepLine? LineBefore(double at) => Lines.LastOrDefault(l => l.At <= at) is { Text: not null } line ? line : null;

    /// <summary>The first line printed at or after <paramref name="at"/>.</summary>
    public StepLine? LineAfter(double at) => Lines.FirstOrDefault(l => l.At >= at) is { Text: not null } line ? line : null;
}

/// <summary>Runs the published runner (<c>dotnet ogelbase-migrate.dll ...</c>) as its own process, as a deploy does.</summary>
public static class PublishedRunner
{
    public static async Task<MigrationWindow> RunAsync(string name, string runnerDll, string connectionString, IReadOnlyList<string> args,
        Stopwatch clock, TextWriter log, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(runnerDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The runner accepts an Npgsql key=value string in DATABASE_URL, which keeps every setting of --server-url.
        start.Environment["DATABASE_URL"] = connectionString;
        var lines = new List<StepLine>();
        var gate = new object();
        void OnLine(string? text)
        {
            if (text is null)
            {
                return;
            }

            var line = new StepLine(clock.Elapsed.TotalSeconds, text);
            lock (gate)
            {
                lines.Add(line);
            }

            log.WriteLine($"  [{name} {line.At,8:0.000}s] {text}");
        }

        var command = "ogelbase-migrate " + string.Join(' ', args);
        var begin = clock.Elapsed.TotalSeconds;
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start the runner (dotnet)");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        // WaitForExitAsync returns once the output streams are drained too.
        var end = clock.Elapsed.TotalSeconds;
        lock (gate)
        {
            return new MigrationWindow(name, command, begin, end, process.ExitCode, lines.ToList());
        }
    }
}
