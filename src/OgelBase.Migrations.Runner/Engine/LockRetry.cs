using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// How the runner waits out another session's lock, for a whole transactional migration (<see cref="MigrationSession"/>)
/// and for one online statement or batch (<see cref="OnlineDdl"/>). An attempt that failed on a lock wait has been rolled
/// back and holds nothing, so it pauses and tries again, up to <paramref name="maxAttempts"/> in all. The pause doubles
/// from <paramref name="firstDelay"/> up to <paramref name="maxDelay"/>, with "equal jitter" (half fixed, half random) so
/// that runs retrying against the same blocker do not move in step. The caller says which failures are lock waits, what
/// its retry line says and what its last failure becomes.
/// </summary>
internal sealed class LockRetry(int maxAttempts, TimeSpan firstDelay, TimeSpan maxDelay)
{
    public int MaxAttempts => maxAttempts;

    /// <param name="attempt">One try; on a lock wait its transaction must already be rolled back.</param>
    /// <param name="lockWait">The lock error that makes a failure worth retrying, or null for any other failure (thrown as it is).</param>
    /// <param name="retrying">Told the attempt that failed, its error and the pause before the next one.</param>
    /// <param name="gaveUp">What the last attempt's failure becomes: given the thrown exception, its lock error and the attempts made.</param>
    public T Run<T>(Func<T> attempt, Func<Exception, PostgresException?> lockWait, Action<int, PostgresException, TimeSpan> retrying,
        Func<Exception, PostgresException, int, Exception> gaveUp, CancellationToken cancellationToken = default)
    {
        for (var number = 1; ; number++)
        {
            try
            {
                return attempt();
            }
            catch (Exception e) when (lockWait(e) is { } error)
            {
                if (number >= maxAttempts)
                {
                    throw gaveUp(e, error, number);
                }

                var pause = Backoff(number);
                retrying(number, error, pause);
                cancellationToken.WaitHandle.WaitOne(pause);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Max(1, Math.Min(maxDelay.TotalMilliseconds, firstDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30))));
#pragma warning disable CA5394 // jitter, not security
        return TimeSpan.FromMilliseconds((ceiling / 2) + (Random.Shared.NextDouble() * ceiling / 2));
#pragma warning restore CA5394
    }
}
