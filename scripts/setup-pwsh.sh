#!/usr/bin/env bash
# Make PowerShell and Pester available for the Pester suite, on a fresh machine:
#  - pwsh 7.6.9 is pinned in .config/dotnet-tools.json; `dotnet tool restore` brings it.
#  - Pester comes from NuGet as a package: a throwaway project restores it with
#    <PackageDownload>, and its contents are copied to .psmodules/Pester/<ver>,
#    which scripts/test-pwsh.js puts on PSModulePath.
# Idempotent: does nothing that is already done. Needs the .NET SDK and NuGet.
set -euo pipefail
cd "$(dirname "$0")/.."

PESTER_VERSION="${PESTER_VERSION:-5.7.1}"
dest=".psmodules/Pester/$PESTER_VERSION"

command -v dotnet >/dev/null || { echo "setup-pwsh: the .NET SDK (dotnet) is required" >&2; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet tool restore >/dev/null
dotnet pwsh -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' >/dev/null

if [ ! -f "$dest/Pester.psd1" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  pkg=$(bash scripts/nuget-download.sh Pester "$PESTER_VERSION" "$work/packages")
  [ -f "$pkg/tools/Pester.psd1" ] || { echo "setup-pwsh: Pester $PESTER_VERSION package has no tools/Pester.psd1" >&2; exit 1; }
  mkdir -p "$dest"
  cp -R "$pkg/tools/." "$dest/"
fi
# The Azmi module's precompiled core (module/src -> module/Azmi/bin/Azmi.Core.dll):
# ReadyToRun for this machine's runtime identifier when the runtime pack can be
# restored, plain IL otherwise; preferred over the shipped lib/ build (IL),
# which scripts/build-pwsh-core.sh makes. AZMI_SKIP_CORE=1 skips it.
core="module/Azmi/bin/Azmi.Core.dll"
if [ "${AZMI_SKIP_CORE:-0}" != 1 ]; then
  rid=$(dotnet --info 2>/dev/null | awk '/^ *RID:/ {print $2; exit}')
  if [ -n "$rid" ] && dotnet publish module/src/Azmi.Core.csproj -c Release -r "$rid" --self-contained false \
       -p:PublishReadyToRun=true -o module/Azmi/bin >/dev/null 2>&1; then
    echo "setup-pwsh: built $core (ReadyToRun, $rid)"
  elif dotnet build module/src/Azmi.Core.csproj -c Release -o module/Azmi/bin >/dev/null; then
    echo "setup-pwsh: built $core (IL only: the ReadyToRun publish failed)"
  else
    echo "setup-pwsh: could not build $core; the module uses its script path" >&2
  fi
fi
echo "setup-pwsh: pwsh $(dotnet pwsh -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()'), Pester $PESTER_VERSION in $dest"
