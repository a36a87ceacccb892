#!/usr/bin/env bash
# A ReadyToRun copy of the pinned pwsh, for benchmarks: .pwsh-r2r/<version>/.
#
# Why: the pwsh that `dotnet tool restore` brings (.config/dotnet-tools.json)
# is the framework-dependent tool package, whose PowerShell assemblies are IL
# only, so a fresh session JIT-compiles every engine method it touches
# (`pwsh -Command 0` takes about a second here). The pwsh users install
# (Microsoft's packages and the Cloud Shell image) is built with ReadyToRun
# code (PowerShell/PowerShell#12361). This script compiles the very same
# assemblies of the same pinned version ahead of time with crossgen2 for the
# .NET runtime installed here, so bench/powershell.ps1 can show the fresh
# session both ways. The tool itself is left untouched; tests keep using it.
#
# Idempotent. Needs the .NET SDK and NuGet (crossgen2 comes from the
# microsoft.netcore.app.crossgen2.<rid> package of the runtime's version).
# Prints the path of the ReadyToRun pwsh.dll on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

command -v dotnet >/dev/null || { echo "setup-pwsh-r2r: the .NET SDK (dotnet) is required" >&2; exit 1; }
dotnet tool restore >/dev/null
# Its version, where it lives, the runtime it runs on, and this machine's runtime identifier (one pwsh start).
read -r version pshome runtime rid < <(dotnet pwsh -NoProfile -NonInteractive -Command \
  '"{0} {1} {2} {3}" -f $PSVersionTable.PSVersion, $PSHOME, [Environment]::Version, [System.Runtime.InteropServices.RuntimeInformation]::RuntimeIdentifier')
dest=".pwsh-r2r/$version"
stamp="$dest/.ready-to-run-$runtime"
if [ -f "$stamp" ]; then
  echo "setup-pwsh-r2r: up to date ($dest, .NET $runtime)" >&2
  echo "$PWD/$dest/unix/pwsh.dll"
  exit 0
fi

framework=$(dotnet --list-runtimes | awk -v v="$runtime" '$1 == "Microsoft.NETCore.App" && $2 == v { gsub(/[\[\]]/, "", $3); print $3 "/" $2; exit }')
[ -d "$framework" ] || { echo "setup-pwsh-r2r: no Microsoft.NETCore.App $runtime under dotnet --list-runtimes" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crossgen2="$(bash scripts/nuget-download.sh "microsoft.netcore.app.crossgen2.$rid" "$runtime" "$work/packages")/tools/crossgen2"
[ -x "$crossgen2" ] || { echo "setup-pwsh-r2r: the crossgen2 package has no tools/crossgen2" >&2; exit 1; }

# The whole tool folder (shim, runtimeconfig, modules, both platforms' trees),
# then every IL assembly of the unix tree compiled in place. An assembly
# crossgen2 declines (a reference-only facade, one already precompiled) stays IL.
rm -rf "$dest"
mkdir -p "$dest"
cp -R "$(dirname "$pshome")/." "$dest/"
# The tool package's non-Windows tree is unix/ (its win/ tree is left as it is).
case "${rid%%-*}" in
  osx) targetos=osx ;;
  linux | linux-musl | alpine*) targetos=linux ;;
  *) echo "setup-pwsh-r2r: runtime identifier $rid is not Linux or macOS" >&2; exit 1 ;;
esac
compiled=0
kept=0
for dll in "$dest"/unix/*.dll; do
  if "$crossgen2" -r "$framework/*.dll" -r "$dest/unix/*.dll" --targetos "$targetos" --targetarch "${rid##*-}" -O \
       "$dll" -o "$work/out.dll" >/dev/null 2>&1; then
    mv "$work/out.dll" "$dll"
    compiled=$((compiled + 1))
  else
    kept=$((kept + 1))
  fi
done
touch "$stamp"
echo "setup-pwsh-r2r: pwsh $version in $dest: $compiled assemblies compiled ReadyToRun for .NET $runtime ($rid), $kept left as they were" >&2
echo "$PWD/$dest/unix/pwsh.dll"
