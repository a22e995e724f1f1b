// Every test has its own database, so fixtures run side by side; the few whose subject is timing (signals, kills,
// lock waits, online DDL under load) are [NonParallelizable] and run on their own after the rest.
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(3)]

namespace OgelBase.Migrations.Tests;

/// <summary>One PostgreSQL server for the whole run (root namespace, so it covers every test).</summary>
[SetUpFixture]
public sealed class TestRun
{
    [OneTimeSetUp]
    public async Task StartServer() => await PostgresServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer()
    {
        await Templates.DropAllAsync();
        TestContext.Progress.WriteLine($"secret guard: {SecretGuard.Checked} runner outputs checked for passwords");
        PostgresServer.Stop();
    }
}
