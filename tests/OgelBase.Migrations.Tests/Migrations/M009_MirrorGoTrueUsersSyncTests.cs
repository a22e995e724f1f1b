using System.Text.Json;
using static OgelBase.Migrations.Tests.Support.MirroredUsers;

namespace OgelBase.Migrations.Tests.Migrations;

/// <summary>009 against a GoTrue-shaped auth.users, every write issued by GoTrue's own role.</summary>
public sealed class M009_MirrorGoTrueUsersSyncTests
{
    // Every test starts where production does once 9 is applied: GoTrue's auth.users mirrored into platform.users.
    private TestDatabase _db = null!;
    private GoTrueAuth _gotrue = null!;

    [SetUp]
    public async Task ApplyNineOverGoTrueAsync()
    {
        _db = await TestDatabase.MigratedAsync(GoTrueAuth.InTemplate, "--include", "9");
        _gotrue = await GoTrueAuth.InCopyAsync(_db);
    }

    [TearDown]
    public async Task DropAsync()
    {
        // After a failed SetUp only what it created is there to drop.
        if (_gotrue is not null)
        {
            await _gotrue.DisposeAsync();
        }

        if (_db is not null)
        {
            await _db.DisposeAsync();
        }

        (_gotrue, _db) = (null!, null!);
    }

    [Test]
    public async Task A_sign_up_becomes_a_platform_user_with_one_active_default_org_and_Studio_authenticates_it()
    {
        var id = await _gotrue.SignUpAsync("John.Smith@x.io", """{"first_name":"John","last_name":"Smith","plan":"free"}""", confirmed: true);

        var user = await PlatformUserAsync(_db, id);
        Assert.That(user["email"], Is.EqualTo("John.Smith@x.io"));
        Assert.That(user["first_name"], Is.EqualTo("John"));
        Assert.That(user["email_confirmed_at"], Is.Not.Null);
        Assert.That(user["created_at"], Is.Not.Null);
        Assert.That(user["deleted_at"], Is.Null);
        Assert.That(JsonDocument.Parse((string)user["metadata"]!).RootElement.GetProperty("plan").GetString(), Is.EqualTo("free"));

        Assert.That(await OrgsOwnedAsync(_db, id), Is.EqualTo(1));
        var org = await _db.ColumnAsync($"SELECT o.slug || '|' || o.name || '|' || o.billing_email || '|' || (o.id = u.active_org_id) FROM platform.organizations o JOIN platform.users u ON u.id = '{id}' WHERE o.billing_email = u.email");
        Assert.That(org, Is.EqualTo(new[] { $"john-smith-{id.ToString()[..8]}|John's Organization|John.Smith@x.io|true" }));

        var token = await GoTrueAuth.StudioSessionAsync(_db, id);
        Assert.That(await GoTrueAuth.StudioAuthenticatesAsync(_db, token), Is.True, "Studio's lookup finds the new sign-up");
    }

    [Test]
    public async Task Updates_copy_address_confirmation_sign_in_ban_and_metadata_and_a_ban_locks_Studio_out()
    {
        var id = await _gotrue.SignUpAsync("ann@example.com");
        var token = await GoTrueAuth.StudioSessionAsync(_db, id);

        await _gotrue.ConfirmAsync(id);
        await _gotrue.SignInAsync(id);
        await _gotrue.ChangeEmailAsync(id, "ann.new@example.com");
        await _gotrue.ExecuteAsync("""UPDATE auth.users SET raw_user_meta_data = '{"theme":"dark"}' WHERE id = @id""", ("id", id));

        var user = await PlatformUserAsync(_db, id);
        Assert.That(user["email"], Is.EqualTo("ann.new@example.com"));
        Assert.That(user["email_confirmed_at"], Is.Not.Null);
        Assert.That(user["last_sign_in_at"], Is.Not.Null);
        Assert.That((string)user["metadata"]!, Does.Contain("dark"));
        Assert.That(await GoTrueAuth.StudioAuthenticatesAsync(_db, token), Is.True);

        await _gotrue.BanAsync(id);

        Assert.That((await PlatformUserAsync(_db, id))["banned_until"], Is.Not.Null);
        Assert.That(await GoTrueAuth.StudioAuthenticatesAsync(_db, token), Is.False, "Studio no longer finds a banned user");
        Assert.That(await OrgsOwnedAsync(_db, id), Is.EqualTo(1), "updates create no further organization");
    }

    [Test]
    public async Task A_soft_delete_marks_the_platform_user_deleted_without_the_address_and_locks_Studio_out()
    {
        var id = await _gotrue.SignUpAsync("gone@example.com");
        var token = await GoTrueAuth.StudioSessionAsync(_db, id);

        await _gotrue.SoftDeleteAsync(id);

        var user = await PlatformUserAsync(_db, id);
        Assert.That(user["deleted_at"], Is.Not.Null);
        Assert.That(user["email"], Is.Not.EqualTo("gone@example.com"), "the address GoTrue scrambled away is not kept");
        Assert.That(await _db.ScalarAsync<long>("SELECT count(*) FROM platform.users WHERE email = 'gone@example.com'"), Is.Zero);
        Assert.That(await GoTrueAuth.StudioAuthenticatesAsync(_db, token), Is.False, "Studio no longer finds a deleted user");

        var again = await _gotrue.SignUpAsync("gone@example.com");
        Assert.That((await PlatformUserAsync(_db, again))["email"], Is.EqualTo("gone@example.com"), "the address is free for whoever registers it next");
    }

    [Test]
    public async Task A_hard_delete_soft_deletes_the_platform_user_and_keeps_its_organization()
    {
        var id = await _gotrue.SignUpAsync("hard@example.com");
        var token = await GoTrueAuth.StudioSessionAsync(_db, id);

        await _gotrue.HardDeleteAsync(id);

        Assert.That((await PlatformUserAsync(_db, id))["deleted_at"], Is.Not.Null);
        Assert.That(await OrgsOwnedAsync(_db, id), Is.EqualTo(1));
        Assert.That(await GoTrueAuth.StudioAuthenticatesAsync(_db, token), Is.False);
    }

    [Test]
    public async Task An_address_platform_users_rejects_never_fails_GoTrue_is_listed_and_is_mirrored_by_the_next_write_that_fixes_it()
    {
        var id = await _gotrue.SignUpAsync("o'brien@example.com");

        Assert.That(await _db.ScalarAsync<long>($"SELECT count(*) FROM auth.users WHERE id = '{id}'"), Is.EqualTo(1), "GoTrue's sign-up went through");
        Assert.That(await _db.ScalarAsync<long>($"SELECT count(*) FROM platform.users WHERE id = '{id}'"), Is.Zero);
        Assert.That(await FailureAsync(_db, id), Does.Contain("users_email_format"));

        await _gotrue.SignInAsync(id);
        Assert.That(await _db.ScalarAsync<long>($"SELECT attempts FROM {M009_MirrorGoTrueUsers.FailuresTable} WHERE user_id = '{id}'"), Is.EqualTo(2),
            "each write retries and counts");

        await _gotrue.ChangeEmailAsync(id, "obrien@example.com");

        Assert.That((await PlatformUserAsync(_db, id))["email"], Is.EqualTo("obrien@example.com"));
        Assert.That(await OrgsOwnedAsync(_db, id), Is.EqualTo(1));
        Assert.That(await FailureAsync(_db, id), Is.Null, "no longer listed once mirrored");
    }

    [Test]
    public async Task A_phone_or_anonymous_sign_up_without_address_is_listed_and_mirrored_once_it_has_one()
    {
        var phone = await _gotrue.SignUpAsync(null, phone: "15551234567");
        var anonymous = await _gotrue.SignUpAsync(null);

        Assert.That(await _db.ScalarAsync<long>($"SELECT count(*) FROM platform.users WHERE id IN ('{phone}', '{anonymous}')"), Is.Zero);
        Assert.That(await FailureAsync(_db, phone), Does.Contain("no e-mail address"));
        Assert.That(await FailureAsync(_db, anonymous), Does.Contain("no e-mail address"));

        await _gotrue.ChangeEmailAsync(phone, "phone.user@example.com");

        Assert.That((await PlatformUserAsync(_db, phone))["email"], Is.EqualTo("phone.user@example.com"));
        Assert.That(await OrgsOwnedAsync(_db, phone), Is.EqualTo(1));
        Assert.That(await FailureAsync(_db, phone), Is.Null);
    }

    [Test]
    public async Task An_address_an_existing_platform_user_has_is_never_attached_to_that_user()
    {
        var existing = Guid.NewGuid();
        await _db.ExecuteAsync($"INSERT INTO platform.users (id, email, first_name) VALUES ('{existing}', 'taken@example.com', 'Owner')");
        var before = await PlatformUserAsync(_db, existing);

        var id = await _gotrue.SignUpAsync("taken@example.com", """{"first_name":"Intruder"}""");

        Assert.That(await _db.ScalarAsync<long>($"SELECT count(*) FROM platform.users WHERE id = '{id}'"), Is.Zero);
        Assert.That(await PlatformUserAsync(_db, existing), Is.EqualTo(before), "the existing platform user is untouched");
        Assert.That(await OrgsOwnedAsync(_db, existing), Is.Zero);
        Assert.That(await FailureAsync(_db, id), Does.Contain("already belongs to platform user " + existing));

        // Someone frees the address (say the operator renames the old account); the next GoTrue write mirrors.
        await _db.ExecuteAsync($"UPDATE platform.users SET email = 'old.owner@example.com' WHERE id = '{existing}'");
        await _gotrue.SignInAsync(id);

        Assert.That((await PlatformUserAsync(_db, id))["email"], Is.EqualTo("taken@example.com"));
        Assert.That(await FailureAsync(_db, id), Is.Null);
    }

    [Test]
    public async Task An_address_change_to_a_taken_address_still_mirrors_the_ban_and_lists_the_address()
    {
        await _db.ExecuteAsync($"INSERT INTO platform.users (id, email) VALUES ('{Guid.NewGuid()}', 'other@example.com')");
        var id = await _gotrue.SignUpAsync("me@example.com");

        await _gotrue.ExecuteAsync("UPDATE auth.users SET email = 'other@example.com', banned_until = now() + interval '1 day' WHERE id = @id", ("id", id));

        var user = await PlatformUserAsync(_db, id);
        Assert.That(user["email"], Is.EqualTo("me@example.com"));
        Assert.That(user["banned_until"], Is.Not.Null, "the ban reaches Studio although the address could not");
        Assert.That(await FailureAsync(_db, id), Does.Contain("users_email_key"));
    }

    [TestCase("JOHN.SMITH@EXAMPLE.COM", "john-smith-")]
    [TestCase("+_%.-@example.com", "user-")]
    [TestCase("-leading.and.trailing-@example.com", "leading-and-trailing-")]
    [TestCase("a@example.com", "a-")]
    public async Task Every_default_org_slug_satisfies_the_slug_check(string email, string prefix)
    {
        var id = await _gotrue.SignUpAsync(email);

        Assert.That(await FailureAsync(_db, id), Is.Null);
        var slug = await _db.ScalarAsync<string>($"SELECT o.slug FROM platform.organizations o JOIN platform.organization_members m ON m.organization_id = o.id WHERE m.user_id = '{id}'");
        Assert.That(slug, Is.EqualTo(prefix + id.ToString()[..8]));
    }

    [Test]
    public async Task A_very_long_local_part_gives_a_slug_within_the_column_and_the_check()
    {
        var email = new string('x', 199) + ".-" + new string('y', 40) + "@example.com";

        var id = await _gotrue.SignUpAsync(email);

        Assert.That(await FailureAsync(_db, id), Is.Null);
        var slug = await _db.ScalarAsync<string>($"SELECT o.slug FROM platform.organizations o JOIN platform.organization_members m ON m.organization_id = o.id WHERE m.user_id = '{id}'");
        Assert.That(slug, Does.Match("^[a-z0-9][a-z0-9-]*[a-z0-9]$"));
        Assert.That(slug.Length, Is.LessThanOrEqualTo(255));
    }

    [Test]
    public async Task A_taken_slug_is_retried_with_another_suffix_and_the_user_still_gets_exactly_one_org()
    {
        var id = Guid.NewGuid();
        await _db.ExecuteAsync($"INSERT INTO platform.organizations (name, slug) VALUES ('Squatter', 'john-smith-{id.ToString()[..8]}')");

        await _gotrue.SignUpAsync("john.smith@example.com", id: id);

        Assert.That(await OrgsOwnedAsync(_db, id), Is.EqualTo(1));
        var slug = await _db.ScalarAsync<string>($"SELECT o.slug FROM platform.organizations o JOIN platform.organization_members m ON m.organization_id = o.id WHERE m.user_id = '{id}'");
        Assert.That(slug, Does.StartWith("john-smith-").And.Not.EqualTo($"john-smith-{id.ToString()[..8]}"));
    }

    [Test]
    public async Task The_functions_live_in_platform_pin_search_path_only_the_trigger_is_security_definer_and_PUBLIC_can_execute_none()
    {
        var rows = await _db.ColumnAsync("""
            SELECT p.oid::regprocedure::text || '|' || p.prosecdef || '|' || coalesce(array_to_string(p.proconfig, ','), '') || '|' ||
                   has_function_privilege('public', p.oid, 'EXECUTE')
            FROM pg_proc p WHERE p.proname LIKE 'gotrue%' ORDER BY 1
            """);

        Assert.That(rows, Has.Count.EqualTo(M009_MirrorGoTrueUsers.Functions.Count));
        Assert.That(rows, Has.All.StartWith("platform."));
        Assert.That(rows, Has.All.Contains("|search_path=pg_catalog|false"));
        Assert.That(rows.Where(r => r.Contains("|true|", StringComparison.Ordinal)), Is.EqualTo(new[] { "platform.gotrue_sync_trigger()|true|search_path=pg_catalog|false" }));
        Assert.That(await _db.ScalarAsync<bool>($"SELECT has_table_privilege('public', '{M009_MirrorGoTrueUsers.FailuresTable}', 'SELECT')"), Is.False);
        Assert.That(await _db.ScalarAsync<bool>("SELECT to_regprocedure('public.sync_auth_user_to_platform()') IS NULL AND to_regprocedure('public.create_default_org_for_user()') IS NULL"), Is.True);
        Assert.That(await _db.ScalarAsync<bool>($"SELECT has_schema_privilege('{_gotrue.Role}', 'platform', 'USAGE') AND has_table_privilege('{_gotrue.Role}', 'platform.users', 'INSERT')"), Is.False,
            "GoTrue's role has no rights on platform; its sign-ups above were mirrored through the SECURITY DEFINER trigger alone");
    }

    [Test]
    public async Task GoTrue_writes_go_through_even_when_the_mirror_itself_is_broken()
    {
        await _db.ExecuteAsync($"ALTER TABLE {M009_MirrorGoTrueUsers.FailuresTable} RENAME TO broken_by_hand");

        var id = await _gotrue.SignUpAsync("o'brien@example.com");
        await _gotrue.SignInAsync(id);
        await _gotrue.HardDeleteAsync(id);

        Assert.That(await _db.ScalarAsync<long>($"SELECT count(*) FROM platform.users WHERE id = '{id}'"), Is.Zero);
        Assert.That(await _db.ScalarAsync<long>("SELECT count(*) FROM auth.users"), Is.Zero, "every GoTrue write, the delete included, succeeded");
    }

    [Test]
    public async Task The_documented_retry_statement_mirrors_every_listed_user_once_the_cause_is_fixed()
    {
        await _db.ExecuteAsync($"INSERT INTO platform.users (id, email) VALUES ('{Guid.NewGuid()}', 'shared@example.com')");
        var id = await _gotrue.SignUpAsync("shared@example.com");
        Assert.That(await FailureAsync(_db, id), Is.Not.Null);

        await _db.ExecuteAsync("UPDATE platform.users SET email = 'renamed@example.com' WHERE email = 'shared@example.com'");
        await _db.ExecuteAsync($"SELECT platform.gotrue_sync_user_by_id(user_id) FROM {M009_MirrorGoTrueUsers.FailuresTable}");

        Assert.That((await PlatformUserAsync(_db, id))["email"], Is.EqualTo("shared@example.com"));
        Assert.That(await OrgsOwnedAsync(_db, id), Is.EqualTo(1));
        Assert.That(await _db.ScalarAsync<long>($"SELECT count(*) FROM {M009_MirrorGoTrueUsers.FailuresTable}"), Is.Zero);
    }
}
