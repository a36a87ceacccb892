#!/usr/bin/env bash
# Make the third-party reference clients of test/clients ready on a fresh machine:
#  - Debian's python3-azure (azure.identity 1.13, run with /usr/bin/python3) and
#    azure-cli (az 2.45) from apt;
#  - the .NET Azure.Identity console project restored from NuGet and built
#    (Release), so the mocha specs only run the built dll.
# Idempotent: does nothing that is already done. Reaches only Debian and NuGet.
# (Never `az --version`/`az version` here: they ask GitHub for the latest release.)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
/usr/bin/python3 -c 'import azure.identity' 2>/dev/null || need_apt+=(python3-azure)
[ -x /usr/bin/az ] || need_apt+=(azure-cli)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v ip >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-clients: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

command -v dotnet >/dev/null || { echo "setup-clients: the .NET SDK (dotnet) is required" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
project=test/clients/dotnet/AzmiClient.csproj
dotnet build "$project" -c Release --nologo -v quiet >/dev/null

echo "setup-clients: python azure.identity $(/usr/bin/python3 -c 'import azure.identity as i; print(i.__version__)')," \
  "az $(/usr/bin/python3 -c 'from azure.cli.core import __version__ as v; print(v)')," \
  "Azure.Identity (.NET) built in test/clients/dotnet/bin/Release"
