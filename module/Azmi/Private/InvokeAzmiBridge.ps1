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

function Invoke-AzmiBridge {
    # Sends one request to the session's bridge (starting it, or a fresh one
    # if the last one died or $env:AZMI_BRIDGE changed) and waits for the
    # answer with the same id, at most TimeoutSec.
    # Returns the response object (ok/result/error/report/log). Never throws
    # for bridge trouble: errors come back as ok = $false with a condition.
    # A simple function (no [Parameter()] attributes): cheaper to bind.
    param([string] $Op, [System.Collections.IDictionary] $Params, [double] $TimeoutSec = 30, [bool] $WantVerbose = $false)
    # This is the hot path of every cmdlet: it calls no other function and no
    # cmdlet unless something is wrong (each costs a tenth of a millisecond).
    $launchPath = [System.Environment]::GetEnvironmentVariable('AZMI_BRIDGE')
    if (-not $launchPath) { $launchPath = $script:DefaultBridgePath }
    $launch = $null
    # A token answer may be reused for an identical request while the
    # environment is unchanged, for as long as the bridge said (leaseMs; the
    # policy is the core's). -Verbose and -Force always ask the bridge.
    $leaseKey = $null
    if ($Op -eq 'token' -and -not $WantVerbose -and -not $Params['forceRefresh'] -and -not [System.Environment]::GetEnvironmentVariable('AZMI_NO_LEASE')) {
        $leaseKey = ''
        foreach ($entry in $Params.GetEnumerator()) { $leaseKey += "$($entry.Key)=$($entry.Value -join ',');" }
    }
    for ($attempt = 0; ; $attempt++) {
        $bridge = $script:Bridge
        if ($null -ne $bridge -and ($bridge.Process.HasExited -or $bridge.Path -ne $launchPath)) {
            if ($bridge.Process.HasExited) { Write-Verbose "azmi bridge (pid $($bridge.Process.Id)) had exited; starting a new one." }
            Stop-AzmiBridge -GraceMs 0
            $bridge = $null
        }
        if ($null -eq $bridge) {
            $launch = Get-AzmiBridgeLaunch
            $bridge = Start-AzmiBridge -Launch $launch
            if ($bridge.condition) {
                return New-AzmiBridgeFault -Condition $bridge.condition -Message $bridge.message -RecommendedAction $bridge.recommendedAction -Name $bridge.name
            }
            $script:Bridge = $bridge
            $script:Leases.Clear()
            Write-Verbose "Started azmi bridge: pid $($bridge.Process.Id), $($launch.Path)."
        }

        # The session's environment travels when it differs from what the
        # bridge has: a script that sets $env:MSI_ENDPOINT (or -SetEnvironment)
        # after the bridge started must be seen by the next call.
        $envDelta = [System.Environment]::GetEnvironmentVariables()
        $sent = $bridge.SentEnv
        if ($envDelta.Count -eq $sent.Count) {
            $same = $true
            foreach ($key in $envDelta.Keys) { if ($sent[$key] -cne $envDelta[$key]) { $same = $false; break } }
            if ($same) { $envDelta = $null }
        }
        if ($null -ne $envDelta) {
            $script:Leases.Clear()
        } elseif ($null -ne $leaseKey) {
            $lease = $script:Leases[$leaseKey]
            if ($null -ne $lease -and $lease.Until -gt [System.Environment]::TickCount64) {
                # expires_in is "seconds left at return time", as the core computes it.
                $result = $lease.Response.result
                $result.expires_in = [string]([long]$result.expires_on - [System.DateTimeOffset]::UtcNow.ToUnixTimeSeconds())
                return $lease.Response
            }
        }
        $id = $bridge.NextId
        $bridge.NextId = $id + 1
        $request = [ordered]@{ id = $id; op = $Op }
        if ($Params) { $request.params = $Params }
        if ($null -ne $envDelta) { $request.env = $envDelta }
        if ($WantVerbose) { $request.verbose = $true }
        $line = ConvertTo-AzmiJsonObject $request
        try {
            $bridge.Process.StandardInput.Write($line + "`n")
            $bridge.Process.StandardInput.Flush()
            break
        } catch {
            # It died after the check above, before reading this request, so
            # the request is safe to send again: once, to a fresh bridge.
            Stop-AzmiBridge -GraceMs 0
            if ($attempt -ge 1) {
                return New-AzmiBridgeFault -Condition 'BridgeFailed' -Message "The azmi bridge stopped accepting requests ($($_.Exception.Message))." `
                    -RecommendedAction 'Run the command again; if it keeps failing, run ''node dist/src/bridge/main.js'' by hand to see why it exits.'
            }
        }
    }
    if ($null -ne $envDelta) { $bridge.SentEnv = $envDelta }

    $waitSec = $TimeoutSec + $script:BridgeSlackSec
    $limitMs = [long]($waitSec * 1000)
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    if (-not $bridge.Hello) { $limitMs = [long]($script:BridgeStartSec * 1000) }
    while ($true) {
        if ($null -eq $bridge.ReadTask) { $bridge.ReadTask = $bridge.Process.StandardOutput.ReadLineAsync() }
        $task = $bridge.ReadTask
        try {
            # Short waits keep Ctrl+C working; a stale answer to an
            # interrupted call is skipped below by its id.
            while (-not $task.Wait(100)) {
                if ($clock.ElapsedMilliseconds -ge $limitMs) {
                    Stop-AzmiBridge -GraceMs 0
                    return New-AzmiBridgeFault -Condition 'Timeout' -Name 'TimeoutError' `
                        -Message $(if ($bridge.Hello) { "The azmi bridge did not answer '$Op' within $waitSec s; it was stopped and the next call starts a new one." }
                                   else { "The azmi bridge ($launchPath) did not start within $($script:BridgeStartSec) s; it was stopped and the next call tries again." }) `
                        -RecommendedAction 'Raise -TimeoutSec, or run Get-AzManagedIdentityChain -Verbose to see which link is slow.'
                }
            }
            $text = $task.Result
        } catch {
            $text = $null
        }
        $bridge.ReadTask = $null

        if ($null -eq $text) {
            $process = $bridge.Process
            $null = $process.WaitForExit(1000)
            $exit = if ($process.HasExited) { "exit code $($process.ExitCode)" } else { 'still running' }
            $tail = Get-AzmiBridgeStderrTail -Bridge $bridge
            Stop-AzmiBridge -GraceMs 0
            $detail = if ($tail) { " Its last output: $tail" } else { '' }
            return New-AzmiBridgeFault -Condition 'BridgeFailed' -Name 'BridgeExited' `
                -Message "The azmi bridge ended ($exit) before answering '$Op'; the next call starts a new one.$detail" `
                -RecommendedAction 'Run the command again; if it keeps failing, run ''node dist/src/bridge/main.js'' by hand to see why it exits.'
        }

        $message = $null
        # Only a line that looks like an object is parsed: an exception, even
        # caught here, would land in the caller's -ErrorVariable.
        $text = $text.Trim()
        if ($text.Length -gt 1 -and $text[0] -eq '{' -and $text[-1] -eq '}') {
            try {
                $document = [System.Text.Json.JsonDocument]::Parse($text)
                try { $message = ConvertFrom-AzmiJsonElement $document.RootElement } finally { $document.Dispose() }
            } catch { }
        }
        $valid = $message -is [System.Management.Automation.PSCustomObject] -and $message.id -is [long]
        if ($valid -and -not $bridge.Hello) {
            # The first line must be the bridge's hello: anything else is a
            # program that is not the azmi bridge.
            $valid = $message.id -eq 0 -and $message.ok -and $message.result.hello -eq 'azmi-bridge'
            if ($valid) {
                $bridge.Hello = $true
                # The call's own budget starts once the bridge is up.
                $limitMs = $clock.ElapsedMilliseconds + [long]($waitSec * 1000)
                continue
            }
        }
        if (-not $valid) {
            Stop-AzmiBridge -GraceMs 0
            return New-AzmiBridgeFault -Condition 'BridgeProtocolError' -Name 'BridgeProtocolError' `
                -Message "The program at '$launchPath' is not the azmi bridge: it answered with a line ($($text.Length) characters) that is not azmi's JSON-lines protocol." `
                -RecommendedAction 'Point $env:AZMI_BRIDGE at dist/src/bridge/main.js of an azmi build, or remove $env:AZMI_BRIDGE to use the default.'
        }
        if ($message.id -eq $id) {
            if ($null -ne $leaseKey -and $message.ok -and $message.leaseMs -gt 0) {
                if ($script:Leases.Count -ge 256) { $script:Leases.Clear() }
                $script:Leases[$leaseKey] = @{ Response = $message; Until = [System.Environment]::TickCount64 + [long]$message.leaseMs }
            }
            return $message
        }
    }
}
