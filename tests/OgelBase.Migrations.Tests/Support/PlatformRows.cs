namespace OgelBase.Migrations.Tests.Support;

/// <summary>Rows a test writes into schema platform as the app would, with every required column filled.</summary>
internal static class PlatformRows
{
    public static Task InsertProjectAsync(TestDatabase db, string organizationId, string reference, string status) =>
        db.ExecuteAsync($"""
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password,
                                           postgres_meta_url, supabase_url, status)
            VALUES ('{organizationId}', 'Project {reference}', '{reference}', '{reference}', 'db.example.internal', 'postgres', 'app', 'pw',
                    'http://meta.example.internal', 'http://api.example.internal', '{status}')
            """);
}
