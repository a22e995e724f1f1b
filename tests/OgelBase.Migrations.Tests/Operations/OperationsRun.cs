namespace OgelBase.Migrations.Tests.Operations;

/// <summary>Stops the PgBouncers these tests started (the server itself belongs to <see cref="TestRun"/>).</summary>
[SetUpFixture]
public sealed class OperationsRun
{
    [OneTimeTearDown]
    public void StopPoolers() => PgBouncer.StopAll();
}
