# The Azmi module's functions, dot-sourced by Azmi.psm1: the exported cmdlets
# (declared in full: help, parameters, pipeline binding) and what a good
# Get-AzManagedToken call runs, including starting the bridge. With the core the
# bridge is already starting, so Node boots while PowerShell parses this file;
# without it, the script path below starts the bridge as soon as its functions
# are defined. One file, not one per function: each dot-sourced file costs the
# import a few milliseconds. The rest of the module is in ../Private/, loaded
# when a call needs it (see the regions below that load each file).

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
    # The compiled bridge of the azmi package this module ships in ($PSScriptRoot
    # is module/Azmi/Public); $env:AZMI_BRIDGE overrides it.
    $script:DefaultBridgePath = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($PSScriptRoot, '..', '..', '..', 'dist', 'src', 'bridge', 'main.js'))
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
    # Without client_id (Cloud Shell's tokens name none): Format-List shows no row the object lacks.
    $script:TokenDisplayNoClientId = New-AzmiDisplaySet 'resource', 'token_type', 'ExpiresOn'
    $script:ChainLinkDisplay = New-AzmiDisplaySet 'Link', 'Outcome', 'Milliseconds', 'Reason'
}

#region The bridge: talking to it, stopping it
function Stop-AzmiBridge {
    # Closing stdin asks the bridge to close its endpoints and exit; it is
    # killed if it has not done so within a moment.
    param([int] $GraceMs = 2000)
    $bridge = $script:Bridge
    $script:Bridge = $null
    if ($null -eq $bridge) { return }
    $process = $bridge.Process
    try {
        if (-not $process.HasExited) {
            try { $process.StandardInput.Close() } catch { }
            if (-not $process.WaitForExit($GraceMs)) { $process.Kill($true); $null = $process.WaitForExit(2000) }
        }
    } catch {
    } finally {
        $process.Dispose()
    }
}

function Get-AzmiBridgeStderrTail {
    # The last lines the bridge wrote to stderr, to explain a crash.
    param($Bridge, [int] $Lines = 5)
    $task = $Bridge.ErrorTask
    if ($null -eq $task -or -not $task.Wait(500)) { return '' }
    $text = $task.Result
    if (-not $text) { return '' }
    # Stack frames say little to a user; the message lines say what broke.
    # (Methods and operators, no commands: the text may hold secrets, and
    # module logging writes what commands are given; see ConvertToRedactedText.)
    $kept = @(($text.TrimEnd() -split "\r?\n").Where({ $_.Trim() -and $_ -notmatch '^\s+at ' -and $_ -notmatch '^Node\.js v' }))
    if ($Lines -lt 1) { $kept = @() } elseif ($kept.Count -gt $Lines) { $kept = $kept[($kept.Count - $Lines)..($kept.Count - 1)] }
    # Redacted before it is cut: a cut through a secret's name would leave its value unrecognised.
    $tail = $script:ConvertToRedactedText.InvokeReturnAsIs($kept -join ' | ')
    if ($tail.Length -gt 1500) { $tail = $tail.Substring($tail.Length - 1500) }
    $tail
}

# Anything shaped like a JWT, a bearer or basic credential (an Azure Arc
# key is sent as Basic) or the value of a secret-named field is removed
# before text from outside (stderr of a crashed process, which may echo
# the request and the environment it carries) reaches an error message.
# A quoted value is removed whole, spaces and commas included: in double
# quotes (JSON) or single quotes (how Node prints an object when it dies);
# an unquoted one up to a space, comma or brace, even one starting with '[',
# and on a NAME=value line (an environment listing) up to the line's end.
# A script block called as a method, not a function: module logging writes
# the text of a function's parameters to the event log, and this text is
# the unredacted one (see Private/Azmi.ScriptBridge.ps1).
$script:ConvertToRedactedText = {
    param([string] $Text)
    $names = 'access_token|refresh_token|client_secret|secret|password|client_assertion|x-identity-header|identity_header'
    $fields = "`"?($names)`"?\s*[:=]\s*"
    $Text -replace 'eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*', '[REDACTED]' `
          -replace '(?i)(\b(bearer|basic)\s+)[^\s"'',]+', '$1[REDACTED]' `
          -replace "(?i)($fields`")(\\.|[^`"\\])*`"?", '$1[REDACTED]"' `
          -replace "(?i)($fields')(\\.|[^'\\])*'?", '$1[REDACTED]''' `
          -replace "(?i)($fields)(?![`"']|\[REDACTED\])[^`"&\s,}]+", '$1[REDACTED]' `
          -replace "(?im)^(\s*\w*($names)\w*=)(?!\[REDACTED\]\r?$).*$", '$1[REDACTED]'
}

function New-AzmiBridgeFault {
    # A failure of the bridge itself, in the same shape as an error the
    # bridge reports, so callers handle both the same way.
    param([string] $Condition, [string] $Message, [string] $RecommendedAction, [string] $Name = 'BridgeError')
    [pscustomobject]@{
        ok    = $false
        error = [pscustomobject]@{
            code = 'ERR_BRIDGE'; name = $Name; message = $Message
            condition = $Condition; recommendedAction = $RecommendedAction
        }
    }
}

function Open-AzmiBridge {
    # The session's bridge, started (or restarted: it died, or
    # $env:AZMI_BRIDGE changed) when needed; a fault object when it cannot be.
    param([string] $LaunchPath)
    $bridge = $script:Bridge
    if ($null -ne $bridge) {
        if (-not $bridge.Process.HasExited -and $bridge.Path -eq $LaunchPath) { return $bridge }
        if ($bridge.Process.HasExited) { Write-Verbose "azmi bridge (pid $($bridge.Process.Id)) had exited; starting a new one." }
        Stop-AzmiBridge -GraceMs 0
    }
    if ($script:Endpoints.Count) { Remove-AzmiLostEndpoints }
    $launch = Get-AzmiBridgeLaunch
    $bridge = Start-AzmiBridge -Launch $launch
    if ($bridge.condition) {
        return New-AzmiBridgeFault -Condition $bridge.condition -Message $bridge.message -RecommendedAction $bridge.recommendedAction -Name $bridge.name
    }
    $script:Bridge = $bridge
    $script:Leases.Clear()
    Write-Verbose "Started azmi bridge: pid $($bridge.Process.Id), $($launch.Path)."
    $bridge
}

function Remove-AzmiLostEndpoints {
    # The local endpoints this session started ran in the bridge that is
    # gone (it exited, or $env:AZMI_BRIDGE changed): the variables their
    # -SetEnvironment set point at nothing now, and the new bridge numbers
    # its endpoints from 1 again. So their environment is put back, as Stop
    # would, before a new bridge starts (which inherits it), and they are
    # forgotten, with a warning that says so.
    if (-not $script:AzmiCmdletBodies) { Import-AzmiCmdletBodies }
    $lost = @($script:Endpoints.GetEnumerator() | Sort-Object { $_.Value.Seq } | ForEach-Object { "endpoint $($_.Key) ($($_.Value.Url))" })
    $reset = @($script:Endpoints.Values | Where-Object { $null -ne $_.Saved }).Count
    foreach ($id in @($script:Endpoints.Keys)) { Restore-AzmiEndpointEnvironment -Id $id }
    Write-Warning ("The azmi bridge that ran the local $($lost -join ', ') is gone, and the endpoint$(if ($lost.Count -gt 1) { 's' }) with it" +
        $(if ($reset) { '; the identity variables -SetEnvironment set were put back' } else { '' }) +
        '. Run Start-AzManagedIdentityEndpoint again for a new one.')
}

function New-AzmiBridgeEndedFault {
    # The bridge ended (or stopped taking requests: WriteFailure says why the
    # request could not be written) before it answered. A bridge that never
    # said hello did not start at all: its command line is what to look at
    # (a wrong $env:AZMI_NODE, a broken build), so the fault names it.
    param($Bridge, [string] $Op, [string] $WriteFailure)
    $process = $Bridge.Process
    $null = $process.WaitForExit(1000)
    $exited = $process.HasExited
    $exit = if ($exited) { "exit code $($process.ExitCode)" } else { 'still running' }
    $command = "& '" + $process.StartInfo.FileName.Replace("'", "''") + "'"
    foreach ($argument in $process.StartInfo.ArgumentList) { $command += " '" + $argument.Replace("'", "''") + "'" }
    $tail = Get-AzmiBridgeStderrTail -Bridge $Bridge
    Stop-AzmiBridge -GraceMs 0
    $detail = if ($tail) { " Its last output: $tail" } else { '' }
    $message = if ($WriteFailure -and -not $exited) { "The azmi bridge stopped accepting requests ($WriteFailure)." }
               elseif ($Bridge.Hello) { "The azmi bridge ended ($exit) before answering '$Op'; the next call starts a new one.$detail" }
               else { "The azmi bridge ended ($exit) as it started, before it said hello: $command.$detail" }
    $node = if ($env:AZMI_NODE) { " (`$env:AZMI_NODE is '$env:AZMI_NODE': unset it to use the node on PATH, or point it at Node.js 20 or later)" } else { '' }
    New-AzmiBridgeFault -Condition 'BridgeFailed' -Name 'BridgeExited' -Message $message `
        -RecommendedAction "Run the command again; if it keeps failing, run $command by hand to see why it exits$node."
}

function New-AzmiBridgeProtocolFault {
    # The line's length only, never its text: whatever the program wrote may
    # hold a token, and module logging would write a parameter's text to the
    # event log (see Private/Azmi.ScriptBridge.ps1).
    param([string] $LaunchPath, [int] $LineLength)
    Stop-AzmiBridge -GraceMs 0
    New-AzmiBridgeFault -Condition 'BridgeProtocolError' -Name 'BridgeProtocolError' `
        -Message "The program at '$LaunchPath' is not the azmi bridge: it answered with a line ($LineLength characters) that is not azmi's JSON-lines protocol." `
        -RecommendedAction $(if ($env:AZMI_NODE) {
            "`$env:AZMI_NODE is '$env:AZMI_NODE': point it at Node.js 20 or later, or unset it to use the node on PATH$(if ($env:AZMI_BRIDGE) { "; `$env:AZMI_BRIDGE must name dist/src/bridge/main.js of an azmi build" })."
        } else {
            'Point $env:AZMI_BRIDGE at dist/src/bridge/main.js of an azmi build, or remove $env:AZMI_BRIDGE to use the default.'
        })
}

function Invoke-AzmiBridgeCore {
    # Invoke-AzmiBridge with the precompiled core ($script:Core): the same
    # request, lease, timeouts and faults; [Azmi.AzmiCore]::Request does the
    # exchange and says what went wrong, the faults are built here as there.
    # Cmdlet: the calling cmdlet's $PSCmdlet, so Ctrl+C stops the wait.
    # FirstOutcome: what Request already returned for these params on the
    # running bridge ([Azmi.AzmiCore]::GetToken sent them), to go on from.
    param([string] $Op, $Params, $TimeoutSec = 30, $WantVerbose = $false, $Cmdlet, [string] $FirstOutcome)
    $launchPath = $env:AZMI_BRIDGE
    if (-not $launchPath) { $launchPath = $script:DefaultBridgePath }
    $waitSec = $TimeoutSec + $script:BridgeSlackSec
    for ($attempt = 0; ; $attempt++) {
        $bridge = $script:Bridge
        if ($FirstOutcome) {
            $outcome = $FirstOutcome
            $FirstOutcome = $null
        } else {
            if ($null -eq $bridge -or $bridge['Process'].HasExited -or $bridge['Path'] -ne $launchPath) {
                $bridge = Open-AzmiBridge $launchPath
                if ($bridge -is [System.Management.Automation.PSCustomObject]) { return $bridge }
            }
            $outcome = [Azmi.AzmiCore]::Request($bridge, $script:Leases, $Op, $Params, $waitSec, $script:BridgeStartSec, $WantVerbose, $Cmdlet)
        }
        if ($outcome -isnot [string]) { return $outcome }
        $kind = $outcome.Substring(0, 1)
        if ($kind -ne 'W') { break }
        # It died after the check above, before reading this request, so the
        # request is safe to send again: once, to a fresh bridge.
        if ($attempt -ge 1) { return New-AzmiBridgeEndedFault $bridge $Op -WriteFailure $outcome.Substring(1) }
        Stop-AzmiBridge -GraceMs 0
    }
    if ($kind -eq 'T') {
        Stop-AzmiBridge -GraceMs 0
        return New-AzmiBridgeFault -Condition 'Timeout' -Name 'TimeoutError' `
            -Message $(if ($bridge.Hello) { "The azmi bridge did not answer '$Op' within $waitSec s (the call's $TimeoutSec s, and $($script:BridgeSlackSec) s for the bridge itself); it was stopped and the next call starts a new one." }
                       else { "The azmi bridge ($launchPath) did not start within $($script:BridgeStartSec) s; it was stopped and the next call tries again." }) `
            -RecommendedAction 'Raise -TimeoutSec, or run Get-AzManagedIdentityChain -Verbose to see which link is slow.'
    }
    if ($kind -eq 'E') { return New-AzmiBridgeEndedFault $bridge $Op }
    # (Request gives the line's length, never its text.)
    New-AzmiBridgeProtocolFault $launchPath ([int]$outcome.Substring(1))
}
#endregion

#region The script exchange with the bridge, loaded when needed
# Invoke-AzmiBridge and the JSON it writes and reads, in script: what the
# module uses without the precompiled core (AZMI_NO_CORE=1, or no .NET SDK at
# build time), and what the other cmdlets use. With the core, Get-AzManagedToken
# needs none of it, so a session that only wants a token does not parse it
# (Private/Azmi.ScriptBridge.ps1).
$script:AzmiScriptBridge = $false

function Import-AzmiScriptBridge {
    . ([System.IO.Path]::Combine($PSScriptRoot, '..', 'Private', 'Azmi.ScriptBridge.ps1'))
}
if (-not $script:Core) { Import-AzmiScriptBridge }
#endregion

#region Request building and error records, loaded when needed
# Checking input the script way, -Verbose's report and turning faults into
# ErrorRecords: with the precompiled core a good Get-AzManagedToken call needs
# none of it, so it lives in Private/Azmi.Requests.ps1, parsed on the first call
# that does (and at import without the core, whose every call builds its
# request there).
$script:AzmiRequestHelpers = $false

function Import-AzmiRequestHelpers {
    . ([System.IO.Path]::Combine($PSScriptRoot, '..', 'Private', 'Azmi.Requests.ps1'))
}
if (-not $script:Core) { Import-AzmiRequestHelpers }
#endregion

#region Get-AzManagedToken
# Tab completion for -Resource: the audiences scripts ask for most, not file names.
function Get-AzmiResourceCompletion([string] $Word) {
    'https://management.azure.com', 'https://vault.azure.net', 'https://storage.azure.com', 'https://graph.microsoft.com',
    'https://database.windows.net', 'https://ossrdbms-aad.database.windows.net', 'https://cognitiveservices.azure.com',
    'https://servicebus.azure.net', 'https://eventhubs.azure.net', 'https://monitor.azure.com', 'https://api.loganalytics.io',
    'https://redis.azure.com' | Where-Object { $_ -like "$($Word.Trim([char]39, [char]34))*" } |
        ForEach-Object { [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_) }
}

function Get-AzManagedToken {
    <#
    .SYNOPSIS
    Gets an access token for an Azure resource from whatever identity this machine has, in the shape the managed-identity endpoint returns.

    .DESCRIPTION
    Get-AzManagedToken returns the same object that
    Invoke-RestMethod -Uri "${env:MSI_ENDPOINT}?resource=..." -Headers @{Metadata='true'} returns in Azure Cloud Shell
    (access_token, refresh_token, expires_in, expires_on, not_before, resource, token_type, and client_id when the
    endpoint says), with the same property names and string values, plus ExpiresOn as a DateTimeOffset.
    refresh_token is always an empty string, whatever answered: managed identity issues no refresh tokens, and Cloud
    Shell and IMDS send refresh_token as '', so scripts that read it keep working. Against other endpoints (App
    Service, for one) the object Invoke-RestMethod returns has no refresh_token property at all.

    Unlike that call it works anywhere: it walks azmi's credential chain (the order of DefaultAzureCredential:
    environment, workload-identity, managed-identity, azure-cli, azure-powershell, azure-developer-cli), so the same
    script runs in Cloud Shell, on an Azure VM, in App Service or Functions, in AKS with workload identity, on a laptop
    signed in with az, or against a local endpoint started with Start-AzManagedIdentityEndpoint.
    AZURE_TOKEN_CREDENTIALS is honoured as in the Azure SDKs.

    Tokens are cached (and refreshed early) by the session's azmi bridge, a Node.js process started when the module
    loads, so repeated calls are cheap; an identical call within a few seconds is answered without asking the bridge
    (see about_Azmi). -Verbose shows which link answered and why the others did not; it never shows the token.

    .PARAMETER Resource
    The resource (audience) to get a token for, e.g. https://vault.azure.net, api://my-api or an application id: 1 to
    2048 visible ASCII characters without spaces, as everywhere in azmi. It is a System.Uri and is sent as written (its
    OriginalString; no slash is added). A string that System.Uri cannot read (e.g. api://my:api) fails in parameter
    binding; give such a resource as -Scope <resource>/.default. Accepts pipeline input, by value or by a property
    named Resource (or Audience).

    .PARAMETER Scope
    A single scope instead of a resource, e.g. https://vault.azure.net/.default. Only the suffix /.default is removed
    to find the resource. Cannot be combined with -Resource. Held to -Resource's rule: 1 to 2048 visible ASCII
    characters without spaces.

    .PARAMETER ClientId
    Client (application) id of a user-assigned managed identity. Use at most one of -ClientId, -ObjectId, -ResourceId;
    none selects the system-assigned identity.

    .PARAMETER ObjectId
    Object (principal) id of a user-assigned managed identity.

    .PARAMETER ResourceId
    ARM resource id of a user-assigned managed identity, e.g.
    /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>.

    .PARAMETER Source
    Use only this link of the chain: environment, workload-identity, managed-identity, azure-cli, azure-powershell or
    azure-developer-cli. Overrides AZURE_TOKEN_CREDENTIALS.

    .PARAMETER Exclude
    Never try these links of the chain (same names as -Source).

    .PARAMETER TenantId
    Tenant for the links that sign in to Entra ID (environment, workload-identity and the developer tools); managed
    identity ignores it.

    .PARAMETER TimeoutSec
    The most the whole call may take, in seconds (default 30). The bridge is also given a few seconds of slack to
    start; a call never waits longer than that.

    .PARAMETER AsSecureString
    Return access_token as a SecureString instead of plain text.

    .PARAMETER Force
    Ignore azmi's token cache and ask the identity endpoint again.

    .EXAMPLE
    $r = Get-AzManagedToken -Resource https://vault.azure.net
    Invoke-RestMethod "https://myvault.vault.azure.net/secrets/db?api-version=7.4" -Headers @{ Authorization = "Bearer $($r.access_token)" }

    The Cloud Shell pattern, anywhere: get a Key Vault token and call the vault with it.

    .EXAMPLE
    Get-AzManagedToken -Scope https://management.azure.com/.default -ClientId 11111111-2222-3333-4444-555555555555

    A token for Azure Resource Manager from a user-assigned identity.

    .EXAMPLE
    'https://vault.azure.net', 'https://storage.azure.com' | Get-AzManagedToken | Select-Object resource, ExpiresOn

    Tokens for several resources from the pipeline.

    .EXAMPLE
    Get-AzManagedToken https://management.azure.com -Source azure-cli -Verbose

    Only use the Azure CLI's sign-in, and show the chain's decisions.

    .INPUTS
    System.Uri, or a System.String converted to one (either is sent as written: its OriginalString), or objects with a
    Resource or Scope property (and optionally ClientId/ObjectId).

    .OUTPUTS
    Azmi.ManagedToken: access_token (String, or SecureString with -AsSecureString), refresh_token (always '', as Cloud
    Shell and IMDS send it; managed identity issues no refresh tokens), expires_in, expires_on, not_before, resource,
    token_type, client_id (when the endpoint sent one) as strings, and ExpiresOn (DateTimeOffset).

    .LINK
    about_Azmi

    .LINK
    Get-AzManagedIdentityChain
    #>
    [CmdletBinding(DefaultParameterSetName = 'Resource')]
    [OutputType('Azmi.ManagedToken')]
    param(
        # A [uri], as the syntax has always said: System.Uri keeps what was
        # written in OriginalString, which is what is checked and sent (a
        # relative Uri too: api://my-api, an application id). A value Uri
        # cannot read (a tab or space in a host, api://my:api) fails in
        # parameter binding, as any value of the wrong type does.
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Resource', ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('Audience')]
        [ArgumentCompleter({ param($cmd, $p, $word) $m = (Get-Command $cmd -ErrorAction Ignore).Module; if ($m) { & $m { Get-AzmiResourceCompletion $args[0] } $word } })]
        [uri] $Resource,

        [Parameter(Mandatory, ParameterSetName = 'Scope', ValueFromPipelineByPropertyName)]
        [string] $Scope,

        [Parameter(ValueFromPipelineByPropertyName)]
        [string] $ClientId,

        [Parameter(ValueFromPipelineByPropertyName)]
        [Alias('PrincipalId')]
        [string] $ObjectId,

        [Parameter()]
        [string] $ResourceId,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string] $Source,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string[]] $Exclude,

        [ValidateNotNullOrEmpty()]
        [string] $TenantId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec = 30,

        [switch] $AsSecureString,

        [switch] $Force
    )
    process {
        # Runs per pipeline item and is the path the benchmark measures. With
        # the precompiled core the whole good path is this one call: it writes
        # the token and returns nothing. The rest of a call (unusable input,
        # -Verbose, a bridge to start, an error answer, or no core at all) goes
        # on in Invoke-AzmiTokenCall (Private/Azmi.Requests.ps1) from where the core
        # stopped, so a fresh session's first call never compiles that code.
        $rest = if ($script:Core) { [Azmi.AzmiCore]::GetToken($PSCmdlet, $PSBoundParameters, $Resource, $Scope, $TimeoutSec, $AsSecureString.IsPresent) } else { @{} }
        if ($null -eq $rest) { return }
        if (-not $script:AzmiRequestHelpers) { Import-AzmiRequestHelpers }
        Invoke-AzmiTokenCall -Cmdlet $PSCmdlet -Bound $PSBoundParameters -ClientId $ClientId -ObjectId $ObjectId -TimeoutSec $TimeoutSec -AsSecureString $AsSecureString.IsPresent -Rest $rest
    }
}
#endregion

#region The other cmdlets' bodies, loaded on first use
# Only Get-AzManagedToken's code is parsed at Import-Module (parsing is a
# fixed cost of every fresh session, roughly a millisecond per kilobyte of
# code on a busy machine). The other cmdlets are declared below in full (help,
# parameters, pipeline binding), and their bodies, with the helpers only they
# use, live in Private/Azmi.CmdletBodies.ps1, loaded by the first call of any of them.
$script:AzmiCmdletBodies = $null

function Import-AzmiCmdletBodies {
    if (-not $script:AzmiScriptBridge) { Import-AzmiScriptBridge }
    if (-not $script:AzmiRequestHelpers) { Import-AzmiRequestHelpers }
    . ([System.IO.Path]::Combine($PSScriptRoot, '..', 'Private', 'Azmi.CmdletBodies.ps1'))
}
#endregion

#region Get-AzManagedIdentityChain
function Get-AzManagedIdentityChain {
    <#
    .SYNOPSIS
    Shows what each link of azmi's credential chain does on this machine: which one answers, and why the others do not.

    .DESCRIPTION
    Get-AzManagedIdentityChain is the doctor view of Get-AzManagedToken. It walks the chain (environment,
    workload-identity, managed-identity, azure-cli, azure-powershell, azure-developer-cli, subject to
    AZURE_TOKEN_CREDENTIALS, -Source and -Exclude) for one resource and writes one object per link with its outcome
    (selected, unavailable, failed or skipped), the reason in one line, and the milliseconds it took. The token itself
    is never returned or shown. A chain that finds no token is a result here, not an error; -Verbose adds the summary
    (transport, winner, total time, expiry or the error).

    .PARAMETER Resource
    The resource (audience) to test with (default https://management.azure.com). Same rules as Get-AzManagedToken
    -Resource: a System.Uri, sent as written.

    .PARAMETER Scope
    A single scope to test with instead of a resource, e.g. https://vault.azure.net/.default.

    .PARAMETER ClientId
    Client id of a user-assigned managed identity to test. At most one of -ClientId, -ObjectId, -ResourceId.

    .PARAMETER ObjectId
    Object (principal) id of a user-assigned managed identity to test.

    .PARAMETER ResourceId
    ARM resource id of a user-assigned managed identity to test.

    .PARAMETER Source
    Test only this link (environment, workload-identity, managed-identity, azure-cli, azure-powershell,
    azure-developer-cli).

    .PARAMETER Exclude
    Skip these links (same names as -Source).

    .PARAMETER TenantId
    Tenant for the links that sign in to Entra ID (environment, workload-identity and the developer tools); managed
    identity ignores it.

    .PARAMETER TimeoutSec
    The most the whole walk may take, in seconds (default 30).

    .EXAMPLE
    Get-AzManagedIdentityChain

    Link               Outcome     Milliseconds Reason
    ----               -------     ------------ ------
    environment        unavailable            0 AZURE_TENANT_ID/AZURE_CLIENT_ID not set
    workload-identity  unavailable            0 AZURE_FEDERATED_TOKEN_FILE not set
    managed-identity   selected              12 Cloud Shell at localhost:50342
    ...

    .EXAMPLE
    Get-AzManagedIdentityChain -Resource https://vault.azure.net -Exclude managed-identity | Where-Object Outcome -ne skipped

    Check which developer sign-in would be used for Key Vault if managed identity were not there.

    .OUTPUTS
    Azmi.ChainLink: Link, Credential, Outcome, Reason, Milliseconds, Winner (Boolean), Resource.

    .LINK
    Get-AzManagedToken

    .LINK
    about_Azmi
    #>
    [CmdletBinding(DefaultParameterSetName = 'Resource')]
    [OutputType('Azmi.ChainLink')]
    param(
        [Parameter(Position = 0, ParameterSetName = 'Resource', ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ArgumentCompleter({ param($cmd, $p, $word) $m = (Get-Command $cmd -ErrorAction Ignore).Module; if ($m) { & $m { Get-AzmiResourceCompletion $args[0] } $word } })]
        [uri] $Resource = 'https://management.azure.com',

        [Parameter(Mandatory, ParameterSetName = 'Scope', ValueFromPipelineByPropertyName)]
        [string] $Scope,

        [string] $ClientId,

        [Alias('PrincipalId')]
        [string] $ObjectId,

        [string] $ResourceId,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string] $Source,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string[]] $Exclude,

        [ValidateNotNullOrEmpty()]
        [string] $TenantId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec = 30
    )
    process {
        if (-not $script:AzmiCmdletBodies) { Import-AzmiCmdletBodies }
        . $script:AzmiCmdletBodies['Get-AzManagedIdentityChain']
    }
}
#endregion

#region Invoke-AzManagedRestMethod
function Invoke-AzManagedRestMethod {
    <#
    .SYNOPSIS
    Calls Invoke-RestMethod with a bearer token for the target's resource, from whatever identity this machine has.

    .DESCRIPTION
    Invoke-AzManagedRestMethod gets a token with Get-AzManagedToken (same chain, same cache) and calls
    Invoke-RestMethod with an Authorization: Bearer header added to -Headers. The resource is taken from -Resource, or
    else from the URI: Azure services that share one audience are recognised (*.vault.azure.net uses
    https://vault.azure.net, *.blob.core.windows.net uses https://storage.azure.com, management.azure.com,
    graph.microsoft.com, *.database.windows.net, *.servicebus.windows.net, *.azconfig.io, *.documents.azure.com,
    api.loganalytics.io); any other host uses its origin (scheme://host:port).

    Every parameter of Invoke-RestMethod is here with the same name, type, aliases and parameter sets, and is passed
    to it unchanged (pipeline input to -Body included); its output is returned as is. -StatusCodeVariable,
    -ResponseHeadersVariable and -SessionVariable set the variable in the caller's scope, as Invoke-RestMethod does.
    azmi owns the authentication: an Authorization header in -Headers is replaced by the bearer token (with a
    warning), and -Authentication, -Token, -Credential and -UseDefaultCredentials are refused with the error
    InvokeAzManagedRestMethodInvalidArgument before any token is requested (use Invoke-RestMethod for those;
    -UseDefaultCredentials:$false is accepted).
    -Debug shows the chain's log lines but is not passed on, because Invoke-RestMethod's debug output would print the
    Authorization header.

    A failed request (an HTTP error status, a refused connection, a timeout) raises Invoke-RestMethod's own
    ErrorRecord (same exception, category, ErrorDetails, and the request as its target) as a terminating error of
    Invoke-AzManagedRestMethod, so its FullyQualifiedErrorId ends in ',Invoke-AzManagedRestMethod' (e.g.
    WebCmdletWebResponseException,Invoke-AzManagedRestMethod). As with Invoke-RestMethod it stops a -Body pipeline,
    -ErrorAction does not silence it and try/catch catches it. The bearer token is never in it: the Authorization
    header is removed from the request the error names (TargetObject, Exception.Response.RequestMessage), and a
    token a server echoes into its error body is replaced by [REDACTED]. A token the endpoint returned that .NET could
    not send as a header is refused before the call (InvokeAzManagedRestMethodInvalidResponse), as the .NET error
    would quote it.

    Sessions keep no token: the Authorization header azmi adds is removed from a -WebSession session and from a
    -SessionVariable session once the call is over, so a reused session cannot send it to another host. An
    Authorization header of the caller's own in a -WebSession session is replaced for the call (with a warning) and
    put back afterwards.

    .PARAMETER Uri
    The request URI (absolute), passed to Invoke-RestMethod. Its host also picks the resource when -Resource is not given.

    .PARAMETER Method
    The HTTP method (default GET), passed to Invoke-RestMethod.

    .PARAMETER CustomMethod
    An HTTP method -Method does not list (e.g. PROPFIND), passed to Invoke-RestMethod.

    .PARAMETER NoProxy
    Connect directly, ignoring any proxy, passed to Invoke-RestMethod.

    .PARAMETER Proxy
    The proxy server to use, passed to Invoke-RestMethod.

    .PARAMETER ProxyCredential
    Credential for the proxy (not the target), passed to Invoke-RestMethod.

    .PARAMETER ProxyUseDefaultCredentials
    Authenticate to the proxy as the current user, passed to Invoke-RestMethod.

    .PARAMETER Body
    The request body, passed to Invoke-RestMethod. Accepts pipeline input: one request per object, as Invoke-RestMethod.

    .PARAMETER Headers
    Request headers, passed to Invoke-RestMethod with Authorization set to the bearer token (an Authorization header
    given here is replaced, with a warning).

    .PARAMETER Form
    A form to send as multipart/form-data, passed to Invoke-RestMethod.

    .PARAMETER ContentType
    The request content type, passed to Invoke-RestMethod.

    .PARAMETER TransferEncoding
    The Transfer-Encoding header value (chunked, compress, deflate, gzip, identity), passed to Invoke-RestMethod.

    .PARAMETER InFile
    A file whose contents are the request body, passed to Invoke-RestMethod.

    .PARAMETER OutFile
    Save the response body to this file, passed to Invoke-RestMethod.

    .PARAMETER PassThru
    With -OutFile, also return the response, passed to Invoke-RestMethod.

    .PARAMETER Resume
    Resume a partly downloaded -OutFile, passed to Invoke-RestMethod.

    .PARAMETER SkipHttpErrorCheck
    Return error responses instead of failing, passed to Invoke-RestMethod.

    .PARAMETER FollowRelLink
    Follow the response's Link rel=next headers and return every page, passed to Invoke-RestMethod. Invoke-RestMethod
    sends the same headers to every link it follows, whatever its host, so the bearer token goes with them, as any
    header would: use it only with APIs whose links stay on hosts that should get the token.

    .PARAMETER MaximumFollowRelLink
    The most pages -FollowRelLink follows, passed to Invoke-RestMethod.

    .PARAMETER ResponseHeadersVariable
    Name of a variable to receive the response headers, set in the caller's scope as Invoke-RestMethod sets it.

    .PARAMETER StatusCodeVariable
    Name of a variable to receive the HTTP status code, set in the caller's scope as Invoke-RestMethod sets it.

    .PARAMETER UseBasicParsing
    Accepted for compatibility (no effect in PowerShell 7), passed to Invoke-RestMethod.

    .PARAMETER HttpVersion
    The HTTP version of the request (1.0, 1.1, 2.0, 3.0), passed to Invoke-RestMethod.

    .PARAMETER WebSession
    A web session (cookies, headers) to use, passed to Invoke-RestMethod. As there, the headers sent are kept in it,
    except the bearer token: it is removed once the call is over (also when it failed). An Authorization header the
    session already had is replaced for this call, with a warning, and put back afterwards.

    .PARAMETER SessionVariable
    Name of a variable to receive a new web session, set in the caller's scope as Invoke-RestMethod sets it. The
    session keeps the headers sent, except the bearer token.

    .PARAMETER AllowUnencryptedAuthentication
    Passed to Invoke-RestMethod. It only concerns Invoke-RestMethod's own -Authentication and -Credential, which this
    command does not take; the bearer header is sent over http as any header is.

    .PARAMETER CertificateThumbprint
    Thumbprint of a client certificate for the TLS connection, passed to Invoke-RestMethod.

    .PARAMETER Certificate
    A client certificate for the TLS connection, passed to Invoke-RestMethod.

    .PARAMETER SkipCertificateCheck
    Skip validation of the server's TLS certificate, passed to Invoke-RestMethod.

    .PARAMETER SslProtocol
    The TLS versions to allow, passed to Invoke-RestMethod.

    .PARAMETER UserAgent
    The User-Agent header, passed to Invoke-RestMethod.

    .PARAMETER DisableKeepAlive
    Close the connection after the response, passed to Invoke-RestMethod.

    .PARAMETER ConnectionTimeoutSeconds
    Timeout of the HTTP request in seconds (alias -TimeoutSec), passed to Invoke-RestMethod. Getting the token has its
    own -TokenTimeoutSec.

    .PARAMETER OperationTimeoutSeconds
    The longest gap between reads of the response, in seconds, passed to Invoke-RestMethod.

    .PARAMETER SkipHeaderValidation
    Send -Headers, -ContentType and -UserAgent values unvalidated, passed to Invoke-RestMethod.

    .PARAMETER AllowInsecureRedirect
    Allow a redirect from https to http, passed to Invoke-RestMethod.

    .PARAMETER MaximumRedirection
    The most redirects to follow, passed to Invoke-RestMethod.

    .PARAMETER MaximumRetryCount
    Retries of the HTTP request on failure, passed to Invoke-RestMethod.

    .PARAMETER PreserveAuthorizationOnRedirect
    Keep the Authorization header (the bearer token) on redirects, passed to Invoke-RestMethod.

    .PARAMETER RetryIntervalSec
    Seconds between retries, passed to Invoke-RestMethod.

    .PARAMETER PreserveHttpMethodOnRedirect
    Keep the method (e.g. POST) on redirects, passed to Invoke-RestMethod.

    .PARAMETER UnixSocket
    Connect through this Unix domain socket, passed to Invoke-RestMethod.

    .PARAMETER Resource
    The resource (audience) of the token, when the URI alone does not tell: e.g. api://my-api, an application id, or
    https://myapi.example.com for an API whose host differs. A string (not a Uri as in Get-AzManagedToken), checked by
    the same rule (1 to 2048 visible ASCII characters without spaces) and sent as written.

    .PARAMETER ClientId
    Client id of a user-assigned managed identity. At most one of -ClientId, -ObjectId, -ResourceId.

    .PARAMETER ObjectId
    Object (principal) id of a user-assigned managed identity.

    .PARAMETER ResourceId
    ARM resource id of a user-assigned managed identity.

    .PARAMETER Source
    Use only this link of the chain for the token (environment, workload-identity, managed-identity, azure-cli,
    azure-powershell, azure-developer-cli).

    .PARAMETER Exclude
    Never use these links of the chain for the token.

    .PARAMETER TokenTimeoutSec
    The most getting the token may take, in seconds (default 30).

    .PARAMETER Authentication
    Not supported (azmi sends the bearer token): an InvokeAzManagedRestMethodInvalidArgument error. Use Invoke-RestMethod.

    .PARAMETER Token
    Not supported (azmi sends the bearer token): an InvokeAzManagedRestMethodInvalidArgument error. Use Invoke-RestMethod.

    .PARAMETER Credential
    Not supported (azmi sends the bearer token): an InvokeAzManagedRestMethodInvalidArgument error. Use Invoke-RestMethod.

    .PARAMETER UseDefaultCredentials
    Not supported (azmi sends the bearer token): an InvokeAzManagedRestMethodInvalidArgument error. Use Invoke-RestMethod.
    -UseDefaultCredentials:$false asks for nothing and is accepted.

    .EXAMPLE
    Invoke-AzManagedRestMethod 'https://management.azure.com/subscriptions?api-version=2022-12-01' | Select-Object -ExpandProperty value

    Lists subscriptions with a token for https://management.azure.com.

    .EXAMPLE
    Invoke-AzManagedRestMethod -Uri 'https://myvault.vault.azure.net/secrets/db?api-version=7.4' | Select-Object -ExpandProperty value

    Reads a Key Vault secret with a token for https://vault.azure.net.

    .EXAMPLE
    Invoke-AzManagedRestMethod -Uri http://127.0.0.1:8080/api/items -Method POST -Body (@{ name = 'x' } | ConvertTo-Json) -ContentType application/json -Resource api://my-api

    Calls a local API that validates tokens for api://my-api (for example ones minted by Start-AzManagedIdentityEndpoint).

    .EXAMPLE
    $items = Invoke-AzManagedRestMethod $uri -SkipHttpErrorCheck -StatusCodeVariable status -ResponseHeadersVariable headers
    if ($status -eq 429) { Start-Sleep -Seconds ([int]$headers['Retry-After'][0]) }

    Invoke-RestMethod's parameters work as there, the -*Variable ones included.

    .OUTPUTS
    Whatever Invoke-RestMethod returns for the response.

    .NOTES
    Needs PowerShell 7.4 or later: several of Invoke-RestMethod's parameters declared here (-TimeoutSec as
    ConnectionTimeoutSeconds, -OperationTimeoutSeconds, -UnixSocket, -AllowInsecureRedirect) exist from 7.4.

    .LINK
    Get-AzManagedToken

    .LINK
    Invoke-RestMethod
    #>
    # Invoke-RestMethod's parameters as it declares them (RestMethod.Tests
    # checks the list against Get-Command Invoke-RestMethod), then azmi's own.
    # Declared in full, not as dynamic parameters, so Get-Help documents each
    # one; the body only runs Invoke-RestMethod with what was bound.
    [CmdletBinding(DefaultParameterSetName = 'StandardMethod')]
    param(
        [Parameter(Mandatory, Position = 0)] [ValidateNotNullOrEmpty()] [uri] $Uri,
        [Parameter(ParameterSetName = 'StandardMethod')] [Parameter(ParameterSetName = 'StandardMethodNoProxy')]
        [Microsoft.PowerShell.Commands.WebRequestMethod] $Method,
        [Parameter(Mandatory, ParameterSetName = 'CustomMethod')] [Parameter(Mandatory, ParameterSetName = 'CustomMethodNoProxy')]
        [Alias('CM')] [ValidateNotNullOrEmpty()] [string] $CustomMethod,
        [Parameter(Mandatory, ParameterSetName = 'StandardMethodNoProxy')] [Parameter(Mandatory, ParameterSetName = 'CustomMethodNoProxy')]
        [switch] $NoProxy,
        [Parameter(ParameterSetName = 'StandardMethod')] [Parameter(ParameterSetName = 'CustomMethod')] [uri] $Proxy,
        [Parameter(ParameterSetName = 'StandardMethod')] [Parameter(ParameterSetName = 'CustomMethod')]
        [System.Management.Automation.Credential()] [pscredential] $ProxyCredential,
        [Parameter(ParameterSetName = 'StandardMethod')] [Parameter(ParameterSetName = 'CustomMethod')] [switch] $ProxyUseDefaultCredentials,
        [Parameter(ValueFromPipeline)] [object] $Body,
        [System.Collections.IDictionary] $Headers,
        [System.Collections.IDictionary] $Form,
        [string] $ContentType,
        [ValidateSet('chunked', 'compress', 'deflate', 'gzip', 'identity')] [string] $TransferEncoding,
        [ValidateNotNullOrEmpty()] [string] $InFile,
        [ValidateNotNullOrEmpty()] [string] $OutFile,
        [switch] $PassThru,
        [switch] $Resume,
        [switch] $SkipHttpErrorCheck,
        [Alias('FL')] [switch] $FollowRelLink,
        [Alias('ML')] [ValidateRange(1, 2147483647)] [int] $MaximumFollowRelLink,
        [Alias('RHV')] [string] $ResponseHeadersVariable,
        [string] $StatusCodeVariable,
        [switch] $UseBasicParsing,
        [ArgumentCompleter({ '1.0', '1.1', '2.0', '3.0' })] [version] $HttpVersion,
        [Microsoft.PowerShell.Commands.WebRequestSession] $WebSession,
        [Alias('SV')] [string] $SessionVariable,
        [switch] $AllowUnencryptedAuthentication,
        [ValidateNotNullOrEmpty()] [string] $CertificateThumbprint,
        [ValidateNotNull()] [System.Security.Cryptography.X509Certificates.X509Certificate] $Certificate,
        [switch] $SkipCertificateCheck,
        [Microsoft.PowerShell.Commands.WebSslProtocol] $SslProtocol,
        [string] $UserAgent,
        [switch] $DisableKeepAlive,
        [Alias('TimeoutSec')] [ValidateRange(0, 2147483647)] [int] $ConnectionTimeoutSeconds,
        [ValidateRange(0, 2147483647)] [int] $OperationTimeoutSeconds,
        [switch] $SkipHeaderValidation,
        [switch] $AllowInsecureRedirect,
        [ValidateRange(0, 2147483647)] [int] $MaximumRedirection,
        [ValidateRange(0, 2147483647)] [int] $MaximumRetryCount,
        [switch] $PreserveAuthorizationOnRedirect,
        [ValidateRange(1, 2147483647)] [int] $RetryIntervalSec,
        [switch] $PreserveHttpMethodOnRedirect,
        [ValidateNotNullOrEmpty()] [System.Net.Sockets.UnixDomainSocketEndPoint] $UnixSocket,

        [string] $Resource,
        [string] $ClientId,
        [Alias('PrincipalId')] [string] $ObjectId,
        [string] $ResourceId,
        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string] $Source,
        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string[]] $Exclude,
        [ValidateRange(1, 3600)] [int] $TokenTimeoutSec = 30,

        # Invoke-RestMethod's own authentication, which azmi replaces: declared
        # (hidden from completion) so that they get a clear error, and so that
        # -Token is not taken as an abbreviation of -TokenTimeoutSec.
        [Parameter(DontShow)] [object] $Authentication,
        [Parameter(DontShow)] [object] $Token,
        [Parameter(DontShow)] [object] $Credential,
        [Parameter(DontShow)] [switch] $UseDefaultCredentials
    )
    process {
        if (-not $script:AzmiCmdletBodies) { Import-AzmiCmdletBodies }
        . $script:AzmiCmdletBodies['Invoke-AzManagedRestMethod']
    }
}
#endregion

#region Start-AzManagedIdentityEndpoint
function Start-AzManagedIdentityEndpoint {
    <#
    .SYNOPSIS
    Starts a local managed-identity endpoint (azmi serve) in this session, speaking every dialect the Azure SDKs use.

    .DESCRIPTION
    Start-AzManagedIdentityEndpoint starts azmi's local endpoint inside the session's bridge process. It answers the
    IMDS, App Service, App Service 2017 / Machine Learning, Cloud Shell and (where the machine allows) Azure Arc
    dialects on one loopback port, so code that uses ManagedIdentityCredential or DefaultAzureCredential in any
    language gets tokens on a laptop or in CI.

    With -Issuer Local (the default) tokens are minted offline (RS256 JWTs with Entra-like claims; the OIDC discovery
    document and JWKS are served so local APIs can validate them). With -Issuer Chain the endpoint forwards to this
    machine's credential chain (for example your az sign-in), so tools that only speak managed identity get real tokens.

    The result carries the URL and, per dialect, the environment variables that point a client at the endpoint.
    -SetEnvironment sets the chosen -Dialect's variables in this session (clearing the other identity-endpoint
    variables first); Stop-AzManagedIdentityEndpoint puts the previous values back. The endpoint stops with
    Stop-AzManagedIdentityEndpoint, when the module is removed, or when the session ends.

    .PARAMETER Port
    TCP port to listen on (default 0: any free port).

    .PARAMETER HostName
    Address to bind (default 127.0.0.1). Anything else makes the endpoint reachable from other machines or containers
    and writes a warning.

    .PARAMETER Issuer
    Local (default): mint tokens offline. Chain: forward to this machine's credential chain (your real tokens; on
    Linux the endpoint answers only your own processes, other users' get 403).

    .PARAMETER TenantId
    Tenant id in the tokens and the issuer URL of the local issuer (default a fixed test tenant).

    .PARAMETER AcceptAnyIdentity
    Mint a distinct user-assigned identity for any client_id/object_id/msi_res_id asked for, instead of answering
    "Identity not found".

    .PARAMETER Dialect
    Which dialect's variables the result lists first and -SetEnvironment sets: AppService (default; IDENTITY_ENDPOINT
    and IDENTITY_HEADER), Imds (AZURE_POD_IDENTITY_AUTHORITY_HOST), CloudShell (MSI_ENDPOINT, as in Azure Cloud Shell),
    MachineLearning (MSI_ENDPOINT and MSI_SECRET) or AzureArc (IDENTITY_ENDPOINT and IMDS_ENDPOINT).

    .PARAMETER SetEnvironment
    Set the chosen dialect's variables in this session, so Get-AzManagedToken and child processes use the endpoint.

    .PARAMETER StateFile
    Also record the endpoint in azmi's per-user state file, so 'azmi env' in other shells finds it. One server per
    azmi folder records itself at a time: while another one (from 'azmi serve' or this session) is running, this fails
    with StartAzManagedIdentityEndpointStartFailed naming it; set AZMI_HOME to another folder to run a second one.

    .EXAMPLE
    $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
    Get-AzManagedToken https://vault.azure.net

    Starts an offline endpoint, points this session at it, and gets a token from it through the chain.

    .EXAMPLE
    $ep = Start-AzManagedIdentityEndpoint -Dialect CloudShell -SetEnvironment
    Invoke-RestMethod -Method POST -Uri $env:MSI_ENDPOINT -Headers @{ Metadata = 'true' } -Body @{ resource = 'https://management.azure.com/' }

    Runs a Cloud Shell script unchanged on a laptop.

    .EXAMPLE
    Start-AzManagedIdentityEndpoint -Issuer Chain -WhatIf

    Shows what would be started without starting it.

    .OUTPUTS
    Azmi.ManagedIdentityEndpoint: Id, Url, Port, HostName, Dialect, Environment (the dialect's variables), Dialects
    (all dialects' variables), Issuer, IssuerUrl, JwksUri, TenantId, SystemClientId, EnvironmentSet. Environment and
    Dialects hold the secret header values; at the console (and in a log or transcript) the object shows only Id, Url,
    Dialect, Issuer and EnvironmentSet (Format-List * shows all).

    .LINK
    Stop-AzManagedIdentityEndpoint

    .LINK
    about_Azmi
    #>
    [CmdletBinding(SupportsShouldProcess, PositionalBinding = $false)]
    [OutputType('Azmi.ManagedIdentityEndpoint')]
    param(
        [ValidateRange(0, 65535)]
        [int] $Port = 0,

        [ValidateNotNullOrEmpty()]
        [string] $HostName = '127.0.0.1',

        [ValidateSet('Local', 'Chain')]
        [string] $Issuer = 'Local',

        [string] $TenantId,

        [switch] $AcceptAnyIdentity,

        [ValidateSet('AppService', 'Imds', 'CloudShell', 'MachineLearning', 'AzureArc')]
        [string] $Dialect = 'AppService',

        [switch] $SetEnvironment,

        [switch] $StateFile
    )
    if (-not $script:AzmiCmdletBodies) { Import-AzmiCmdletBodies }
    . $script:AzmiCmdletBodies['Start-AzManagedIdentityEndpoint']
}
#endregion

#region Stop-AzManagedIdentityEndpoint
function Stop-AzManagedIdentityEndpoint {
    <#
    .SYNOPSIS
    Stops local managed-identity endpoints started with Start-AzManagedIdentityEndpoint in this session.

    .DESCRIPTION
    Stop-AzManagedIdentityEndpoint closes the endpoint and, if it was started with -SetEnvironment, puts back the
    identity-endpoint environment variables the session had before. Without -Id it stops every endpoint this session
    started. Endpoint objects can be piped in.

    .PARAMETER Id
    Id of the endpoint to stop (the Id property of Start-AzManagedIdentityEndpoint's result). Accepts pipeline input by
    property name.

    .EXAMPLE
    $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
    Stop-AzManagedIdentityEndpoint -Id $ep.Id

    .EXAMPLE
    Start-AzManagedIdentityEndpoint | Stop-AzManagedIdentityEndpoint -WhatIf

    Shows which endpoint would be stopped.

    .EXAMPLE
    Stop-AzManagedIdentityEndpoint

    Stops every endpoint started in this session.

    .OUTPUTS
    None.

    .LINK
    Start-AzManagedIdentityEndpoint
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'All')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Id', ValueFromPipelineByPropertyName)]
        # Tab offers the ids of the endpoints this session started (not file names); a completer runs
        # outside the module, so it reads them in the module's scope.
        [ArgumentCompleter({ param($cmd, $p, $word) $m = (Get-Command $cmd -ErrorAction Ignore).Module; if ($m) { & $m { @($script:Endpoints.Keys) } | Sort-Object | Where-Object { "$_" -like "$word*" } } })]
        [int[]] $Id
    )
    process {
        if (-not $script:AzmiCmdletBodies) { Import-AzmiCmdletBodies }
        . $script:AzmiCmdletBodies['Stop-AzManagedIdentityEndpoint']
    }
}
#endregion
