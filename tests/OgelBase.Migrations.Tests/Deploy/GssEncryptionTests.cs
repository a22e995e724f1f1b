using OgelBase.Migrations.Runner.Connection;

namespace OgelBase.Migrations.Tests.Deploy;

/// <summary>
/// Npgsql's default GSS encryption mode (Prefer) loads libgssapi_krb5 on every connect; the runtime image has no
/// Kerberos, so each command printed "Cannot load library libgssapi_krb5.so.2" on stderr (and broke JSON-only logs).
/// The runner turns it off unless the connection asks for it. scripts/image checks the image's stderr end to end.
/// </summary>
public sealed class GssEncryptionTests
{
    private static NpgsqlConnectionStringBuilder Resolve(string? connection, Dictionary<string, string?>? environment = null) =>
        ConnectionResolver.Resolve(connection, name => environment?.GetValueOrDefault(name));

    [Test]
    public void A_url_without_gssencmode_gets_gss_encryption_off()
    {
        Assert.That(Resolve("postgres://u:p@db.internal:5432/railway").GssEncryptionMode, Is.EqualTo(GssEncryptionMode.Disable));
    }

    [Test]
    public void DATABASE_URL_and_the_PG_variables_get_it_off_too()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Resolve(null, new() { ["DATABASE_URL"] = "postgresql://u:p@h/d" }).GssEncryptionMode, Is.EqualTo(GssEncryptionMode.Disable));
            Assert.That(Resolve(null, new() { ["PGHOST"] = "h", ["PGUSER"] = "u" }).GssEncryptionMode, Is.EqualTo(GssEncryptionMode.Disable));
            Assert.That(Resolve("Host=h;Username=u").GssEncryptionMode, Is.EqualTo(GssEncryptionMode.Disable));
        });
    }

    [TestCase("postgres://u:p@h/d?gssencmode=prefer", GssEncryptionMode.Prefer)]
    [TestCase("postgres://u:p@h/d?gssencmode=require", GssEncryptionMode.Require)]
    [TestCase("postgres://u:p@h/d?gssencmode=disable", GssEncryptionMode.Disable)]
    [TestCase("Host=h;Username=u;GSS Encryption Mode=Prefer", GssEncryptionMode.Prefer)]
    [TestCase("Host=h;Username=u;GssEncryptionMode=Require", GssEncryptionMode.Require)]
    public void A_connection_that_asks_for_gss_encryption_keeps_it(string connection, GssEncryptionMode expected)
    {
        Assert.That(Resolve(connection).GssEncryptionMode, Is.EqualTo(expected));
    }
}
