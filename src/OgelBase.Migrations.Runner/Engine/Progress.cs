using System.Globalization;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// How far a long step is and how long it still needs, worded the way operators know from GitLab's batched
/// background migrations: "42.5% (estimated time remaining: 5 minutes)".
/// </summary>
public static class Progress
{
    public static double Percent(long done, long total) => total <= 0 ? 100.0 : Math.Clamp(100.0 * done / total, 0, 100);

    /// <summary>Time left at the rate so far; null while nothing is done yet (no rate to go by).</summary>
    public static TimeSpan? Remaining(long done, long total, TimeSpan elapsed)
    {
        if (done <= 0 || elapsed <= TimeSpan.Zero)
        {
            return null;
        }

        var left = Math.Max(0, total - done);
        return TimeSpan.FromSeconds(elapsed.TotalSeconds * left / done);
    }

    /// <summary>"42.5% (estimated time remaining: 5 minutes)".</summary>
    public static string Line(long done, long total, TimeSpan elapsed)
    {
        var remaining = Remaining(done, total, elapsed);
        return string.Create(CultureInfo.InvariantCulture,
            $"{Percent(done, total):0.0}% (estimated time remaining: {(remaining is { } r ? Words(r) : "unknown yet")})");
    }

    /// <summary>Rounded like a person would say it: "less than a minute", "1 minute", "5 minutes", "about 2 hours", "about 3 days".</summary>
    public static string Words(TimeSpan span)
    {
        var minutes = span.TotalMinutes;
        return minutes switch
        {
            < 1 => "less than a minute",
            < 1.5 => "1 minute",
            < 89.5 => string.Create(CultureInfo.InvariantCulture, $"{Math.Round(minutes):0} minutes"),
            < 60 * 36 => string.Create(CultureInfo.InvariantCulture, $"about {Math.Max(1, Math.Round(minutes / 60)):0} hour{(Math.Round(minutes / 60) > 1 ? "s" : "")}"),
            _ => string.Create(CultureInfo.InvariantCulture, $"about {Math.Round(minutes / 1440):0} days"),
        };
    }

    /// <summary>A short exact duration for logs: "850 ms", "12 s", "3 min 05 s", "2 h 04 min".</summary>
    public static string Duration(TimeSpan span) => span.TotalSeconds switch
    {
        < 1 => string.Create(CultureInfo.InvariantCulture, $"{span.TotalMilliseconds:0} ms"),
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0} s"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes} min {span.Seconds:00} s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours} h {span.Minutes:00} min"),
    };

    public static string Rate(long rows, TimeSpan elapsed) =>
        elapsed.TotalSeconds < 0.001 ? rows.ToString(CultureInfo.InvariantCulture) : (rows / elapsed.TotalSeconds).ToString("0", CultureInfo.InvariantCulture);
}
