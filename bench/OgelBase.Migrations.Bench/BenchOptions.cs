namespace OgelBase.Migrations.Bench;

public enum BenchMode
{
    /// <summary>Migration 8 and its rollback through the runner (online: short locks, NOT VALID + VALIDATE, CONCURRENTLY, batches).</summary>
    Online,

    /// <summary>The original single-transaction 008 and 008_rollback.sql (docs/schema-facts.md §8), run directly with Npgsql, for comparison.</summary>
    Original,

    /// <summary>Both, one after the other, each on its own freshly generated database, with a comparison table.</summary>
    Both,
}

/// <summary>Everything one benchmark run needs; the command line fills it, the smoke test builds it directly.</summary>
public sealed record BenchOptions
{
    /// <summary>A postgres:// URL of a server on which the benchmark may create and drop databases; null starts a throwaway cluster.</summary>
    public string? ServerUrl { get; init; }

    public int Users { get; init; } = 1_000_000;

    /// <summary>Concurrent traffic connections; with 4 or more, connection c sends only query kind c mod 4; 0: an idle server.</summary>
    public int Clients { get; init; } = 8;

    /// <summary>Queries per second each client sends (a fixed schedule, not as fast as possible).</summary>
    public double Rate { get; init; } = 25;

    public BenchMode Mode { get; init; } = BenchMode.Online;

    public string OutputDirectory { get; init; } = Path.Combine("bench", "out");

    /// <summary>Seconds of traffic before the migration starts (the "before" phase).</summary>
    public double WarmupSeconds { get; init; } = 10;

    /// <summary>Seconds of traffic between the end of the migration and the start of the rollback, and after the rollback.</summary>
    public double SettleSeconds { get; init; } = 5;

    /// <summary>The runner to spawn (<c>dotnet ogelbase-migrate.dll</c>); by default the one built next to the benchmark.</summary>
    public string RunnerDll { get; init; } = Path.Combine(AppContext.BaseDirectory, "ogelbase-migrate.dll");

    /// <summary>Extra arguments given to the runner's <c>migrate up --to 8</c> and <c>rollback 7</c> (e.g. --batch-size 10000).</summary>
    public IReadOnlyList<string> RunnerArguments { get; init; } = [];

    /// <summary>
    /// Builds of the runner to compare on one data set (name, ogelbase-migrate.dll, extra arguments): each runs online
    /// 008 and its rollback on its own copy, in turn, <see cref="Repeat"/> rounds, and the comparison gives medians.
    /// </summary>
    public IReadOnlyList<(string Name, string Dll, IReadOnlyList<string> Args)> Compare { get; init; } = [];

    /// <summary>Rounds of <see cref="Compare"/>, alternating the builds so a machine that drifts affects each alike.</summary>
    public int Repeat { get; init; } = 1;

    /// <summary>
    /// Seconds after the migration starts at which a disturbance begins (<see cref="Disturbance"/>): a second writer
    /// saturating the WAL for ten seconds and a VACUUM of platform.users. Null: none.
    /// </summary>
    public double? DisturbAt { get; init; }

    /// <summary>Keep the benchmark database instead of dropping it at the end.</summary>
    public bool KeepDatabase { get; init; }

    /// <summary>Seed of the traffic's random choices (the data itself comes from the server's random()).</summary>
    public int Seed { get; init; } = 7;

    public void Validate()
    {
        if (Users < 10)
        {
            throw new ArgumentException("--users must be at least 10");
        }

        if (Clients < 0 || Clients > 64)
        {
            throw new ArgumentException("--clients must be between 0 (no traffic) and 64");
        }

        if (Rate is <= 0 or > 10_000)
        {
            throw new ArgumentException("--rate must be between 0 and 10000 queries per second per client");
        }

        if (WarmupSeconds < 0 || SettleSeconds < 0)
        {
            throw new ArgumentException("--warmup and --settle must not be negative");
        }

        if (Repeat is < 1 or > 20)
        {
            throw new ArgumentException("--repeat must be between 1 and 20");
        }

        if (Compare.FirstOrDefault(c => !File.Exists(c.Dll)) is { Dll: { } missing })
        {
            throw new ArgumentException($"the runner {missing} named by --compare does not exist");
        }

        if (!File.Exists(RunnerDll))
        {
            throw new ArgumentException($"the runner {RunnerDll} does not exist (build src/OgelBase.Migrations.Runner or pass --runner)");
        }
    }
}
