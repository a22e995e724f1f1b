using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// Applied history is immutable: before <c>migrate up</c> or <c>rollback</c> acts, every applied version's recorded
/// checksum must equal this build's. A difference means the migration was edited after it ran; the run refuses,
/// naming every such version, unless the operator accepts them with <c>--allow-changed</c> (the new checksum is
/// then recorded). Versions recorded by a build older than checksums get theirs recorded without refusing, and so
/// does a checksum the migration itself declares as its earlier shape (<c>[SupersedesChecksum]</c>).
/// </summary>
public static class ChecksumGuard
{
    public static async Task CheckAsync(NpgsqlConnection connection, RunnerConsole console, IReadOnlyList<AppliedVersion> applied,
        IReadOnlySet<long> allowChanged, string verb, CancellationToken cancellationToken)
    {
        var known = applied.Where(a => KnownMigrations.Find(a.Version) is not null).ToList();
        var reshaped = known.Where(a => a.Checksum is not null && a.Checksum != Checksums.Of(a.Version) && Checksums.Matches(a.Version, a.Checksum)).ToList();
        var changed = known.Where(a => a.Checksum is not null && !Checksums.Matches(a.Version, a.Checksum)).ToList();
        var refused = changed.Where(a => !allowChanged.Contains(a.Version)).ToList();
        if (refused.Count > 0)
        {
            throw new RunnerException(FailureKind.Failed,
                $"{verb} refused: migration{(refused.Count == 1 ? "" : "s")} {string.Join(", ", refused.Select(a => Describe(a)))} changed since applied " +
                $"(what {(refused.Count == 1 ? "it executes" : "they execute")} differs from what was recorded); applied history is immutable, so fix forward with a new migration, " +
                $"or accept the change with --allow-changed {string.Join(",", refused.Select(a => a.Version))}. Nothing was changed.");
        }

        foreach (var earlier in reshaped)
        {
            var reason = Checksums.Supersedes(earlier.Version, earlier.Checksum!);
            await VersionStore.RecordChecksumAsync(connection, earlier.Version, Checksums.Of(earlier.Version), cancellationToken);
            console.Info($"{Describe(earlier)}: the recorded checksum {earlier.Checksum![..12]}… is its earlier shape, which this build supersedes ({reason}); its new checksum recorded");
        }

        foreach (var accepted in changed)
        {
            await VersionStore.RecordChecksumAsync(connection, accepted.Version, Checksums.Of(accepted.Version), cancellationToken);
            console.Info($"{Describe(accepted)}: changed since applied; accepted (--allow-changed), its new checksum recorded");
        }

        var unrecorded = known.Where(a => a.Checksum is null).ToList();
        foreach (var version in unrecorded)
        {
            await VersionStore.RecordChecksumAsync(connection, version.Version, Checksums.Of(version.Version), cancellationToken);
        }

        if (unrecorded.Count > 0)
        {
            console.Info($"recorded the checksums of {unrecorded.Count} version{(unrecorded.Count == 1 ? "" : "s")} applied by an earlier build ({string.Join(", ", unrecorded.Select(a => $"{a.Version:000}"))})");
        }
    }

    private static string Describe(AppliedVersion applied) => KnownMigrations.Find(applied.Version)?.Label ?? $"{applied.Version:000}";
}
