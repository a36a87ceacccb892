# Starting and stopping the one Node bridge process this session uses.
# The bridge exits by itself when its stdin closes, so a PowerShell session
# that ends (even by a crash) never leaves it behind.

function Get-AzmiBridgeLaunch {
    # Where the bridge is and how to run it: $env:AZMI_BRIDGE wins, else the
    # compiled entry next to this module in the azmi package.
    $path = $env:AZMI_BRIDGE
    if (-not $path) { $path = $script:DefaultBridgePath }
    [pscustomobject]@{ Path = $path; UsesNode = $path -match '\.(c|m)?js$' }
}

function Start-AzmiBridge {
    # Returns the bridge state hashtable, or a wire-style error hashtable
    # (code/name/message/condition) when it cannot start.
    param([Parameter(Mandatory)] $Launch)

    if (-not [System.IO.File]::Exists($Launch.Path)) {
        $hint = if ($env:AZMI_BRIDGE) { 'Point $env:AZMI_BRIDGE at dist/src/bridge/main.js of an azmi build, or remove it to use the default.' }
                else { 'Build azmi first (npm install, then npm run build in the package folder), or set $env:AZMI_BRIDGE to dist/src/bridge/main.js.' }
        return @{ condition = 'BridgeNotFound'; code = 'ERR_BRIDGE'; name = 'BridgeNotFound'
                  message = "The azmi bridge was not found at '$($Launch.Path)'."; recommendedAction = $hint }
    }

    $psi = [System.Diagnostics.ProcessStartInfo]::new()
    if ($Launch.UsesNode) {
        $node = $env:AZMI_NODE
        if (-not $node) {
            # A plain PATH walk: command discovery (Get-Command) costs the
            # first call of a session tens of milliseconds.
            $names = if ($IsWindows) { 'node.exe' } else { 'node' }
            foreach ($dir in ($env:PATH -split [System.IO.Path]::PathSeparator)) {
                if ($dir -and [System.IO.File]::Exists(($candidate = [System.IO.Path]::Combine($dir, $names)))) { $node = $candidate; break }
            }
        }
        if (-not $node -or -not [System.IO.File]::Exists($node)) {
            return @{ condition = 'NodeNotFound'; code = 'ERR_BRIDGE'; name = 'NodeNotFound'
                      message = 'Node.js was not found: the Azmi module runs its token logic in Node.js 20 or later, and no ''node'' is on PATH' + $(if ($env:AZMI_NODE) { " (`$env:AZMI_NODE is '$env:AZMI_NODE')" } else { '' }) + '.'
                      recommendedAction = 'Install Node.js 20 or later (https://nodejs.org or your package manager, e.g. apt-get install nodejs) and make sure ''node'' is on PATH, or set $env:AZMI_NODE to the node executable.' }
        }
        $psi.FileName = $node
        $psi.ArgumentList.Add($Launch.Path)
    } else {
        $psi.FileName = $Launch.Path
    }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.CreateNoWindow = $true
    $utf8 = [System.Text.UTF8Encoding]::new($false)
    $psi.StandardInputEncoding = $utf8
    $psi.StandardOutputEncoding = $utf8
    $psi.StandardErrorEncoding = $utf8
    # What the child inherits is the session's environment as of now; later
    # changes travel with requests (see Get-AzmiEnvironmentDelta).
    $sentEnv = [System.Environment]::GetEnvironmentVariables()

    $started = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        $process = [System.Diagnostics.Process]::Start($psi)
    } catch {
        return @{ condition = 'BridgeFailed'; code = 'ERR_BRIDGE'; name = 'BridgeStartFailed'
                  message = "The azmi bridge could not be started ($($psi.FileName)): $($_.Exception.Message)"
                  recommendedAction = 'Check that the file exists and is executable, or unset $env:AZMI_BRIDGE.' }
    }
    $process.StandardInput.AutoFlush = $false
    @{
        Process   = $process
        Path      = $Launch.Path
        NextId    = 1
        SentEnv   = $sentEnv
        Hello     = $false
        ReadTask  = $null
        # Drained in the background so a chatty stderr can never fill its
        # pipe and block the bridge; read only to explain a crash.
        ErrorTask = $process.StandardError.ReadToEndAsync()
        StartMs   = $started.Elapsed.TotalMilliseconds
    }
}

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
    $kept = @($text.TrimEnd() -split "\r?\n" | Where-Object { $_.Trim() -and $_ -notmatch '^\s+at ' -and $_ -notmatch '^Node\.js v' })
    $tail = ($kept | Select-Object -Last $Lines) -join ' | '
    if ($tail.Length -gt 1500) { $tail = $tail.Substring($tail.Length - 1500) }
    ConvertTo-AzmiRedactedText $tail
}

function ConvertTo-AzmiRedactedText {
    # Anything shaped like a JWT or a bearer value is removed before text
    # from outside (stderr of a crashed process) reaches an error message.
    param([string] $Text)
    $Text -replace 'eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*', '[REDACTED]' `
          -replace '(?i)(bearer\s+)[^\s"'',]+', '$1[REDACTED]' `
          -replace '(?i)("?(access_token|refresh_token|client_secret|secret|password|x-identity-header|identity_header)"?\s*[:=]\s*"?)[^"&\s,}]+', '$1[REDACTED]'
}
