namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// Something outside this tool's schema a migration needs before it can run (say GoTrue's <c>auth.users</c>).
/// The runner evaluates <see cref="Condition"/> for every migration it is about to apply, before applying any,
/// and refuses the whole run with <see cref="Message"/> when one is false: nothing changed, exit 1.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class PreconditionAttribute(string condition, string message) : Attribute
{
    /// <summary>A boolean SQL expression, true when the precondition holds; reads the catalog only.</summary>
    public string Condition { get; } = condition;

    public string Message { get; } = message;
}
