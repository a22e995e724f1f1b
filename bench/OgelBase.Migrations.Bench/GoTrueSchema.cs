namespace OgelBase.Migrations.Bench;

/// <summary>
/// GoTrue's <c>auth.users</c> as supabase/auth's migrations leave it (every column nullable but id; confirmed_at
/// generated; is_sso_user and is_anonymous NOT NULL), for the 009 benchmark and the tests' GoTrue fixture.
/// </summary>
public static class GoTrueSchema
{
    /// <summary>The DDL, kept in gotrue-auth-users.sql so scripts (the migration lint) run the same file.</summary>
    public static string AuthUsersDdl { get; } = ReadDdl();

    private static string ReadDdl()
    {
        using var stream = typeof(GoTrueSchema).Assembly.GetManifestResourceStream("gotrue-auth-users.sql")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
