using OgelBase.Migrations.Runner;

return await RunnerApp.RunProcessAsync(args);
