using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>Runs the presence probe each migration declares (<see cref="PresenceProbeAttribute"/>), for <c>baseline</c>.</summary>
public static class PresenceProbes
{
    public static string Evidence(KnownMigration migration) => migration.Probe?.Evidence ?? "(no probe declared)";

    public static async Task<bool> RunAsync(KnownMigration migration, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (migration.Probe is not { } probe)
        {
            return false;
        }

        if (probe.Requires is { } relation)
        {
            await using var guard = new NpgsqlCommand("SELECT to_regclass(@relation) IS NOT NULL", connection);
            guard.Parameters.AddWithValue("relation", relation);
            if (!(bool)(await guard.ExecuteScalarAsync(cancellationToken))!)
            {
                return false;
            }
        }

        await using var command = new NpgsqlCommand($"SELECT {probe.Sql}", connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
