#!/usr/bin/env bash
# usage: nuget-download.sh <package id> <version> <folder>
# Downloads one NuGet package (no project needed, nothing built) into
# <folder>/<id, lower case>/<version>/ with `dotnet restore` of a throwaway
# project's <PackageDownload>, and prints that package folder. Shared by the
# setup scripts that bring Pester and crossgen2.
set -euo pipefail
id=$1 version=$2 folder=$3
project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
cat >"$project/download.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="$id" Version="[$version]" /></ItemGroup>
</Project>
XML
DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet restore "$project/download.csproj" --packages "$folder" >/dev/null
echo "$folder/$(echo "$id" | tr '[:upper:]' '[:lower:]')/$version"
