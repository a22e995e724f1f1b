using System.Collections.Concurrent;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// Every runner output produced in the test run passes through here: it must not contain any password the run
/// was given (the server's, database owners', seed secrets, anything in a *PASSWORD* variable or a URL's userinfo).
/// This is the "grep the outputs of all test runs that used a password" check, done on every run instead of a few.
/// </summary>
public static class SecretGuard
{
    private static readonly ConcurrentDictionary<string, byte> Secrets = new(StringComparer.Ordinal);

    public static void Register(string? secret)
    {
        if (!string.IsNullOrEmpty(secret) && secret.Length >= 6)
        {
            Secrets.TryAdd(secret, 0);
            Secrets.TryAdd(Uri.EscapeDataString(secret), 0);
        }
    }

    public static void RegisterFrom(IDictionary<string, string?> environment)
    {
        foreach (var (name, value) in environment)
        {
            if (name.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase))
            {
                Register(value);
            }
        }
    }

    private static int _checked;

    public static int Checked => _checked;

    public static void AssertClean(CliResult result)
    {
        Interlocked.Increment(ref _checked);
        foreach (var secret in Secrets.Keys)
        {
            if (result.Stdout.Contains(secret, StringComparison.Ordinal) || result.Stderr.Contains(secret, StringComparison.Ordinal))
            {
                Assert.Fail($"a password ({secret.Length} characters, starting '{secret[..2]}') appeared in the runner's output:\n{result.Stderr.Replace(secret, "<REDACTED>", StringComparison.Ordinal)}");
            }
        }
    }
}
