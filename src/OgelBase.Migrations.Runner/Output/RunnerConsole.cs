namespace OgelBase.Migrations.Runner;

/// <summary>
/// The process's streams and environment, passed in so tests can run the real CLI in-process.
/// Results go to <see cref="Out"/>; everything a person reads while it runs goes to <see cref="Error"/>.
/// </summary>
public sealed class RunnerConsole(TextWriter output, TextWriter error, Func<string, string?> environment)
{
    private readonly Lock _gate = new();

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public Func<string, string?> Environment { get; } = environment;

    public static RunnerConsole FromProcess() =>
        new(Console.Out, Console.Error, System.Environment.GetEnvironmentVariable);

    /// <summary>One line of progress or explanation, on stderr.</summary>
    public void Info(string line)
    {
        lock (_gate)
        {
            Error.WriteLine(line);
            Error.Flush();
        }
    }

    /// <summary>The one line that says why a command failed, on stderr.</summary>
    public void Fail(string line) => Info("error: " + line);

    public void Result(string text)
    {
        lock (_gate)
        {
            Out.WriteLine(text);
            Out.Flush();
        }
    }
}
