# Azmi: managed identity, anywhere. The cmdlets own PowerShell conventions
# (parameter sets, objects, ErrorRecords, help); every token decision is made
# by azmi's TypeScript core, reached through one persistent Node process per
# session (the bridge, see Azmi.Functions.ps1). Only what a good
# Get-AzManagedToken call needs is parsed at import; Azmi.CmdletBodies.ps1,
# Azmi.ScriptBridge.ps1 and Azmi.Requests.ps1 are loaded when a call needs them.

# The precompiled hot path (module/src, built into bin/ by scripts/setup-pwsh.sh
# when the .NET SDK is present): C# pays only its own small JIT where script
# pays PowerShell's compile of every operation on first use. Without it (or
# with $env:AZMI_NO_CORE = '1') the script functions below do the same work.
$script:Core = $false
if ($env:AZMI_NO_CORE -ne '1') {
    $corePath = [System.IO.Path]::Combine($PSScriptRoot, 'bin', 'Azmi.Core.dll')
    if ([System.IO.File]::Exists($corePath)) {
        try { $null = [System.Reflection.Assembly]::LoadFrom($corePath); $script:Core = $true } catch { }
    }
    $corePath = $null
}
# The module's state (the script path below sets the same, after the
# functions it needs): with the core in one call, which also starts the
# bridge first thing, so Node boots while the rest of the module loads.
if ($script:Core) { [Azmi.AzmiCore]::Initialize($ExecutionContext.SessionState, $PSScriptRoot) }

#region The bridge: one Node process per session
# Starting, talking to and stopping the one Node bridge process this session
# uses. The bridge exits by itself when its stdin closes, so a PowerShell
# session that ends (even by a crash) never leaves it behind.
#
# Why the code below looks the way it does: in a fresh session every distinct
# PowerShell operation (a member read on a new type, a method, an operator on
# new operand types, a loop) is compiled and JIT-compiled the first time it
# runs, and the whole body of a function is compiled on its first call. That,
# not Node, is most of the first Get-AzManagedToken of a session. So the
# functions the first call runs are short, use few distinct operations
# (dictionary indexing instead of a property name per field, no loops over the
# environment) and leave every failure to separate functions that only a
# failure compiles. bench/powershell.ps1 measures it (first call in a fresh session).

function Get-AzmiBridgeLaunch {
    # Where the bridge is and how to run it: $env:AZMI_BRIDGE wins, else the
    # compiled entry next to this module in the azmi package.
    $path = $env:AZMI_BRIDGE
    if (-not $path) { $path = $script:DefaultBridgePath }
    # (EndsWith, not -match: the first regex of a session costs milliseconds.)
    $usesNode = $path.EndsWith('.js', [System.StringComparison]::OrdinalIgnoreCase) -or $path.EndsWith('.cjs', [System.StringComparison]::OrdinalIgnoreCase) -or $path.EndsWith('.mjs', [System.StringComparison]::OrdinalIgnoreCase)
    @{ Path = $path; UsesNode = $usesNode }
}

function Find-AzmiNode {
    # node on PATH, by a plain walk: command discovery (Get-Command) costs
    # the first call of a session tens of milliseconds.
    $name = if ($IsWindows) { 'node.exe' } else { 'node' }
    foreach ($dir in $env:PATH.Split([System.IO.Path]::PathSeparator)) {
        if ($dir -and [System.IO.File]::Exists(($candidate = [System.IO.Path]::Combine($dir, $name)))) { return $candidate }
    }
}

function Get-AzmiEnvironmentKey {
    # The session's environment as one string (names, then values, NUL
    # separated: neither can hold a NUL), so "has it changed since the bridge
    # last saw it?" is one string comparison instead of a loop per variable.
    # Hashtables filled in the same order enumerate in the same order, so an
    # unchanged environment always gives the same key.
    # (-join, not [string]::Join: choosing among Join's overloads costs the
    # first call of a session tens of milliseconds.)
    param($Variables)
    ($Variables.Keys -join "`0") + "`0`0" + ($Variables.Values -join "`0")
}

function New-AzmiBridgeStartFault {
    # Why a bridge could not start, as a wire-style error hashtable.
    param([string] $Condition, [string] $Path, [string] $Detail)
    if ($Condition -eq 'BridgeNotFound') {
        $hint = if ($env:AZMI_BRIDGE) { 'Point $env:AZMI_BRIDGE at dist/src/bridge/main.js of an azmi build, or remove it to use the default.' }
                else { 'Build azmi first (npm install, then npm run build in the package folder), or set $env:AZMI_BRIDGE to dist/src/bridge/main.js.' }
        return @{ condition = 'BridgeNotFound'; code = 'ERR_BRIDGE'; name = 'BridgeNotFound'
                  message = "The azmi bridge was not found at '$Path'."; recommendedAction = $hint }
    }
    if ($Condition -eq 'NodeNotFound') {
        return @{ condition = 'NodeNotFound'; code = 'ERR_BRIDGE'; name = 'NodeNotFound'
                  message = 'Node.js was not found: the Azmi module runs its token logic in Node.js 20 or later, and no ''node'' is on PATH' + $(if ($env:AZMI_NODE) { " (`$env:AZMI_NODE is '$env:AZMI_NODE')" } else { '' }) + '.'
                  recommendedAction = 'Install Node.js 20 or later (https://nodejs.org or your package manager, e.g. apt-get install nodejs) and make sure ''node'' is on PATH, or set $env:AZMI_NODE to the node executable.' }
    }
    @{ condition = 'BridgeFailed'; code = 'ERR_BRIDGE'; name = 'BridgeStartFailed'
       message = "The azmi bridge could not be started ($Path): $Detail"
       recommendedAction = 'Check that the file exists and is executable, or unset $env:AZMI_BRIDGE.' }
}

function Start-AzmiBridge {
    # Returns the bridge state hashtable, or a wire-style error hashtable
    # (code/name/message/condition) when it cannot start.
    param($Launch)
    $path = $Launch['Path']
    if (-not [System.IO.File]::Exists($path)) { return New-AzmiBridgeStartFault BridgeNotFound $path }
    $file = $path
    if ($Launch['UsesNode']) {
        $file = $env:AZMI_NODE
        if (-not $file) { $file = if ($script:Core) { [Azmi.AzmiCore]::FindNode() } else { Find-AzmiNode } }
        if (-not $file -or -not [System.IO.File]::Exists($file)) { return New-AzmiBridgeStartFault NodeNotFound }
    }
    if ($script:Core) {
        # The same process, state hashtable and failure message, precompiled.
        $started = [Azmi.AzmiCore]::StartBridge($file, $path, $Launch['UsesNode'])
        if ($started -is [string]) { return New-AzmiBridgeStartFault BridgeFailed $file $started }
        return $started
    }
    # One conversion sets every property (a property assignment each would
    # compile one operation each). UTF-8 both ways, whatever the console uses.
    $utf8 = [System.Text.UTF8Encoding]::new($false)
    $psi = [System.Diagnostics.ProcessStartInfo]@{
        FileName = $file; UseShellExecute = $false; CreateNoWindow = $true
        RedirectStandardInput = $true; RedirectStandardOutput = $true; RedirectStandardError = $true
        StandardInputEncoding = $utf8; StandardOutputEncoding = $utf8; StandardErrorEncoding = $utf8
    }
    if ($Launch['UsesNode']) { $psi.ArgumentList.Add($path) }
    # What the child inherits is the session's environment as of now; later
    # changes travel with requests (see Invoke-AzmiBridge).
    $sentEnv = [System.Environment]::GetEnvironmentVariables()
    try {
        $process = [System.Diagnostics.Process]::Start($psi)
    } catch {
        return New-AzmiBridgeStartFault BridgeFailed $file $_.Exception.Message
    }
    $process.StandardInput.AutoFlush = $false
    @{
        Process   = $process
        Path      = $path
        NextId    = 1
        SentEnv   = $sentEnv
        SentKey   = Get-AzmiEnvironmentKey $sentEnv
        Hello     = $false
        ReadTask  = $null
        # Drained in the background so a chatty stderr can never fill its
        # pipe and block the bridge; read only to explain a crash.
        ErrorTask = $process.StandardError.ReadToEndAsync()
    }
}
#endregion

function New-AzmiDisplaySet([string[]] $Properties) {
    # The PSStandardMembers set that shows only $Properties (AzmiCore.DisplaySet without the core).
    $set = [System.Management.Automation.PSPropertySet]::new('DefaultDisplayPropertySet', $Properties)
    [System.Management.Automation.PSMemberSet]::new('PSStandardMembers', [System.Management.Automation.PSMemberInfo[]]@($set))
}

if (-not $script:Core) {
    # The compiled bridge of the azmi package this module ships in; $env:AZMI_BRIDGE overrides it.
    $script:DefaultBridgePath = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($PSScriptRoot, '..', '..', 'dist', 'src', 'bridge', 'main.js'))
    $script:Bridge = $null
    # A new bridge must say hello within BridgeStartSec (Node's start-up); then a
    # call waits its own timeout plus BridgeSlackSec for the answer.
    $script:BridgeStartSec = 10
    $script:BridgeSlackSec = 2
    # Token answers the bridge said may be reused (request params -> response and
    # until when); ordinal keys, since resources are case-sensitive strings.
    $script:Leases = [hashtable]::new([System.StringComparer]::Ordinal)
    # Local endpoints started in this session: id -> saved environment to restore.
    $script:Endpoints = @{}
    # Start the bridge first, without waiting for it: Node boots while
    # PowerShell parses and loads the rest of the module and binds the first
    # call (the module is normally imported by that first call). A problem (no
    # node, no bridge) is left for that call to report.
    # $env:AZMI_BRIDGE_PRESTART = '0' turns this off.
    if ($env:AZMI_BRIDGE_PRESTART -ne '0') {
        $prestart = Start-AzmiBridge -Launch (Get-AzmiBridgeLaunch)
        if ($prestart['Process']) { $script:Bridge = $prestart }
        # Not Remove-Variable: the first cmdlet call would load a module.
        $prestart = $null
    }
    # A token object printed at the console shows what it is for, not the
    # token. Each object gets this member set (Update-TypeData would cost the
    # import a few hundred milliseconds on a busy machine; this costs microseconds).
    $script:TokenDisplay = New-AzmiDisplaySet 'resource', 'token_type', 'ExpiresOn', 'client_id'
    $script:ChainLinkDisplay = New-AzmiDisplaySet 'Link', 'Outcome', 'Milliseconds', 'Reason'
}

. ([System.IO.Path]::Combine($PSScriptRoot, 'Azmi.Functions.ps1'))

# Removing the module stops the bridge (and with it any local endpoint) and
# puts back environment variables that -SetEnvironment changed. When the
# session itself ends, the bridge sees its stdin close and exits on its own.
$ExecutionContext.SessionState.Module.OnRemove = {
    foreach ($id in @($script:Endpoints.Keys)) { Restore-AzmiEndpointEnvironment -Id $id }
    Stop-AzmiBridge
}
