<#
.SYNOPSIS
Runs the Azmi Pester suite (every *.Tests.ps1 beside this file) with the Pester that
scripts/setup-pwsh.sh put in .psmodules/, and writes {passed, failed, skipped} as JSON.

.EXAMPLE
dotnet pwsh -NoProfile -File test/powershell/Invoke-AzmiPester.ps1 -StatsFile /tmp/stats.json
#>
param(
    [string] $StatsFile,
    [string[]] $Path = @($PSScriptRoot),
    [string] $PesterVersion = '5.7.1',
    [ValidateSet('None', 'Normal', 'Detailed', 'Diagnostic')] [string] $Verbosity = 'Detailed'
)
$ErrorActionPreference = 'Stop'
if ([Console]::IsOutputRedirected) { $PSStyle.OutputRendering = 'PlainText' }
$root = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
$modules = Join-Path $root '.psmodules'
$env:PSModulePath = $modules + [System.IO.Path]::PathSeparator + $env:PSModulePath
Import-Module (Join-Path $modules "Pester/$PesterVersion/Pester.psd1")

$config = New-PesterConfiguration
# pwsh -File passes 'a,b' as one string.
$config.Run.Path = @($Path | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$config.Run.PassThru = $true
$config.Output.Verbosity = $Verbosity
$result = Invoke-Pester -Configuration $config

# A file that fails to load, or a failing BeforeAll, fails its tests without counting them.
$failed = $result.FailedCount + $result.FailedContainersCount + $result.FailedBlocksCount
$stats = [ordered]@{ passed = $result.PassedCount; failed = $failed; skipped = $result.SkippedCount + $result.NotRunCount }
if ($StatsFile) { $stats | ConvertTo-Json -Compress | Set-Content -LiteralPath $StatsFile -Encoding utf8NoBOM }
"pester: $($stats.passed) passed, $($stats.failed) failed, $($stats.skipped) skipped"
exit ([int]($failed -gt 0))
