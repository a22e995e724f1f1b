using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace OgelBase.Migrations.Tests.Support;

/// <summary>
/// Template databases, one per distinct <c>migrate up</c> (arguments and environment), each built the first time a
/// test asks for it and cloned with <c>CREATE DATABASE ... TEMPLATE</c> ever after. Building one is an ordinary
/// in-process run of the runner, asserted to succeed like any other; a clone is a file copy, so every test gets its
/// own database at that version in milliseconds instead of migrating from zero.
/// </summary>
public static class Templates
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Built = new();

    private static readonly ConcurrentBag<Func<Task>> AfterDrop = [];

    public static Task<string> ForAsync(IDictionary<string, string?> environment, string[] upArgs) => ForAsync(environment, upArgs, preparation: null);

    /// <param name="preparation">
    /// What is in the database before the migrations run (e.g. GoTrue's auth.users), named so the name is part of the
    /// template's identity; given the template database's name.
    /// </param>
    public static Task<string> ForAsync(IDictionary<string, string?> environment, string[] upArgs, (string Name, Func<string, Task> Prepare)? preparation)
    {
        var key = string.Join(' ', upArgs) + " | " + string.Join(' ', environment.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"))
                  + (preparation is { } p ? " | " + p.Name : "");
        return Built.GetOrAdd(key, _ => new Lazy<Task<string>>(() => BuildAsync(key, environment, upArgs, preparation?.Prepare))).Value;
    }

    /// <summary>Cleanup that has to wait until the templates are gone (a role a template's objects belong to).</summary>
    public static void AfterDropAll(Func<Task> cleanup) => AfterDrop.Add(cleanup);

    /// <summary>Drops the templates this run built (on a server the run did not start and throw away itself).</summary>
    public static async Task DropAllAsync()
    {
        foreach (var template in Built.Values.Where(t => t.IsValueCreated && t.Value.IsCompletedSuccessfully).Select(t => t.Value.Result))
        {
            await PostgresServer.AdminAsync($"DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)");
        }

        foreach (var cleanup in AfterDrop)
        {
            await cleanup();
        }
    }

    private static async Task<string> BuildAsync(string key, IDictionary<string, string?> environment, string[] upArgs, Func<string, Task>? prepare)
    {
        // The name says which run made it and for what, so a leftover on a shared server is recognisable.
        var name = "tpl_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12] + "_" + Guid.NewGuid().ToString("N")[..8];
        await PostgresServer.AdminAsync($"CREATE DATABASE \"{name}\" {TestDatabase.CopyStrategy}");
        if (prepare is not null)
        {
            await prepare(name);
        }

        var environmentWithTarget = new Dictionary<string, string?>(environment)
        {
            ["DATABASE_URL"] = PostgresServer.UrlFor(name),
        };
        var result = await Cli.RunAsync(environmentWithTarget, ["migrate", "up", .. upArgs]);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the template for 'migrate up {string.Join(' ', upArgs)}' failed: {result}");
        }

        // CREATE DATABASE ... TEMPLATE refuses while anyone is connected to the template; nobody connects to it again.
        await PostgresServer.AdminAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()");
        TestContext.Progress.WriteLine($"template {name}: migrate up {string.Join(' ', upArgs)}");
        return name;
    }
}
