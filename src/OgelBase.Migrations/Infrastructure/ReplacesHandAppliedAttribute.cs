namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// The migration ports an original script that may have been applied by hand, but its Up replaces what that
/// script left rather than adopting it (the original was defective). <c>baseline</c> reports the original as
/// found (the version's presence probe) and never records the version, so the next <c>migrate up</c> runs the
/// Up, which removes the original's objects and puts the corrected ones in place.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ReplacesHandAppliedAttribute(string advice) : Attribute
{
    /// <summary>What the operator should do about it, printed by baseline next to the finding.</summary>
    public string Advice { get; } = advice;
}
