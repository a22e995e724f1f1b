using System.Runtime.InteropServices;
using OgelBase.Migrations.Runner;

using var stop = new CancellationTokenSource();

// Ctrl-C and SIGTERM (Railway stopping the job) cancel the run: the migration session is ended so the
// server rolls its transaction back, the lock is released, and the process exits non-zero.
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

return await RunnerApp.RunAsync(args, RunnerConsole.FromProcess(), stop.Token);
