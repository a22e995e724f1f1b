using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>A backfill stopped at a safe point (between batches) because the run's time budget was spent.</summary>
public sealed class TimeBudgetSpentException(string message) : Exception(message);
