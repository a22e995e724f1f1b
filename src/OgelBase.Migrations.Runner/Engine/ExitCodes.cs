namespace OgelBase.Migrations.Runner.Engine;

/// <summary>The one place where outcomes become process exit codes (documented in the README).</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Unavailable = 3;
    public const int OutOfTime = 4;
    public const int Interrupted = 130;

    public static int For(FailureKind kind) => kind switch
    {
        FailureKind.Usage => Usage,
        FailureKind.Unavailable => Unavailable,
        FailureKind.Interrupted => Interrupted,
        FailureKind.OutOfTime => OutOfTime,
        _ => Failed,
    };
}
