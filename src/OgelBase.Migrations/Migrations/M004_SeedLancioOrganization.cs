using System.Data;
using FluentMigrator;
using Microsoft.Extensions.Logging;
using Npgsql;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Migrations;

/// <summary>
/// docs/schema-facts.md §4: the production tenant, organization Lancio with project BlackWhale and its owner membership.
/// Data only. The billing mailbox and the project's database password come from the environment
/// (<see cref="ProductionSeedOptions"/>); without them nothing is written, which is every dev and CI database.
/// Unlike the original, a re-run changes nothing that already exists, and the membership is only written
/// when its user exists (production has the org and project but never got the membership).
/// </summary>
[Migration(Version, "seed the Lancio organization and its BlackWhale project")]
// Data only, no catalog footprint: the probe reads the organizations table, so it runs only where that exists.
[PresenceProbe("organization with slug 'lancio'", "EXISTS (SELECT 1 FROM platform.organizations WHERE slug = 'lancio')", Requires = "platform.organizations")]
public sealed class M004_SeedLancioOrganization(ProductionSeedOptions seeds, ILogger<M004_SeedLancioOrganization> logger) : Migration, IRollbackOverrides, ICodeStepStatements
{
    private const long Version = 4;

    public const string OrganizationSlug = "lancio";
    public const string OrganizationName = "Lancio";
    public const string ProjectRef = "blackwhale-prod";

    /// <summary>The owner the original hard-codes; OGELBASE_LANCIO_OWNER_USER_ID overrides it.</summary>
    public static readonly Guid DefaultOwnerUserId = Guid.Parse("a8bb09f6-3432-470e-a117-2600515d4f26");

    private readonly ProductionSeedOptions _seeds = seeds;
    private readonly ILogger<M004_SeedLancioOrganization> _logger = logger;

    private Guid OwnerUserId => _seeds.LancioOwnerUserId ?? DefaultOwnerUserId;

    private string MembershipFilter =>
        $"organization_id IN (SELECT id FROM platform.organizations WHERE slug = '{OrganizationSlug}') AND user_id = '{OwnerUserId}'";

    public IReadOnlyList<RemovedObject> RollbackOverrides =>
    [
        RemovedObject.RowsOf(Platform.Schema, "organization_members", MembershipFilter, "the Lancio owner membership"),
        RemovedObject.RowsOf(Platform.Schema, "projects", $"ref = '{ProjectRef}'",
            "deleting it also deletes every row attached to the project (credentials, configuration, registered databases)"),
        RemovedObject.RowsOf(Platform.Schema, "organizations", $"slug = '{OrganizationSlug}'",
            "deleting it also deletes every row attached to the organization (members, projects, billing)"),
    ];

    // The statements the seed and its Down send, so the checksum sees an edit to any of them (they run as code).
    private const string DeleteMembershipSql = """
        DELETE FROM platform.organization_members
        WHERE organization_id IN (SELECT id FROM platform.organizations WHERE slug = @slug) AND user_id = @owner
        """;

    private const string DeleteProjectSql = "DELETE FROM platform.projects WHERE ref = @ref";

    private const string DeleteOrganizationSql = "DELETE FROM platform.organizations WHERE slug = @slug";

    private const string InsertOrganizationSql = """
        INSERT INTO platform.organizations (name, slug, billing_email)
        VALUES (@name, @slug, @email)
        ON CONFLICT (slug) DO NOTHING
        """;

    private const string InsertProjectSql = """
        INSERT INTO platform.projects
          (organization_id, name, slug, ref, database_host, database_port, database_name, database_user,
           database_password, postgres_meta_url, supabase_url, status)
        SELECT o.id, 'BlackWhale', 'blackwhale', @ref, 'postgres.railway.internal', 5432, 'postgres', 'postgres',
               @password, 'https://postgres-meta-production-6c48.up.railway.app', 'https://kong-production-80c6.up.railway.app',
               'ACTIVE_HEALTHY'
        FROM platform.organizations o
        WHERE o.slug = @slug
        ON CONFLICT (ref) DO NOTHING
        """;

    private const string OwnerExistsSql = "SELECT EXISTS (SELECT 1 FROM platform.users WHERE id = @owner)";

    private const string InsertMembershipSql = """
        INSERT INTO platform.organization_members (organization_id, user_id, role)
        SELECT o.id, @owner, 'owner'
        FROM platform.organizations o
        WHERE o.slug = @slug
        ON CONFLICT (organization_id, user_id) DO NOTHING
        """;

    public IEnumerable<string> CodeStepStatements =>
        [DeleteMembershipSql, DeleteProjectSql, DeleteOrganizationSql, InsertOrganizationSql, InsertProjectSql, OwnerExistsSql, InsertMembershipSql];

    public override void Up() => Execute.WithConnection(Seed);

    public override void Down() => Execute.WithConnection((connection, transaction) =>
    {
        // The Up cannot tell an org it created from one that was already there (nor could the original), so
        // the Down removes the rows by their natural keys; the manifest makes the runner show and count them.
        Run(connection, transaction, DeleteMembershipSql, ("slug", OrganizationSlug), ("owner", OwnerUserId));
        Run(connection, transaction, DeleteProjectSql, ("ref", ProjectRef));
        Run(connection, transaction, DeleteOrganizationSql, ("slug", OrganizationSlug));
    });

    private void Seed(IDbConnection connection, IDbTransaction? transaction)
    {
        var missing = ProductionSeedOptions.Unset(
            (ProductionSeedOptions.LancioBillingEmailVariable, _seeds.LancioBillingEmail),
            (ProductionSeedOptions.BlackWhaleDbPasswordVariable, _seeds.BlackWhaleDatabasePassword));
        if (missing.Count > 0)
        {
            _logger.LogInformation("004: Lancio seed skipped, nothing changed: {Variables} not set", string.Join(" and ", missing));
            return;
        }

        // Insert-or-keep: the original overwrote name and billing e-mail on every run; a re-run here leaves an
        // existing organization exactly as it is.
        var organizationInserted = Run(connection, transaction, InsertOrganizationSql, ("name", OrganizationName), ("slug", OrganizationSlug), ("email", _seeds.LancioBillingEmail!));

        var projectInserted = Run(connection, transaction, InsertProjectSql, ("ref", ProjectRef), ("password", _seeds.BlackWhaleDatabasePassword!), ("slug", OrganizationSlug));

        // The original let this insert fail on the foreign key and kept the rows above; the owner is expected
        // to appear only once GoTrue sync (009) creates platform users.
        var ownerExists = Scalar(connection, transaction, OwnerExistsSql, ("owner", OwnerUserId));
        var membershipInserted = 0;
        if (ownerExists)
        {
            membershipInserted = Run(connection, transaction, InsertMembershipSql, ("owner", OwnerUserId), ("slug", OrganizationSlug));
        }

        _logger.LogInformation(
            "004: organization '{Slug}' {Organization}; project '{Ref}' {Project}; owner membership {Membership}",
            OrganizationSlug,
            organizationInserted == 1 ? "inserted" : "already present, left unchanged",
            ProjectRef,
            projectInserted == 1 ? "inserted" : "already present, left unchanged",
            !ownerExists ? "skipped: the owner user does not exist in platform.users"
                : membershipInserted == 1 ? "inserted" : "already present");
    }

    private static int Run(IDbConnection connection, IDbTransaction? transaction, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        return command.ExecuteNonQuery();
    }

    private static bool Scalar(IDbConnection connection, IDbTransaction? transaction, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        return command.ExecuteScalar() is true;
    }

    private static NpgsqlCommand Command(IDbConnection connection, IDbTransaction? transaction, string sql, (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, (NpgsqlConnection)connection, (NpgsqlTransaction?)transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}
