namespace OgelBase.Migrations.Infrastructure;

public static class Platform
{
    public const string Schema = "platform";
}
