using OgelBase.Migrations.Runner;
using OgelBase.Migrations.TestRunner;

// The real runner, plus the pauses its environment asks for (TestPauses): what the crash, signal and concurrency
// tests launch when they need a migration slowed down in a process of its own.
return await RunnerApp.RunProcessAsync(args, TestPauses.FromEnvironment(Environment.GetEnvironmentVariable).Install);
