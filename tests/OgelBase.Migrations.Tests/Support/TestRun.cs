namespace OgelBase.Migrations.Tests.Support;

[SetUpFixture]
public sealed class TestRun
{
    [OneTimeSetUp]
    public async Task StartServer() => await PostgresServer.StartAsync();

    [OneTimeTearDown]
    public void StopServer() => PostgresServer.Stop();
}
