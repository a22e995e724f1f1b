using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// A question put to the server again and again, from a second connection on a background thread, while a statement
/// of the migration runs: who blocks it (<see cref="BlockerWatch"/>), which locks it holds (the lock record's sampler).
/// A diagnosis only: when its connection fails, the polling stops and the statement goes on.
/// </summary>
internal abstract class SidePoller : IDisposable
{
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();

    protected SidePoller(string name) => _thread = new Thread(Loop) { IsBackground = true, Name = name };

    /// <summary>Ends the polling and waits for the last poll to finish.</summary>
    public void Stop()
    {
        _stop.Set();
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
    }

    public virtual void Dispose()
    {
        Stop();
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    protected void StartPolling() => _thread.Start();

    /// <summary>One poll; returns how long to wait before the next.</summary>
    protected abstract TimeSpan Poll();

    /// <summary>The connection failed: polling has stopped.</summary>
    protected virtual void OnFailure()
    {
    }

    private void Loop()
    {
        try
        {
            for (var wait = TimeSpan.Zero; !_stop.Wait(wait);)
            {
                wait = Poll();
            }
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            OnFailure();
        }
    }
}
