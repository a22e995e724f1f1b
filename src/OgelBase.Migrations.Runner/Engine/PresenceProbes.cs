using Npgsql;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// One cheap catalog probe per version (spec §11), to tell which versions a hand-migrated database already has.
/// pg_catalog only: information_schema hides objects the probing role has no privileges on.
/// </summary>
public static class PresenceProbes
{
    private static string Column(string table, string column) =>
        $"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('{table}') AND attname = '{column}' AND NOT attisdropped)";

    private static readonly Dictionary<long, (string Evidence, string Sql)> Probes = new()
    {
        [1] = ("table platform.credentials", "to_regclass('platform.credentials') IS NOT NULL"),
        [2] = ("table platform.subscriptions", "to_regclass('platform.subscriptions') IS NOT NULL"),
        [3] = ("table platform.users", "to_regclass('platform.users') IS NOT NULL"),
        // Data only, no catalog footprint. RunAsync guards it: the query cannot even be planned without the table.
        [4] = ("organization with slug 'lancio'", "EXISTS (SELECT 1 FROM platform.organizations WHERE slug = 'lancio')"),
        [5] = ("column platform.projects.instance_size", Column("platform.projects", "instance_size")),
        [6] = ("column platform.databases.connection_string_encrypted", Column("platform.databases", "connection_string_encrypted")),
        [7] = ("function platform.user_has_org_role(uuid,text)", "to_regprocedure('platform.user_has_org_role(uuid,text)') IS NOT NULL"),
        [8] = ("column platform.users.active_org_id", Column("platform.users", "active_org_id")),
        // The original 009 applied by hand. 9 declares [ReplacesHandApplied]: baseline reports it and never records 9.
        [9] = ("trigger function public.sync_auth_user_to_platform()", "to_regprocedure('public.sync_auth_user_to_platform()') IS NOT NULL"),
        [10] = ("function platform.update_last_activity_at_column()", "to_regprocedure('platform.update_last_activity_at_column()') IS NOT NULL"),
        [11] = ("column platform.organization_members.accepted_at", Column("platform.organization_members", "accepted_at")),
    };

    public static bool Has(long version) => Probes.ContainsKey(version);

    public static string Evidence(long version) => Probes.TryGetValue(version, out var p) ? p.Evidence : "(no probe)";

    public static async Task<bool> RunAsync(long version, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (!Probes.TryGetValue(version, out var probe))
        {
            return false;
        }

        if (version == 4)
        {
            await using var guard = new NpgsqlCommand("SELECT to_regclass('platform.organizations') IS NOT NULL", connection);
            if (!(bool)(await guard.ExecuteScalarAsync(cancellationToken))!)
            {
                return false;
            }
        }

        await using var command = new NpgsqlCommand($"SELECT {probe.Sql}", connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
