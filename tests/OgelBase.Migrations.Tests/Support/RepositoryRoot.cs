namespace OgelBase.Migrations.Tests.Support;

public static class RepositoryRoot
{
    /// <summary>The checkout the tests were built from (the folder holding Migrations.sln).</summary>
    public static string Path
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "Migrations.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("Migrations.sln not found above the test output directory");
        }
    }
}
