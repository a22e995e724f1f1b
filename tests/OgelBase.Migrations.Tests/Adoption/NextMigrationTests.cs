using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Adoption;

/// <summary>
/// The next migrations, written the way docs/adding-a-migration.md says, in a copy of this checkout: the author writes
/// each class with <c>scripts/new-migration</c>, generates the manifests with <c>scripts/manifests</c> and builds.
/// What the guide promises then holds for them with nothing else declared: <c>migrate up</c> applies them,
/// <c>rollback</c> refuses to drop a column they added while it holds data, and <c>trace</c> reports the lock an
/// index built without CONCURRENTLY takes, before production does.
/// </summary>
[NonParallelizable]
public sealed partial class NextMigrationTests
{
    private const string Column = "platform.projects.gizmo_notes";
    private string _copy = "";

    /// <summary>The version the scaffold gives the next migration (a column), and the one after it (an index).</summary>
    private static long Next => KnownMigrations.All.Max(m => m.Version) + 1;

    private string RunnerDll => Path.Combine(_copy, "src", "OgelBase.Migrations.Runner", "bin", "Debug", "net10.0", "ogelbase-migrate.dll");

    [OneTimeSetUp]
    public async Task WriteTheNextMigrationInACopyOfTheCheckoutAsync()
    {
        _copy = Directory.CreateTempSubdirectory("ogelbase-next-migration-").FullName;
        var files = await RunAsync(RepositoryRoot.Path, "git", "ls-files", "--cached", "--others", "--exclude-standard", "-z");
        foreach (var file in files.Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(f => File.Exists(Path.Combine(RepositoryRoot.Path, f))))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(_copy, file))!);
            File.Copy(Path.Combine(RepositoryRoot.Path, file), Path.Combine(_copy, file));
        }

        // A repository of its own: the author reviews the generated manifest as a diff.
        await RunAsync(_copy, "git", "init", "-q");
        await RunAsync(_copy, "git", "add", "-A");
        await RunAsync(_copy, "git", "-c", "user.name=test", "-c", "user.email=test@example.test", "commit", "-qm", "checkout");

        // Exactly what the generated comments suggest, for a column of our own; then an index built the blocking way.
        await ScaffoldAsync("add widget",
            "Execute.Sql(\"ALTER TABLE platform.projects ADD COLUMN IF NOT EXISTS gizmo_notes text\");",
            "Execute.Sql(\"ALTER TABLE platform.projects DROP COLUMN IF EXISTS gizmo_notes\");");
        await ScaffoldAsync("index user emails",
            "Execute.Sql(\"CREATE INDEX idx_users_email_plain ON platform.users (email)\");",
            "Execute.Sql(\"DROP INDEX IF EXISTS platform.idx_users_email_plain\");");

        await RunAsync(_copy, "bash", "scripts/manifests");
        Assert.That(File.Exists(Path.Combine(_copy, "src", "OgelBase.Migrations", "Migrations", $"M{Next + 1:000}", "postconditions.txt")), "scripts/manifests wrote the new migrations' manifests");
        await RunAsync(_copy, "dotnet", "build", "src/OgelBase.Migrations.Runner", "-v", "q", "-nologo");
    }

    [OneTimeTearDown]
    public void DropTheCopy()
    {
        if (_copy.Length > 0)
        {
            Directory.Delete(_copy, recursive: true);
        }
    }

    [Test]
    public async Task Rolling_back_the_scaffolded_migration_refuses_while_its_column_holds_data_and_with_allow_data_loss_removes_it_and_says_so()
    {
        await using var db = await TestDatabase.CreateAsync();
        var up = await RunCopyAsync(db, "migrate", "up", "--to", $"{Next}");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        await db.ExecuteAsync("""
            INSERT INTO platform.organizations (id, name, slug) VALUES ('a0000000-0000-4000-8000-00000000000a', 'Acme', 'acme');
            INSERT INTO platform.projects (organization_id, name, slug, ref, database_host, database_name, database_user, database_password,
                                           postgres_meta_url, supabase_url, gizmo_notes)
            VALUES ('a0000000-0000-4000-8000-00000000000a', 'Web', 'web', 'webref', 'db.internal', 'postgres', 'postgres', 'x',
                    'http://meta.internal', 'http://api.internal', 'keep me');
            """);

        var refused = await RunCopyAsync(db, "rollback", $"{Next - 1}");
        Assert.That(refused.ExitCode, Is.Not.EqualTo(0), refused.ToString());
        Assert.That(refused.Stderr, Does.Contain($"{Column}: 1 row").And.Contain("--allow-data-loss"));
        Assert.That(await db.ScalarAsync<string>("SELECT gizmo_notes FROM platform.projects"), Is.EqualTo("keep me"), "nothing was changed");
        Assert.That(await db.RecordedVersionsAsync(), Does.Contain(Next));

        var allowed = await RunCopyAsync(db, "rollback", $"{Next - 1}", "--allow-data-loss");
        Assert.That(allowed.ExitCode, Is.EqualTo(0), allowed.ToString());
        Assert.That(allowed.Stderr, Does.Contain($"deleted data in column {Column} (1 row)"));
        Assert.That(await db.ScalarAsync<bool>("SELECT to_regclass('platform.projects') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'platform.projects'::regclass AND attname = 'gizmo_notes' AND NOT attisdropped)"));
    }

    [Test]
    public async Task Trace_reports_the_share_lock_of_a_scaffolded_index_built_without_concurrently_with_a_finding_and_the_size_of_users()
    {
        await using var db = await TestDatabase.CreateAsync();
        var up = await RunCopyAsync(db, "migrate", "up", "--to", $"{Next - 1}");
        Assert.That(up.ExitCode, Is.EqualTo(0), up.ToString());
        await db.ExecuteAsync("INSERT INTO platform.users (email) SELECT 'u' || g || '@example.test' FROM generate_series(1, 5000) g; ANALYZE platform.users;");

        var trace = await RunCopyAsync(db, "trace", "--format", "json");

        Assert.That(trace.ExitCode, Is.EqualTo(0), trace.ToString());
        using var report = JsonDocument.Parse(trace.Stdout);
        var text = report.RootElement.GetRawText();
        var index = report.RootElement.GetProperty("migrations").EnumerateArray().Single(m => m.GetProperty("version").GetInt64() == Next + 1);
        var locks = index.GetProperty("statements").EnumerateArray().SelectMany(s => s.GetProperty("locks").EnumerateArray()).ToList();
        Assert.That(locks.Select(l => $"{l.GetProperty("relation").GetString()} {l.GetProperty("mode").GetString()}"), Does.Contain("platform.users ShareLock"), text);
        var finding = index.GetProperty("findings").EnumerateArray().Single();
        Assert.That(finding.GetProperty("rule").GetString(), Is.EqualTo("blocking-index-build"), text);
        Assert.That(finding.GetProperty("message").GetString(), Does.Contain("idx_users_email_plain"), text);
        Assert.That($"{finding.GetProperty("relation").GetString()} {finding.GetProperty("mode").GetString()}", Is.EqualTo("platform.users ShareLock"), text);
        Assert.That(finding.GetProperty("target").GetProperty("rows").GetDouble(), Is.EqualTo(5000).Within(1), "the table's size, read from the target");
        Assert.That(await db.RecordedVersionsAsync(), Does.Not.Contain(Next), "the rehearsal left the target as it was");
    }

    /// <summary>scripts/new-migration, then the Up and Down the author writes in place of the generated comments.</summary>
    private async Task ScaffoldAsync(string description, string up, string down)
    {
        var created = await RunAsync(_copy, "bash", "scripts/new-migration", description);
        var source = Path.Combine(_copy, CreatedFile().Match(created).Groups["path"].Value);
        var text = await File.ReadAllTextAsync(source);
        var written = text
            .Replace("// Execute.Sql(\"ALTER TABLE platform.projects ADD COLUMN IF NOT EXISTS tags text[]\");", up, StringComparison.Ordinal)
            .Replace("// Execute.Sql(\"ALTER TABLE platform.projects DROP COLUMN IF EXISTS tags\");", down, StringComparison.Ordinal);
        Assert.That(written, Does.Contain(up).And.Contain(down), "the premise: the scaffold's comments are where this walkthrough writes");
        await File.WriteAllTextAsync(source, written);
    }

    private async Task<CliResult> RunCopyAsync(TestDatabase db, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, Environment = { ["DATABASE_URL"] = db.Url } };
        start.ArgumentList.Add(RunnerDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        await process.WaitForExitAsync();
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A step of the author's: it must succeed; its output is what the next step reads.</summary>
    private static async Task<string> RunAsync(string directory, string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        await process.WaitForExitAsync();
        Assert.That(process.ExitCode, Is.EqualTo(0), $"{file} {string.Join(' ', args)}:\n{await stdout}\n{await stderr}");
        return await stdout;
    }

    [GeneratedRegex(@"^created (?<path>src/\S+\.cs)$", RegexOptions.Multiline)]
    private static partial Regex CreatedFile();
}
