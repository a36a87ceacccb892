#!/usr/bin/env bash
# Rebuild the shipped core of the PowerShell module, module/Azmi/lib/Azmi.Core.dll
# (IL, net8.0, loads in every pwsh 7.4+), from module/src. Run it after
# editing module/src/AzmiCore.cs and commit the DLL with the change: users get
# the core without a .NET SDK, and test/powershell/Core.Tests.ps1 fails while
# the DLL was built from another AzmiCore.cs. Needs the .NET SDK and NuGet
# (PowerShellStandard.Library, the .NET 8 reference pack).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
command -v dotnet >/dev/null || { echo "build-pwsh-core: the .NET SDK (dotnet) is required" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet build module/src/Azmi.Core.csproj -c Release -o "$out" -p:ContinuousIntegrationBuild=true >/dev/null
mkdir -p module/Azmi/lib
cp "$out/Azmi.Core.dll" module/Azmi/lib/Azmi.Core.dll
echo "build-pwsh-core: module/Azmi/lib/Azmi.Core.dll rebuilt from module/src/AzmiCore.cs"
