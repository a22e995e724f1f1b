# Build: the .NET 10 SDK image. Run: Microsoft's chiseled .NET 10 runtime (Ubuntu 24.04 slices: glibc, libstdc++,
# OpenSSL, CA certificates and the runtime; no shell, no package manager, non-root user 1654 by default). The runner
# needs nothing else: globalization is invariant (no ICU), and GSS encryption is off unless a URL asks for it (no
# Kerberos). scripts/image builds and checks this file as it is; docs/deploy.md states the size.
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/OgelBase.Migrations/OgelBase.Migrations.csproj src/OgelBase.Migrations/
COPY src/OgelBase.Migrations.Runner/OgelBase.Migrations.Runner.csproj src/OgelBase.Migrations.Runner/
RUN dotnet restore src/OgelBase.Migrations.Runner/OgelBase.Migrations.Runner.csproj
COPY src/ src/
# English only: the dependencies' 13 satellite-language folders would be dead weight (the runner's messages are English).
RUN dotnet publish src/OgelBase.Migrations.Runner/OgelBase.Migrations.Runner.csproj -c Release --no-restore -o /app \
    -p:SatelliteResourceLanguages=en

FROM mcr.microsoft.com/dotnet/runtime:10.0-noble-chiseled AS run
WORKDIR /app
COPY --from=build /app ./
# The image's built-in unprivileged user (chiseled images default to it; stated so the intent survives a base change).
USER $APP_UID
# No default DATABASE_URL here, ever: an unset one makes the runner exit 2 instead of migrating a guess.
ENTRYPOINT ["/app/ogelbase-migrate"]
CMD ["migrate", "up"]
