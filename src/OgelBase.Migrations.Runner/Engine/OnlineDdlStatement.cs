using System.Text.RegularExpressions;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>
/// What <see cref="OnlineDdl.Run"/> reads from the text of one statement of an online migration: the label its log
/// lines carry, whether PostgreSQL refuses to run it inside a transaction block, the index a concurrent build
/// creates (an INVALID leftover of that name is dropped before each attempt) and the constraint a lone
/// <c>ADD CONSTRAINT</c> adds (PostgreSQL has no IF NOT EXISTS for it). Names are recognised unquoted only; a
/// statement it recognises nothing in is simply run in one short transaction.
/// </summary>
public sealed partial class OnlineDdlStatement
{
    private const int LabelLength = 80;
    private const string Name = "[a-z_][a-z0-9_$]*";

    public OnlineDdlStatement(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        Sql = sql;
        var text = LeadingComments().Replace(sql, "");
        Label = Shorten(string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)));
        OutsideTransaction = Concurrently().IsMatch(text);
        if (ConcurrentBuild().Match(text) is { Success: true } build)
        {
            BuiltIndex = (build.Groups["index"].Value, build.Groups["table"].Value);
        }

        if (AddConstraint().Match(text) is { Success: true } add && !HasSecondAction(text))
        {
            AddedConstraint = add.Groups["name"].Value;
        }
    }

    public string Sql { get; }

    /// <summary>The statement on one line, cut after a word within 80 characters: what the log and a failure call this step.</summary>
    public string Label { get; }

    /// <summary>CREATE INDEX CONCURRENTLY or DROP INDEX CONCURRENTLY: refused inside a transaction block.</summary>
    public bool OutsideTransaction { get; }

    /// <summary>The index a <c>CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON table</c> builds.</summary>
    public (string Index, string Table)? BuiltIndex { get; }

    /// <summary>The constraint an <c>ALTER TABLE ... ADD CONSTRAINT name ...</c> with no other action adds.</summary>
    public string? AddedConstraint { get; }

    public override string ToString() => Label;

    private static string Shorten(string line)
    {
        if (line.Length <= LabelLength)
        {
            return line;
        }

        var cut = line.LastIndexOf(' ', LabelLength);
        return line[..(cut > 0 ? cut : LabelLength)] + " …";
    }

    /// <summary>A comma or semicolon outside parentheses and quotes: the ALTER TABLE does more than add one constraint.</summary>
    private static bool HasSecondAction(string text)
    {
        var depth = 0;
        char? quote = null;
        foreach (var c in text.TrimEnd().TrimEnd(';'))
        {
            if (quote is not null)
            {
                quote = c == quote ? null : quote;
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == '(')
            {
                depth++;
            }
            else if (c == ')')
            {
                depth--;
            }
            else if (c is ',' or ';' && depth == 0)
            {
                return true;
            }
        }

        return false;
    }

    [GeneratedRegex(@"\A(?:\s+|--[^\n]*(?:\n|\z)|/\*.*?\*/)*", RegexOptions.Singleline)]
    private static partial Regex LeadingComments();

    [GeneratedRegex(@"\A(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX)\s+CONCURRENTLY\b", RegexOptions.IgnoreCase)]
    private static partial Regex Concurrently();

    [GeneratedRegex(@"\ACREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(?<index>" + Name + @")\s+ON\s+(?:ONLY\s+)?(?<table>" + Name + @"(?:\." + Name + @")?)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ConcurrentBuild();

    [GeneratedRegex(@"\AALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?" + Name + @"(?:\." + Name + @")?\s+ADD\s+CONSTRAINT\s+(?<name>" + Name + @")\s", RegexOptions.IgnoreCase)]
    private static partial Regex AddConstraint();
}
