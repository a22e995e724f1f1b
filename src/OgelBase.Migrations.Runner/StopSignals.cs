using System.Runtime.InteropServices;

namespace OgelBase.Migrations.Runner;

/// <summary>
/// Ctrl-C and SIGTERM (Railway stopping the job) cancel <see cref="Token"/> instead of ending the process, so the work
/// in progress can stop cleanly: the runner ends its migration session (the server rolls the transaction back and the
/// lock is released) and exits non-zero. The runner and the benchmark both stop this way.
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public StopSignals()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _stop.Token;

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stop.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }
}
