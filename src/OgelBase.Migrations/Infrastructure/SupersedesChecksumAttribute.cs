namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// The migration was rewritten after an earlier build applied it, in a shape that executes differently but leaves
/// exactly what the earlier shape left (catalog and data): <see cref="Checksum"/> is what that build recorded for
/// it. The runner takes that recorded checksum for this same migration instead of refusing the run, records the
/// new one and says so in one line. A reviewed declaration, not a silencer: an edit that changes what the
/// migration leaves is a new migration, and any other recorded checksum still refuses.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = true)]
public sealed class SupersedesChecksumAttribute(string checksum, string reason) : Attribute
{
    /// <summary>The checksum an earlier build recorded (version_info.checksum), 64 lower-case hex digits.</summary>
    public string Checksum { get; } = checksum;

    /// <summary>What changed in the shape and why what it leaves did not.</summary>
    public string Reason { get; } = reason;
}
