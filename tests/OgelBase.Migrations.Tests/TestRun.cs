using OgelBase.Migrations.Tests.Support;

namespace OgelBase.Migrations.Tests;

/// <summary>One PostgreSQL server for the whole run (root namespace, so it covers every test).</summary>
[SetUpFixture]
public sealed class TestRun
{
    [OneTimeSetUp]
    public async Task StartServer() => await PostgresServer.StartAsync();

    [OneTimeTearDown]
    public void StopServer()
    {
        TestContext.Progress.WriteLine($"secret guard: {SecretGuard.Checked} runner outputs checked for passwords");
        PostgresServer.Stop();
    }
}
