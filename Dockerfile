# syntax=docker/dockerfile:1
# Build: the .NET 10 SDK image. Run: the .NET 10 runtime on Ubuntu 24.04 (noble) — Microsoft ships no Debian
# images for .NET 10; noble is the Debian-family default (apt, glibc).
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/OgelBase.Migrations/OgelBase.Migrations.csproj src/OgelBase.Migrations/
COPY src/OgelBase.Migrations.Runner/OgelBase.Migrations.Runner.csproj src/OgelBase.Migrations.Runner/
RUN dotnet restore src/OgelBase.Migrations.Runner/OgelBase.Migrations.Runner.csproj
COPY src/ src/
RUN dotnet publish src/OgelBase.Migrations.Runner/OgelBase.Migrations.Runner.csproj -c Release --no-restore -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0-noble AS run
WORKDIR /app
COPY --from=build /app ./
# The image's built-in unprivileged user; the job needs no file system access beyond /app.
USER $APP_UID
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
# No default DATABASE_URL here, ever: an unset one makes the runner exit 2 instead of migrating a guess.
ENTRYPOINT ["/app/ogelbase-migrate"]
CMD ["migrate", "up"]
