<#
.SYNOPSIS
Benchmark of the Azmi PowerShell module (bench/powershell.ps1), printing azmi vs the reference and the ratio.

.DESCRIPTION
Claims measured, against the fake Cloud Shell endpoint on 127.0.0.1 (test/powershell/support/cloudShellFake.ts):
  1. Get-AzManagedToken with a warm bridge and a cached token: under 5 ms per call, and no slower than
     Invoke-RestMethod to the loopback MSI endpoint, measured in the same run (interleaved rounds, medians).
  2. First Get-AzManagedToken in a fresh pwsh session (module auto-load + Node bridge start + first token):
     under 400 ms; measured in fresh child pwsh processes, also against Invoke-RestMethod's first call.
Run: dotnet pwsh -NoProfile -File bench/powershell.ps1 [-Calls 200] [-Rounds 7] [-FreshSessions 5]
(after npx tsc -p .). Never contacts anything but 127.0.0.1.
#>
param([int] $Calls = 200, [int] $Rounds = 7, [int] $FreshSessions = 5)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
$root = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '..'))
Import-Module (Join-Path $root 'test/powershell/support/Azmi.TestSupport.psm1') -Force
Import-Module (Join-Path $root 'module/Azmi/Azmi.psd1') -Force
Reset-AzmiTestEnvironment
$fake = Start-CloudShellFake
$env:MSI_ENDPOINT = $fake.MsiEndpoint
$resource = 'https://vault.azure.net'
$uri = "$env:MSI_ENDPOINT`?resource=$([uri]::EscapeDataString($resource))"
$headers = @{ Metadata = 'true' }

function Get-Median([double[]] $Values) { $s = $Values | Sort-Object; $s[[int][math]::Floor($s.Count / 2)] }

try {
    # Warm both paths: the bridge, the token cache, and .NET's HTTP stack.
    $null = Get-AzManagedToken -Resource $resource
    for ($i = 0; $i -lt 50; $i++) { $null = Get-AzManagedToken -Resource $resource; $null = Invoke-RestMethod -Uri $uri -Headers $headers }

    $azmi = [System.Collections.Generic.List[double]]::new()
    $bridged = [System.Collections.Generic.List[double]]::new()
    $irm = [System.Collections.Generic.List[double]]::new()
    $clock = [System.Diagnostics.Stopwatch]::new()
    for ($round = 0; $round -lt $Rounds; $round++) {
        $clock.Restart()
        for ($i = 0; $i -lt $Calls; $i++) { $null = Get-AzManagedToken -Resource $resource }
        $azmi.Add($clock.Elapsed.TotalMilliseconds / $Calls)
        # The same with the module's lease off: every call is a bridge round trip.
        $env:AZMI_NO_LEASE = '1'
        $clock.Restart()
        for ($i = 0; $i -lt $Calls; $i++) { $null = Get-AzManagedToken -Resource $resource }
        $bridged.Add($clock.Elapsed.TotalMilliseconds / $Calls)
        $env:AZMI_NO_LEASE = $null
        $clock.Restart()
        for ($i = 0; $i -lt $Calls; $i++) { $null = Invoke-RestMethod -Uri $uri -Headers $headers }
        $irm.Add($clock.Elapsed.TotalMilliseconds / $Calls)
    }
    $azmiMs = Get-Median $azmi
    $bridgedMs = Get-Median $bridged
    $irmMs = Get-Median $irm
    'warm, cached token ({0} rounds x {1} calls, median per call):' -f $Rounds, $Calls
    '  Get-AzManagedToken          {0,8:N3} ms   (target < 5 ms: {1})' -f $azmiMs, $(if ($azmiMs -lt 5) { 'met' } else { 'MISSED' })
    '  ... every call via bridge   {0,8:N3} ms   (AZMI_NO_LEASE=1; target < 5 ms: {1})' -f $bridgedMs, $(if ($bridgedMs -lt 5) { 'met' } else { 'MISSED' })
    '  Invoke-RestMethod (MSI)     {0,8:N3} ms' -f $irmMs
    '  ratio azmi / IRM            {0,8:N2} x   (target <= 1: {1})' -f ($azmiMs / $irmMs), $(if ($azmiMs -le $irmMs) { 'met' } else { 'MISSED' })
    '  ratio via bridge / IRM      {0,8:N2} x' -f ($bridgedMs / $irmMs)

    # First call in a fresh session: child pwsh processes; each times its own first call.
    $modulePath = Join-Path $root 'module/Azmi/Azmi.psd1'
    $pwshArgs = @('-NoProfile', '-NonInteractive', '-Command')
    $firstAzmi = "`$m = '$modulePath'; `$s = [Diagnostics.Stopwatch]::StartNew(); Import-Module `$m; `$null = Get-AzManagedToken -Resource '$resource'; `$s.Elapsed.TotalMilliseconds"
    $firstCall = "`$m = '$modulePath'; Import-Module `$m; `$s = [Diagnostics.Stopwatch]::StartNew(); `$null = Get-AzManagedToken -Resource '$resource'; `$s.Elapsed.TotalMilliseconds"
    $firstIrm = "`$s = [Diagnostics.Stopwatch]::StartNew(); `$null = Invoke-RestMethod -Uri '$uri' -Headers @{ Metadata = 'true' }; `$s.Elapsed.TotalMilliseconds"
    # The same pwsh as this one (a dotnet tool runs as 'dotnet pwsh.dll').
    $pwsh = [System.Environment]::ProcessPath
    [string[]] $prefix = if ((Split-Path $pwsh -Leaf) -like 'dotnet*') { Join-Path $PSHOME 'pwsh.dll' } else { @() }
    $fresh = [System.Collections.Generic.List[double]]::new()
    $freshCall = [System.Collections.Generic.List[double]]::new()
    $freshIrm = [System.Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $FreshSessions; $i++) {
        $fresh.Add([double](& $pwsh @prefix @pwshArgs $firstAzmi | Select-Object -Last 1))
        $freshCall.Add([double](& $pwsh @prefix @pwshArgs $firstCall | Select-Object -Last 1))
        $freshIrm.Add([double](& $pwsh @prefix @pwshArgs $firstIrm | Select-Object -Last 1))
    }
    $freshMs = Get-Median $fresh
    $freshCallMs = Get-Median $freshCall
    $freshIrmMs = Get-Median $freshIrm
    $all = { param($list) ($list | ForEach-Object { [math]::Round($_) }) -join ', ' }
    'first call in a fresh pwsh session ({0} sessions each, median):' -f $FreshSessions
    '  Import-Module + first Get-AzManagedToken  {0,8:N1} ms   (target < 400 ms: {1})   all: {2}' -f $freshMs, $(if ($freshMs -lt 400) { 'met' } else { 'MISSED' }), (& $all $fresh)
    '  first Get-AzManagedToken after import     {0,8:N1} ms   (target < 400 ms: {1})   all: {2}' -f $freshCallMs, $(if ($freshCallMs -lt 400) { 'met' } else { 'MISSED' }), (& $all $freshCall)
    '  first Invoke-RestMethod (MSI)             {0,8:N1} ms   all: {1}' -f $freshIrmMs, (& $all $freshIrm)
    '  ratio import+first azmi / first IRM       {0,8:N2} x' -f ($freshMs / $freshIrmMs)
    '  ratio first azmi call / first IRM         {0,8:N2} x' -f ($freshCallMs / $freshIrmMs)
    '  (node -e 0 on this machine: {0:N0} ms, a floor under any Node start)' -f (Measure-Command { & node -e 0 }).TotalMilliseconds
} finally {
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $fake
}
