using System.Diagnostics;
using OgelBase.Migrations.TestRunner;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// The runner as a separate OS process (the published dll copied next to the tests), for what in-process
/// runs cannot show: concurrent deploys, kills, signals. A test whose environment asks for pauses
/// (<see cref="TestPauses"/>) gets the test host, which is the same runner with those pauses installed.
/// </summary>
public sealed class RunnerProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;
    private readonly System.Text.StringBuilder _stderrSoFar = new();

    private RunnerProcess(Process process)
    {
        _process = process;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = ReadLinesAsync(process.StandardError);
    }

    /// <summary>What the runner has written to stderr so far (its log), while it runs.</summary>
    public string Output
    {
        get
        {
            lock (_stderrSoFar)
            {
                return _stderrSoFar.ToString();
            }
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static string RunnerDll => Path.Combine(AppContext.BaseDirectory, "ogelbase-migrate.dll");

    public static string PausingRunnerDll => Path.Combine(AppContext.BaseDirectory, "OgelBase.Migrations.TestRunner.dll");

    public static RunnerProcess Start(IDictionary<string, string?> environment, params string[] args)
    {
        // Through env(1) so SIGINT and SIGTERM start at their default disposition, as under an operator's terminal or
        // Railway. Otherwise the runner inherits whatever the test host had: started in the background or under
        // time(1), the host ignores SIGINT, .NET passes that on to its children and honours it, and Ctrl-C would
        // never reach the runner (the "Ctrl-C fails only in the full run" of issue 12).
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--default-signal=INT,TERM");
        start.ArgumentList.Add("dotnet");
        var pauses = TestPauses.FromEnvironment(name => environment.TryGetValue(name, out var value) ? value : null);
        start.ArgumentList.Add(pauses.Any ? PausingRunnerDll : RunnerDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // A clean environment: only what the test passes, plus what dotnet itself needs to start.
        start.Environment.Clear();
        foreach (var name in new[] { "PATH", "HOME", "DOTNET_ROOT", "TMPDIR" })
        {
            var value = Environment.GetEnvironmentVariable(name);
            if (value is not null)
            {
                start.Environment[name] = value;
            }
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        SecretGuard.RegisterFrom(environment);

        return new RunnerProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start the runner"));
    }

    public static async Task<CliResult> RunAsync(IDictionary<string, string?> environment, params string[] args)
    {
        using var process = Start(environment, args);
        return await process.WaitAsync(TimeSpan.FromMinutes(5));
    }

    /// <summary>Starts <paramref name="count"/> runs with the same environment and arguments at once and waits for every one of them.</summary>
    public static async Task<CliResult[]> RunTogetherAsync(int count, IDictionary<string, string?> environment, TimeSpan timeout, params string[] args)
    {
        var runners = Enumerable.Range(0, count).Select(_ => Start(environment, args)).ToList();
        try
        {
            return await Task.WhenAll(runners.Select(r => r.WaitAsync(timeout)));
        }
        finally
        {
            runners.ForEach(r => r.Dispose());
        }
    }

    public async Task<CliResult> WaitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        var result = new CliResult(_process.ExitCode, await _stdout, await _stderr);
        SecretGuard.AssertClean(result);
        return result;
    }

    public void Kill() => _process.Kill(entireProcessTree: true);

    private async Task<string> ReadLinesAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_stderrSoFar)
            {
                _stderrSoFar.AppendLine(line);
            }
        }

        return Output;
    }

    /// <summary>Whether the runner process ignores this signal (its SigIgn mask in /proc).</summary>
    public bool Ignores(int signal)
    {
        var mask = File.ReadLines($"/proc/{_process.Id}/status").Single(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))["SigIgn:".Length..].Trim();
        return (Convert.ToUInt64(mask, 16) & (1UL << (signal - 1))) != 0;
    }

    /// <summary>Sends a POSIX signal (SIGTERM = 15, SIGINT = 2) to the runner.</summary>
    public void Signal(int signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
