using System.Data;
using Microsoft.Extensions.Logging;
using OgelBase.Migrations.Infrastructure;

namespace OgelBase.Migrations.Runner.Engine;

/// <summary>The online executor, as the code steps of online migrations reach it (<see cref="IOnlineSessions"/>).</summary>
public sealed class OnlineSessions(OnlineDdlOptions options, ILogger<OnlineDdl> logger, LockTracer tracer) : IOnlineSessions
{
    public IOnlineSession Open(IDbConnection connection, IDbTransaction? transaction) => new OnlineDdl(connection, transaction, options, logger, tracer);
}
