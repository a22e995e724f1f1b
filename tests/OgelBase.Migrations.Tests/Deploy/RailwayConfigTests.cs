using System.Text.Json;
using System.Text.RegularExpressions;

namespace OgelBase.Migrations.Tests.Deploy;

/// <summary>
/// The repository's railway.json and the app service's example in docs/deploy.md, against the fields of Railway's
/// config-as-code schema (https://railway.com/railway.schema.json): a misspelt key is silently ignored by Railway,
/// and a startCommand that repeats the Dockerfile's ENTRYPOINT and CMD silently overrides the next change to them.
/// </summary>
public sealed partial class RailwayConfigTests
{
    private static readonly string[] TopLevelKeys = ["$schema", "build", "deploy", "environments"];

    private static readonly string[] BuildKeys =
    [
        "builder", "dockerfilePath", "watchPatterns", "buildCommand", "buildEnvironment", "railpackVersion",
        "nixpacksConfigPath", "nixpacksPlan", "nixpacksVersion",
    ];

    private static readonly string[] DeployKeys =
    [
        "startCommand", "preDeployCommand", "restartPolicyType", "restartPolicyMaxRetries", "numReplicas",
        "healthcheckPath", "healthcheckTimeout", "cronSchedule", "sleepApplication", "region", "multiRegionConfig",
        "overlapSeconds", "drainingSeconds", "runtime", "limitOverride", "requiredMountPath", "ipv6EgressEnabled",
        "useLegacyStacker",
    ];

    private static readonly string[] Builders = ["RAILPACK", "DOCKERFILE", "NIXPACKS"];
    private static readonly string[] RestartPolicies = ["NEVER", "ON_FAILURE", "ALWAYS"];

    private static string Repo(string relative) => Path.Combine(RepositoryRoot.Path, relative);

    /// <summary>Every problem found in one Railway config, so a failure names them all.</summary>
    private static List<string> Problems(JsonElement config)
    {
        var problems = new List<string>();
        if (config.ValueKind != JsonValueKind.Object)
        {
            return ["the document is not a JSON object"];
        }

        problems.AddRange(UnknownKeys(config, TopLevelKeys, ""));
        if (config.TryGetProperty("build", out var build))
        {
            problems.AddRange(UnknownKeys(build, BuildKeys, "build."));
            if (build.TryGetProperty("builder", out var builder) && !Builders.Contains(builder.GetString()))
            {
                problems.Add($"build.builder '{builder}' is not one of {string.Join(", ", Builders)}");
            }
        }

        if (config.TryGetProperty("deploy", out var deploy))
        {
            problems.AddRange(UnknownKeys(deploy, DeployKeys, "deploy."));
            if (deploy.TryGetProperty("restartPolicyType", out var policy) && !RestartPolicies.Contains(policy.GetString()))
            {
                problems.Add($"deploy.restartPolicyType '{policy}' is not one of {string.Join(", ", RestartPolicies)}");
            }

            if (deploy.TryGetProperty("preDeployCommand", out var pre) && !IsCommand(pre))
            {
                problems.Add("deploy.preDeployCommand is neither a non-empty string nor an array of non-empty strings");
            }

            if (deploy.TryGetProperty("startCommand", out var start) && start.ValueKind != JsonValueKind.String)
            {
                problems.Add("deploy.startCommand is not a string");
            }
        }

        return problems;
    }

    private static IEnumerable<string> UnknownKeys(JsonElement section, string[] known, string prefix) =>
        section.ValueKind != JsonValueKind.Object
            ? [$"{prefix.TrimEnd('.')} is not an object"]
            : section.EnumerateObject().Where(p => !known.Contains(p.Name)).Select(p => $"unknown key '{prefix}{p.Name}'");

    private static bool IsCommand(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => !string.IsNullOrWhiteSpace(value.GetString()),
        JsonValueKind.Array => value.GetArrayLength() > 0 &&
                               value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(e.GetString())),
        _ => false,
    };

    /// <summary>The exec-form JSON array of the Dockerfile's last instruction of that name.</summary>
    private static string[] DockerfileExecForm(string instruction)
    {
        var line = File.ReadAllLines(Repo("Dockerfile")).Last(l => l.StartsWith(instruction + " ", StringComparison.Ordinal));
        return JsonSerializer.Deserialize<string[]>(line[(instruction.Length + 1)..]) ?? [];
    }

    [Test]
    public void The_repository_railway_json_has_only_Railway_fields_and_builds_the_Dockerfile()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Repo("railway.json")));
        var root = config.RootElement;
        Assert.That(Problems(root), Is.Empty);
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("build").GetProperty("builder").GetString(), Is.EqualTo("DOCKERFILE"));
            var dockerfile = root.GetProperty("build").GetProperty("dockerfilePath").GetString();
            Assert.That(File.Exists(Repo(dockerfile!)), Is.True, $"build.dockerfilePath '{dockerfile}' exists");
            // A one-shot job: a failed migration must not be retried in a loop.
            Assert.That(root.GetProperty("deploy").GetProperty("restartPolicyType").GetString(), Is.EqualTo("NEVER"));
        });
    }

    [Test]
    public void The_repository_railway_json_does_not_repeat_the_Dockerfile_entrypoint_and_command()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Repo("railway.json")));
        if (!config.RootElement.GetProperty("deploy").TryGetProperty("startCommand", out var start))
        {
            Assert.Pass("no startCommand: the Dockerfile's ENTRYPOINT and CMD run");
        }

        var imageCommand = string.Join(' ', DockerfileExecForm("ENTRYPOINT").Concat(DockerfileExecForm("CMD")));
        Assert.That(Regex.Replace(start.GetString() ?? "", @"\s+", " ").Trim(), Is.Not.EqualTo(imageCommand),
            "startCommand repeats ENTRYPOINT + CMD and would silently override a change to them");
    }

    [Test]
    public void The_dockerfile_runs_the_runner_by_default_so_railway_needs_no_start_command()
    {
        Assert.Multiple(() =>
        {
            Assert.That(DockerfileExecForm("ENTRYPOINT"), Is.EqualTo(new[] { "/app/ogelbase-migrate" }));
            Assert.That(DockerfileExecForm("CMD"), Is.EqualTo(new[] { "migrate", "up" }));
        });
    }

    [Test]
    public void The_app_service_example_in_docs_deploy_md_is_a_valid_Railway_config_with_a_pre_deploy_gate()
    {
        var examples = JsonBlock().Matches(File.ReadAllText(Repo("docs/deploy.md")))
            .Select(m => m.Groups["json"].Value)
            .Where(json => json.Contains("\"preDeployCommand\"", StringComparison.Ordinal))
            .ToList();
        Assert.That(examples, Is.Not.Empty, "docs/deploy.md has a ```json block with deploy.preDeployCommand");
        foreach (var example in examples)
        {
            using var config = JsonDocument.Parse(example);
            var root = config.RootElement;
            Assert.That(Problems(root), Is.Empty, example);
            var pre = root.GetProperty("deploy").GetProperty("preDeployCommand");
            var command = pre.ValueKind == JsonValueKind.Array ? string.Join(' ', pre.EnumerateArray().Select(e => e.GetString())) : pre.GetString();
            Assert.That(command, Does.Contain("ogelbase-migrate").And.Contain("migrate up"), "the gate runs the bundle's migrate up");
        }
    }

    [Test]
    public void The_checker_rejects_what_Railway_would_silently_ignore_or_refuse()
    {
        using var bad = JsonDocument.Parse("""
            { "biuld": {}, "build": { "builder": "DOCKER", "dockerfile": "x" },
              "deploy": { "restartPolicy": "NEVER", "restartPolicyType": "never", "preDeployCommand": [""] } }
            """);
        Assert.That(Problems(bad.RootElement), Has.Count.EqualTo(6), string.Join("; ", Problems(bad.RootElement)));
    }

    [GeneratedRegex("```json\\s*\\n(?<json>.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
