using OgelBase.Migrations.Runner;
using OgelBase.Migrations.TestRunner;

// The real runner, plus the pauses its environment asks for (TestPauses): what the crash, signal and concurrency
// tests launch when they need a migration slowed down, or held inside a transaction, in a process of its own.
var pauses = TestPauses.FromEnvironment(Environment.GetEnvironmentVariable);
pauses.Hold?.InstallInNpgsql(); // before the runner opens its first connection
return await RunnerApp.RunProcessAsync(args, pauses.Install);
