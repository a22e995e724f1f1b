namespace OgelBase.Migrations.Tests.Support;

/// <summary>What 009's mirror of GoTrue's auth.users left in schema platform for one user.</summary>
internal static class MirroredUsers
{
    /// <summary>The user's row of platform.users, column name to value; asserts that it exists.</summary>
    public static async Task<Dictionary<string, object?>> PlatformUserAsync(TestDatabase db, Guid id)
    {
        await using var connection = await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT * FROM platform.users WHERE id = @id", connection) { Parameters = { new("id", id) } };
        await using var reader = await command.ExecuteReaderAsync();
        Assert.That(await reader.ReadAsync(), Is.True, $"platform user {id} exists");
        return Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, i => reader.IsDBNull(i) ? null : reader.GetValue(i));
    }

    public static Task<long> OrgsOwnedAsync(TestDatabase db, Guid user) =>
        db.ScalarAsync<long>($"SELECT count(*) FROM platform.organization_members WHERE user_id = '{user}' AND role = 'owner'");

    /// <summary>Why the mirror listed the user as not mirrored, or null.</summary>
    public static Task<string?> FailureAsync(TestDatabase db, Guid user) =>
        db.ScalarAsync<string?>($"SELECT reason FROM {M009_MirrorGoTrueUsers.FailuresTable} WHERE user_id = '{user}'");
}
