# Azmi: managed identity, anywhere. The cmdlets own PowerShell conventions
# (parameter sets, objects, ErrorRecords, help); every token decision is made
# by azmi's TypeScript core, reached through one persistent Node process per
# session (the bridge, see Public/Azmi.Functions.ps1). Only what a good
# Get-AzManagedToken call needs is parsed at import: Public/Azmi.Functions.ps1
# declares the exported cmdlets; Private/Azmi.CmdletBodies.ps1,
# Private/Azmi.ScriptBridge.ps1 and Private/Azmi.Requests.ps1 are loaded when a
# call needs them.

# The precompiled hot path (module/src): C# pays only its own small JIT where
# script pays PowerShell's compile of every operation on first use. bin/ holds
# a build for this machine (ReadyToRun, by scripts/setup-pwsh.sh where the .NET
# SDK is), lib/ the one shipped with azmi (IL, for every pwsh 7.4+); the first
# that loads is used. A bin/ older than lib/ is skipped: it was built from an
# older AzmiCore.cs (a checkout that moved on, or a lib/ rebuilt by
# scripts/build-pwsh-core.sh, without scripts/setup-pwsh.sh run again), and
# this script expects the core its lib/ was built with. Without either (or
# with $env:AZMI_NO_CORE = '1') the script functions in
# Public/Azmi.Functions.ps1 do the same work.
$script:Core = $false
if ($env:AZMI_NO_CORE -ne '1') {
    $libCore = [System.IO.Path]::Combine($PSScriptRoot, 'lib', 'Azmi.Core.dll')
    foreach ($coreFolder in 'bin', 'lib') {
        $corePath = [System.IO.Path]::Combine($PSScriptRoot, $coreFolder, 'Azmi.Core.dll')
        if ($coreFolder -eq 'bin' -and [System.IO.File]::Exists($libCore) -and
            [System.IO.File]::GetLastWriteTimeUtc($corePath) -lt [System.IO.File]::GetLastWriteTimeUtc($libCore)) { continue }
        if ([System.IO.File]::Exists($corePath)) {
            # Only this install's own build: LoadFrom hands back an assembly of the
            # same name that is already loaded (another install's, or this one's
            # from before an upgrade), whose methods may not match this script.
            try { $script:Core = [System.Reflection.Assembly]::LoadFrom($corePath).Location -eq $corePath } catch { }
            if ($script:Core) { break }
        }
    }
    $coreFolder = $corePath = $libCore = $null
}
# The module's state: with the core in one call, which also starts the bridge
# first thing, so Node boots while the rest of the module loads (without the
# core, Public/Azmi.Functions.ps1 sets the same as soon as its bridge functions are
# defined). This file stays small: it is parsed before anything has warmed
# PowerShell's parser, which is the slowest parse of the session.
if ($script:Core) { [Azmi.AzmiCore]::Initialize($ExecutionContext.SessionState, $PSScriptRoot) }

. ([System.IO.Path]::Combine($PSScriptRoot, 'Public', 'Azmi.Functions.ps1'))

# Removing the module stops the bridge (and with it any local endpoint) and
# puts back environment variables that -SetEnvironment changed. When the
# session itself ends, the bridge sees its stdin close and exits on its own.
$ExecutionContext.SessionState.Module.OnRemove = {
    foreach ($id in @($script:Endpoints.Keys)) { Restore-AzmiEndpointEnvironment -Id $id }
    Stop-AzmiBridge
}
