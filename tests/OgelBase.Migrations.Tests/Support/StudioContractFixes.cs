namespace OgelBase.Migrations.Tests.Support;

/// <summary>The statements docs/studio-contract.md asks the app to send instead of its defective ones.</summary>
public static class StudioContractFixes
{
    /// <summary>
    /// For apps/studio/pages/api/platform/projects/[ref]/billing/addons.ts:95. platform.addons is not a catalogue of
    /// add-ons (it has no name, description or interval, and its uuid key cannot match project_addons.addon_id, a
    /// text kind such as 'pitr'): the project's add-ons are the rows of project_addons.
    /// </summary>
    public const string ProjectAddons = """
        SELECT
          pa.addon_type as id,
          pa.addon_variant as variant,
          pa.quantity,
          pa.price_per_unit as price,
          pa.status
        FROM platform.project_addons pa
        WHERE pa.project_id = (SELECT id FROM platform.projects WHERE ref = $1)
          AND pa.status = 'active'
        ORDER BY pa.addon_type
        """;
}
