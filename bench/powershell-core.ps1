<#
.SYNOPSIS
A/B of the Azmi module's precompiled core (module/Azmi/bin/Azmi.Core.dll) against its script fallback
(AZMI_NO_CORE=1): Import-Module + first Get-AzManagedToken, and the first call after import, in fresh pwsh
sessions against the fake Cloud Shell endpoint on 127.0.0.1, interleaved so load elsewhere hits both alike.
Run: npm run build; scripts/setup-pwsh.sh; dotnet pwsh -NoProfile -File bench/powershell-core.ps1 [-FreshSessions 9]
Medians; load average printed. Never contacts anything but 127.0.0.1.
#>
param([int] $FreshSessions = 9)
$ErrorActionPreference = 'Stop'
$root = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '..'))
Import-Module (Join-Path $root 'test/powershell/support/Azmi.TestSupport.psm1') -Force
Reset-AzmiTestEnvironment
$fake = Start-CloudShellFake
$env:MSI_ENDPOINT = $fake.MsiEndpoint
function Get-Median([double[]] $Values) { $s = $Values | Sort-Object; $s[[int][math]::Floor($s.Count / 2)] }
function Get-LoadAverage { if (Test-Path /proc/loadavg) { ((Get-Content /proc/loadavg -Raw) -split ' ')[0..2] -join ' ' } else { 'n/a' } }
try {
    $modulePath = Join-Path $root 'module/Azmi/Azmi.psd1'
    if (-not (Test-Path (Join-Path $root 'module/Azmi/bin/Azmi.Core.dll'))) { throw 'module/Azmi/bin/Azmi.Core.dll is not built: run scripts/setup-pwsh.sh' }
    'load average at start: {0} ({1} cores)' -f (Get-LoadAverage), [System.Environment]::ProcessorCount
    $resource = 'https://vault.azure.net'
    $importFirst = "`$s = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$modulePath'; `$null = Get-AzManagedToken -Resource '$resource' -ErrorAction Stop; `$s.Elapsed.TotalMilliseconds; & (Get-Module Azmi) { `$script:Core }"
    $firstOnly = "Import-Module '$modulePath'; `$s = [Diagnostics.Stopwatch]::StartNew(); `$null = Get-AzManagedToken -Resource '$resource' -ErrorAction Stop; `$s.Elapsed.TotalMilliseconds; & (Get-Module Azmi) { `$script:Core }"
    $pwsh = [System.Environment]::ProcessPath
    [string[]] $prefix = if ((Split-Path $pwsh -Leaf) -like 'dotnet*') { Join-Path $PSHOME 'pwsh.dll' } else { @() }
    $lists = [ordered]@{}
    foreach ($name in 'importCore', 'importScript', 'callCore', 'callScript') { $lists[$name] = [System.Collections.Generic.List[double]]::new() }
    $run = {
        param([string] $Command, [bool] $Core, [string] $Into)
        $env:AZMI_NO_CORE = if ($Core) { $null } else { '1' }
        $out = @(& $pwsh @prefix -NoProfile -NonInteractive -Command $Command)
        if ([string]$out[-1] -ne [string]$Core) { throw "the session ran with Core=$($out[-1]), expected $Core" }
        $lists[$Into].Add([double]$out[-2])
    }
    for ($i = 0; $i -lt $FreshSessions; $i++) {
        # Alternate which goes first, so neither always follows the other.
        if ($i % 2) { & $run $importFirst $true importCore; & $run $importFirst $false importScript }
        else { & $run $importFirst $false importScript; & $run $importFirst $true importCore }
        if ($i % 2) { & $run $firstOnly $true callCore; & $run $firstOnly $false callScript }
        else { & $run $firstOnly $false callScript; & $run $firstOnly $true callCore }
    }
    $env:AZMI_NO_CORE = $null
    $all = { param($list) ($list | ForEach-Object { [math]::Round($_) }) -join ', ' }
    $m = @{}; foreach ($name in $lists.Keys) { $m[$name] = Get-Median $lists[$name] }
    'fresh pwsh sessions ({0} each, interleaved, median):' -f $FreshSessions
    '  Import-Module + first call, C# core   {0,8:N1} ms   all: {1}' -f $m['importCore'], (& $all $lists['importCore'])
    '  Import-Module + first call, script    {0,8:N1} ms   all: {1}' -f $m['importScript'], (& $all $lists['importScript'])
    '    improvement                         {0,8:N1} %' -f (100 * (1 - $m['importCore'] / $m['importScript']))
    '  first call after import, C# core      {0,8:N1} ms   all: {1}' -f $m['callCore'], (& $all $lists['callCore'])
    '  first call after import, script       {0,8:N1} ms   all: {1}' -f $m['callScript'], (& $all $lists['callScript'])
    '    improvement                         {0,8:N1} %' -f (100 * (1 - $m['callCore'] / $m['callScript']))
    'load average at end: {0}' -f (Get-LoadAverage)
} finally {
    $env:AZMI_NO_CORE = $null
    Stop-CloudShellFake $fake
}
