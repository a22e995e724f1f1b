namespace OgelBase.Migrations.Infrastructure;

/// <summary>
/// A migration whose steps run as code (<c>Execute.WithConnection</c>: data seeds, backfills, online DDL) lists the SQL
/// those steps send. FluentMigrator cannot render code steps, so without this list the runner's checksum of the
/// migration could not see a change to them; with it, editing any of these statements after the migration was
/// applied makes <c>migrate up</c> refuse until the operator accepts the change (<c>--allow-changed</c>).
/// </summary>
public interface ICodeStepStatements
{
    IEnumerable<string> CodeStepStatements { get; }
}
