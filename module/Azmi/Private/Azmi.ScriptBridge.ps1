# The module's script exchange with the bridge: Invoke-AzmiBridge, reading
# and writing protocol lines, and the JSON for them (see "The script exchange
# with the bridge" in Public/Azmi.Functions.ps1 for when this file is loaded). It is
# dot-sourced from a function, so everything is defined in the module's scope
# (script:).
#
# What handles a protocol line is a script block called as a method
# (.InvokeReturnAsIs), not a function: with module logging on
# (LogPipelineExecutionDetails, or a "ModuleLogging" policy), PowerShell
# writes the text of every value bound to a function's parameters to the
# event log (syslog on Linux), and an answer line holds an access token, a
# request line the session's secrets (the "env" it sends). A method call is
# not a command: nothing of it is logged (test/powershell/Logging.Tests.ps1).

# Writes one request line: $null when written, else why not.
$script:WriteBridgeLine = {
    param($Bridge, [string] $Line)
    try {
        $Bridge['Process'].StandardInput.Write($Line)
        $Bridge['Process'].StandardInput.Flush()
    } catch {
        $_.Exception.Message
    }
}

function script:Read-AzmiBridgeLine {
    # The next line from the bridge, or $null when it ended; a fault object
    # when nothing came within LimitMs (the bridge is then stopped). Short
    # waits keep Ctrl+C working; an interrupted read is picked up next time.
    param($Bridge, $Clock, $LimitMs, [string] $Op, $WaitSec, [string] $LaunchPath)
    $task = $Bridge['ReadTask']
    if ($null -eq $task) {
        $task = $Bridge['Process'].StandardOutput.ReadLineAsync()
        $Bridge['ReadTask'] = $task
    }
    try {
        while (-not $task.Wait(100)) {
            if ($Clock.ElapsedMilliseconds -ge $LimitMs) {
                Stop-AzmiBridge -GraceMs 0
                return New-AzmiBridgeFault -Condition 'Timeout' -Name 'TimeoutError' `
                    -Message $(if ($Bridge.Hello) { "The azmi bridge did not answer '$Op' within $WaitSec s (the call's $($WaitSec - $script:BridgeSlackSec) s, and $($script:BridgeSlackSec) s for the bridge itself); it was stopped and the next call starts a new one." }
                               else { "The azmi bridge ($LaunchPath) did not start within $($script:BridgeStartSec) s; it was stopped and the next call tries again." }) `
                    -RecommendedAction 'Raise -TimeoutSec, or run Get-AzManagedIdentityChain -Verbose to see which link is slow.'
            }
        }
        $text = $task.Result
    } catch {
        $text = $null
    }
    $Bridge['ReadTask'] = $null
    if ($null -eq $text) { return New-AzmiBridgeEndedFault $Bridge $Op }
    $text
}

# A protocol line as an object (ConvertFrom-Json's shapes), or $null when
# it is not one. Only a line that looks like an object is parsed: an
# exception, even caught here, would land in the caller's -ErrorVariable.
$script:ReadBridgeLine = {
    param([string] $Text)
    $Text = $Text.Trim()
    if (-not ($Text.StartsWith('{', [System.StringComparison]::Ordinal) -and $Text.EndsWith('}', [System.StringComparison]::Ordinal))) { return }
    try {
        $document = [System.Text.Json.JsonDocument]::Parse($Text)
        try { $script:ReadJsonElement.InvokeReturnAsIs($document.RootElement) } finally { $document.Dispose() }
    } catch { }
}

# The bridge's first line starts with exactly this (server.ts writes the hello
# object in this key order); anything else is checked the slow way.
$script:HelloPrefix = '{"id":0,"ok":true,"result":{"hello":"azmi-bridge",'

function script:Invoke-AzmiBridge {
    # Sends one request to the session's bridge (starting it, or a fresh one
    # if the last one died or $env:AZMI_BRIDGE changed) and waits for the
    # answer with the same id, at most TimeoutSec.
    # Returns the response object (ok/result/error/report/log). Never throws
    # for bridge trouble: errors come back as ok = $false with a condition.
    # A simple function with untyped parameters: cheaper to bind and compile.
    param([string] $Op, $Params, $TimeoutSec = 30, $WantVerbose = $false)
    $launchPath = $env:AZMI_BRIDGE
    if (-not $launchPath) { $launchPath = $script:DefaultBridgePath }
    # A token answer may be reused for an identical request while the
    # environment is unchanged, for as long as the bridge said (leaseMs; the
    # policy is the core's). -Verbose and -Force always ask the bridge. The
    # key is the params' names and values (NUL cannot occur in either).
    $leaseKey = $null
    if ($Op -eq 'token' -and -not $WantVerbose -and -not $Params['forceRefresh'] -and -not $env:AZMI_NO_LEASE) {
        $leaseKey = ($Params.Keys -join "`0") + "`0`0" + ($Params.Values -join "`0")
    }
    $paramsJson = $null
    for ($attempt = 0; ; $attempt++) {
        $bridge = $script:Bridge
        if ($null -eq $bridge -or $bridge['Process'].HasExited -or $bridge['Path'] -ne $launchPath) {
            $bridge = Open-AzmiBridge $launchPath
            if ($bridge -is [System.Management.Automation.PSCustomObject]) { return $bridge }
        }
        # The session's environment travels when it differs from what the
        # bridge has: a script that sets $env:MSI_ENDPOINT (or
        # -SetEnvironment) after the bridge started must be seen by the next call.
        $vars = [System.Environment]::GetEnvironmentVariables()
        $envKey = if ($script:Core) { [Azmi.AzmiCore]::EnvironmentKey($vars) } else { ($vars.Keys -join "`0") + "`0`0" + ($vars.Values -join "`0") }  # as Get-AzmiEnvironmentKey, inline
        $envChanged = $envKey -cne $bridge['SentKey']
        if ($envChanged) {
            $script:Leases.Clear()
        } elseif ($null -ne $leaseKey) {
            $lease = $script:Leases[$leaseKey]
            if ($null -ne $lease -and $lease['Until'] -gt [System.Environment]::TickCount64) {
                # expires_in is "seconds left at return time", as the core computes it.
                $response = $lease['Response']
                $result = $response.result
                $result.expires_in = [string]([long]$result.expires_on - [System.DateTimeOffset]::UtcNow.ToUnixTimeSeconds())
                return $response
            }
        }
        if ($null -eq $paramsJson -and $null -ne $Params) { $paramsJson = if ($script:Core) { [Azmi.AzmiCore]::ToJson($Params) } else { $script:WriteJsonObject.InvokeReturnAsIs($Params, $null) } }
        $id = $bridge['NextId']
        $bridge['NextId'] = $id + 1
        $line = '{"id":' + $id + ',"op":"' + $Op + '"'
        if ($null -ne $paramsJson) { $line += ',"params":' + $paramsJson }
        if ($envChanged) { $line += ',"env":' + $(if ($script:Core) { [Azmi.AzmiCore]::ToJson($vars) } else { $script:WriteJsonObject.InvokeReturnAsIs($vars, $null) }) }
        if ($WantVerbose) { $line += ',"verbose":true' }
        $failure = $script:WriteBridgeLine.InvokeReturnAsIs($bridge, $line + "}`n")
        if ($null -eq $failure) { break }
        # It died after the check above, before reading this request, so the
        # request is safe to send again: once, to a fresh bridge.
        if ($attempt -ge 1) { return New-AzmiBridgeEndedFault $bridge $Op -WriteFailure $failure }
        Stop-AzmiBridge -GraceMs 0
    }
    if ($envChanged) { $bridge['SentEnv'] = $vars; $bridge['SentKey'] = $envKey }

    $waitSec = $TimeoutSec + $script:BridgeSlackSec
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    # A new bridge first gets BridgeStartSec to say hello; the call's own
    # budget starts once it is up.
    $limitMs = if ($bridge['Hello']) { $waitSec * 1000 } else { $script:BridgeStartSec * 1000 }
    while ($true) {
        $text = Read-AzmiBridgeLine $bridge $clock $limitMs $Op $waitSec $launchPath
        if ($text -isnot [string]) { return $text }
        if (-not $bridge['Hello']) {
            # The first line must be the bridge's hello: anything else is a
            # program that is not the azmi bridge.
            if (-not $text.StartsWith($script:HelloPrefix, [System.StringComparison]::Ordinal)) {
                $hello = if ($script:Core) { [Azmi.AzmiCore]::FromJsonLine($text) } else { $script:ReadBridgeLine.InvokeReturnAsIs($text) }
                if (-not ($hello -is [System.Management.Automation.PSCustomObject] -and $hello.id -is [long] -and $hello.id -eq 0 -and $hello.ok -and $hello.result.hello -eq 'azmi-bridge')) {
                    return New-AzmiBridgeProtocolFault $launchPath $text.Length
                }
            }
            $bridge['Hello'] = $true
            $limitMs = $clock.ElapsedMilliseconds + $waitSec * 1000
            continue
        }
        $message = if ($script:Core) { [Azmi.AzmiCore]::FromJsonLine($text) } else { $script:ReadBridgeLine.InvokeReturnAsIs($text) }
        if (-not ($message -is [System.Management.Automation.PSCustomObject] -and $message.id -is [long])) {
            return New-AzmiBridgeProtocolFault $launchPath $text.Length
        }
        # A stale answer to an interrupted call is skipped by its id.
        if ($message.id -eq $id) {
            if ($null -ne $leaseKey -and $message.ok -and $message.leaseMs -gt 0) {
                if ($script:Leases.Count -ge 256) { $script:Leases.Clear() }
                $script:Leases[$leaseKey] = @{ Response = $message; Until = [System.Environment]::TickCount64 + $message.leaseMs }
            }
            return $message
        }
    }
}

#region JSON for the bridge protocol
# System.Text.Json, which pwsh has loaded already. ConvertTo-Json and
# ConvertFrom-Json go through Newtonsoft.Json, whose first use costs a fresh
# session 50-150 ms: most of the budget of the first Get-AzManagedToken.

# The characters a JSON string cannot hold as they are.
# (From a string literal: converting a number array costs the import more.)
$script:JsonEscaped = "`u{0}`u{1}`u{2}`u{3}`u{4}`u{5}`u{6}`u{7}`u{8}`u{9}`u{a}`u{b}`u{c}`u{d}`u{e}`u{f}`u{10}`u{11}`u{12}`u{13}`u{14}`u{15}`u{16}`u{17}`u{18}`u{19}`u{1a}`u{1b}`u{1c}`u{1d}`u{1e}`u{1f}`"\".ToCharArray()
# Surrogates: half of a pair cannot be UTF-8 (a -ClientId typed with one).
$script:JsonSurrogate = [regex]'[\uD800-\uDFFF]'

# A string's JSON escapes (a script block, as WriteJsonObject: its text may be a secret).
# JsonEncodedText throws on half a surrogate pair, which then surfaced as a bare
# .NET error; escaped as \uXXXX it reaches the bridge, whose checks name the parameter.
$script:EncodeJsonText = {
    param([string]$Text)
    try { return [System.Text.Json.JsonEncodedText]::Encode($Text).ToString() } catch [System.ArgumentException] { }
    $sb = [System.Text.StringBuilder]::new($Text.Length + 16)
    for ($i = 0; $i -lt $Text.Length; $i++) {
        $c = $Text[$i]
        if ($c -eq [char]'"') { $null = $sb.Append('\"') }
        elseif ($c -eq [char]'\') { $null = $sb.Append('\\') }
        elseif ([char]::IsHighSurrogate($c) -and $i + 1 -lt $Text.Length -and [char]::IsLowSurrogate($Text[$i + 1])) { $null = $sb.Append($c).Append($Text[$i + 1]); $i++ }
        elseif ([int]$c -lt 0x20 -or [char]::IsSurrogate($c)) { $null = $sb.Append('\u').Append(([int]$c).ToString('x4', [cultureinfo]::InvariantCulture)) }
        else { $null = $sb.Append($c) }
    }
    $sb.ToString()
}

# A dictionary whose values are $null, bool, numbers, strings, arrays of
# those, or dictionaries like it, as one line of JSON (requests and
# environments are never more than that). A script block (see the top of
# this file): a nested dictionary is written into the builder the outer one
# passes on, and a StringBuilder bound to a function's parameter is logged
# with its text, the session's secrets included.
$script:WriteJsonObject = {
    param($Dictionary, $Builder)
    $own = $null -eq $Builder
    if ($own) { $Builder = [System.Text.StringBuilder]::new(512) }
    $null = $Builder.Append('{')
    $first = $true
    foreach ($entry in $Dictionary.GetEnumerator()) {
        if (-not $first) { $null = $Builder.Append(',') }
        $first = $false
        # Strings without quotes, backslashes or control characters are valid
        # JSON as they are; only others go through JsonEncodedText, whose
        # first use costs a session tens of milliseconds (its encoder's tables).
        $text = [string]$entry.Key
        if ($text.IndexOfAny($script:JsonEscaped) -ge 0 -or $script:JsonSurrogate.IsMatch($text)) { $text = $script:EncodeJsonText.InvokeReturnAsIs($text) }
        $null = $Builder.Append('"').Append($text).Append('":')
        $value = $entry.Value
        if ($value -is [System.Collections.IDictionary]) {
            $null = $script:WriteJsonObject.InvokeReturnAsIs($value, $Builder)
            continue
        }
        $isList = $value -is [System.Collections.IList]
        if ($isList) { $null = $Builder.Append('[') } else { $value = @(, $value) }
        $firstItem = $true
        foreach ($item in $value) {
            if (-not $firstItem) { $null = $Builder.Append(',') }
            $firstItem = $false
            if ($null -eq $item) { $null = $Builder.Append('null') }
            elseif ($item -is [bool]) { $null = $Builder.Append($(if ($item) { 'true' } else { 'false' })) }
            elseif ($item -is [int] -or $item -is [long] -or $item -is [double]) { $null = $Builder.Append($item.ToString([cultureinfo]::InvariantCulture)) }
            else {
                $text = [string]$item
                if ($text.IndexOfAny($script:JsonEscaped) -ge 0 -or $script:JsonSurrogate.IsMatch($text)) { $text = $script:EncodeJsonText.InvokeReturnAsIs($text) }
                $null = $Builder.Append('"').Append($text).Append('"')
            }
        }
        if ($isList) { $null = $Builder.Append(']') }
    }
    $null = $Builder.Append('}')
    if ($own) { $Builder.ToString() }
}

# A System.Text.Json element as PowerShell values, as ConvertFrom-Json
# makes them: objects become PSCustomObjects, arrays object[], numbers
# long or double; strings stay strings (no date guessing).
# Written for a fresh session's first call: an untyped parameter (a
# struct-typed one compiles a variant of its own), JsonValueKind compared
# as numbers (Object 1, Array 2, String 3, Number 4, True 5, False 6,
# Null 7; names would be parsed into the enum), no [ref] argument.
$script:ReadJsonElement = {
    param($Element)
    $kind = [int]$Element.ValueKind
    if ($kind -eq 1) {
        $properties = [ordered]@{}
        foreach ($property in $Element.EnumerateObject()) {
            $value = $property.Value
            $valueKind = [int]$value.ValueKind
            # (The comma keeps an array an array: a method's result is enumerated when written.)
            $properties[$property.Name] = if ($valueKind -eq 3) { $value.GetString() } else { , $script:ReadJsonElement.InvokeReturnAsIs($value) }
        }
        return [pscustomobject]$properties
    }
    if ($kind -eq 3) { return $Element.GetString() }
    if ($kind -eq 4) {
        $raw = $Element.GetRawText()
        if ($raw.Length -le 18 -and $raw.IndexOfAny($script:JsonNotWhole) -lt 0) { return [long]$raw }
        return $Element.GetDouble()
    }
    if ($kind -eq 5) { return $true }
    if ($kind -eq 6) { return $false }
    if ($kind -eq 2) { return , @(foreach ($item in $Element.EnumerateArray()) { , $script:ReadJsonElement.InvokeReturnAsIs($item) }) }
    $null
}
# A JSON number with none of these is a whole number (at most 18 characters
# always fits a long).
$script:JsonNotWhole = '.eE'.ToCharArray()
#endregion

$script:AzmiScriptBridge = $true
