using OgelBase.Migrations.Runner.Connection;
using OgelBase.Migrations.Runner.Engine;

namespace OgelBase.Migrations.Tests.Runner;

public sealed class DatabaseUrlTests
{
    [Test]
    public void A_railway_url_gives_host_port_user_password_and_database()
    {
        var b = DatabaseUrl.Parse("postgresql://postgres:pw@postgres.railway.internal:5432/railway");
        Assert.Multiple(() =>
        {
            Assert.That(b.Host, Is.EqualTo("postgres.railway.internal"));
            Assert.That(b.Port, Is.EqualTo(5432));
            Assert.That(b.Username, Is.EqualTo("postgres"));
            Assert.That(b.Password, Is.EqualTo("pw"));
            Assert.That(b.Database, Is.EqualTo("railway"));
        });
    }

    [Test]
    public void Both_schemes_are_accepted_in_any_case()
    {
        Assert.That(DatabaseUrl.Parse("postgres://u@h/d").Host, Is.EqualTo("h"));
        Assert.That(DatabaseUrl.Parse("POSTGRESQL://u@h/d").Host, Is.EqualTo("h"));
    }

    [Test]
    public void Percent_encoded_user_and_password_may_hold_at_colon_slash_and_percent()
    {
        var b = DatabaseUrl.Parse("postgres://us%40er%3Ax:p%40ss%3Aw%2Fo%25rd@db.example:6543/app");
        Assert.That(b.Username, Is.EqualTo("us@er:x"));
        Assert.That(b.Password, Is.EqualTo("p@ss:w/o%rd"));
        Assert.That(b.Port, Is.EqualTo(6543));
    }

    [Test]
    public void An_ipv6_literal_host_is_read_inside_brackets_with_or_without_a_port()
    {
        Assert.That(DatabaseUrl.Parse("postgres://u:p@[::1]:5433/d").Host, Is.EqualTo("::1"));
        Assert.That(DatabaseUrl.Parse("postgres://u:p@[::1]:5433/d").Port, Is.EqualTo(5433));
        Assert.That(DatabaseUrl.Parse("postgres://u:p@[fd12:3456::7]/d").Port, Is.EqualTo(5432));
    }

    [Test]
    public void A_missing_port_means_5432()
    {
        Assert.That(DatabaseUrl.Parse("postgres://u:p@host/db").Port, Is.EqualTo(5432));
    }

    [Test]
    public void A_percent_encoded_database_name_is_decoded()
    {
        Assert.That(DatabaseUrl.Parse("postgres://u:p@h/my%20db%2Dx").Database, Is.EqualTo("my db-x"));
    }

    [Test]
    public void Surrounding_whitespace_is_ignored()
    {
        Assert.That(DatabaseUrl.Parse("  postgres://u:p@h:1/d \n").Host, Is.EqualTo("h"));
    }

    [TestCase("disable", SslMode.Disable)]
    [TestCase("allow", SslMode.Allow)]
    [TestCase("prefer", SslMode.Prefer)]
    [TestCase("require", SslMode.Require)]
    [TestCase("verify-ca", SslMode.VerifyCA)]
    [TestCase("verify-full", SslMode.VerifyFull)]
    public void Every_libpq_sslmode_maps_to_npgsql(string mode, SslMode expected)
    {
        Assert.That(DatabaseUrl.Parse($"postgres://u:p@h/d?sslmode={mode}").SslMode, Is.EqualTo(expected));
    }

    [Test]
    public void Common_libpq_query_keys_map_to_npgsql_settings()
    {
        var b = DatabaseUrl.Parse("postgres://u:p@h/d?connect_timeout=7&application_name=studio%20jobs&options=-c%20search_path%3Dplatform&target_session_attrs=read-write&sslrootcert=%2Fetc%2Fca.pem");
        Assert.Multiple(() =>
        {
            Assert.That(b.Timeout, Is.EqualTo(7));
            Assert.That(b.ApplicationName, Is.EqualTo("studio jobs"));
            Assert.That(b.Options, Is.EqualTo("-c search_path=platform"));
            Assert.That(b.TargetSessionAttributes, Is.EqualTo("read-write"));
            Assert.That(b.RootCertificate, Is.EqualTo("/etc/ca.pem"));
        });
    }

    [Test]
    public void An_npgsql_keyword_string_is_accepted_as_is()
    {
        var b = DatabaseUrl.Parse("Host=h;Port=6000;Username=u;Password=p;Database=d");
        Assert.That((b.Host, b.Port, b.Database), Is.EqualTo(("h", 6000, "d")));
    }

    [Test]
    public void Logs_describe_a_target_by_host_port_and_database_only()
    {
        var b = DatabaseUrl.Parse("postgres://admin:hunter2@[::1]:5433/platform");
        Assert.That(DatabaseUrl.Describe(b), Is.EqualTo("[::1]:5433/platform"));
    }

    [TestCase("mysql://u:secretpw@h/d", "scheme")]
    [TestCase("postgres://u:secret@pw@h/d", "unencoded '@'")]
    [TestCase("postgres://u:secretpw@[::1/d", "never closes")]
    [TestCase("postgres://u:secretpw@::1]/d", "unbalanced brackets")]
    [TestCase("postgres://u:secretpw@h:0/d", "port")]
    [TestCase("postgres://u:secretpw@h:-5/d", "port")]
    [TestCase("postgres://u:secretpw@h:99999/d", "port")]
    [TestCase("postgres://u:secretpw@h:5432x/d", "port")]
    [TestCase("postgres://u:secretpw@h/d?sslmode=sometimes", "sslmode")]
    [TestCase("postgres://u:secretpw@h/d?frobnicate=1", "not supported")]
    [TestCase("postgres://u:secret%zzpw@h/d", "percent-escape")]
    [TestCase("postgres://u:secretpw@/d", "no host")]
    [TestCase("postgres://u:secretpw@h1,h2/d", "several hosts")]
    [TestCase("postgres://u:secretpw@h/d\u0007", "control character")]
    [TestCase("garbage", "neither")]
    [TestCase("   ", "empty")]
    public void Malformed_urls_are_rejected_with_a_reason_and_without_echoing_the_password(string url, string reason)
    {
        var e = Assert.Throws<RunnerException>(() => DatabaseUrl.Parse(url))!;
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo(FailureKind.Usage));
            Assert.That(e.Message, Does.Contain(reason));
            Assert.That(e.Message, Does.Not.Contain("secret"));
            Assert.That(e.Message, Does.Not.Contain("pw@"));
        });
    }

    [Test]
    public void A_huge_url_is_rejected_before_it_is_read()
    {
        var e = Assert.Throws<RunnerException>(() => DatabaseUrl.Parse("postgres://u:" + new string('x', 100_000) + "@h/d"))!;
        Assert.That(e.Message, Does.Contain("limit"));
        Assert.That(e.Message.Length, Is.LessThan(200));
    }
}
