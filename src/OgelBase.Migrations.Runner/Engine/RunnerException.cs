namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// A failure the runner explains in one line. Its message is shown as is, so it must never contain a
/// password or the raw connection string. The exit code is chosen by <see cref="ExitCodes"/>, nowhere else.
/// </summary>
public class RunnerException(FailureKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public FailureKind Kind { get; } = kind;
}

public enum FailureKind
{
    /// <summary>Bad arguments or configuration: nothing was attempted.</summary>
    Usage,

    /// <summary>The database could not be reached, refused the login, or the migration lock was not had in time.</summary>
    Unavailable,

    /// <summary>A migration, a check or a guard failed.</summary>
    Failed,

    /// <summary>The time budget (--max-duration) was spent; stopped at a safe point, the rest is pending.</summary>
    OutOfTime,

    /// <summary>Stopped by Ctrl-C or SIGTERM.</summary>
    Interrupted,
}
