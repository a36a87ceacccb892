# PowerShell's own logging never receives a token or a secret from this module.
# With module logging on (LogPipelineExecutionDetails, or the "ModuleLogging"
# policy), PowerShell logs every command a module runs, its own private
# functions included, with the text of every parameter value bound to it; on
# Linux it writes them to syslog (/dev/log). Here a socket of the test's own
# takes /dev/log's place and collects what a fresh pwsh writes while the module
# (and the built-in modules it calls) log everything, with the precompiled core
# and on the script path. Each test first checks that the log holds the
# module's commands (so it can fail), then that it holds no access token (nor
# any part of one), nothing JWT-shaped and no endpoint secret.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment

    # Why this machine cannot run the test, or $null. The socket is bound at
    # /dev/log only where nothing owns it (no syslog daemon): a test must not
    # take a running system's log away from it.
    $script:Why = $null
    if (-not $IsLinux) { $script:Why = 'PowerShell writes its log to syslog (/dev/log) only on Linux' }
    elseif (Test-Path -LiteralPath /dev/log) {
        # A socket file nobody listens on (left by a run that was killed) is free; a live one is a daemon's.
        $probe = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::Unix, [System.Net.Sockets.SocketType]::Dgram, [System.Net.Sockets.ProtocolType]::Unspecified)
        try {
            $probe.Connect([System.Net.Sockets.UnixDomainSocketEndPoint]::new('/dev/log'))
            $script:Why = '/dev/log belongs to a syslog daemon here; the test collects the log only where /dev/log is free'
        } catch [System.Net.Sockets.SocketException] {
            if ($_.Exception.SocketErrorCode -eq 'ConnectionRefused') { Remove-Item -LiteralPath /dev/log -Force }
            else { $script:Why = "/dev/log cannot be used here: $($_.Exception.Message)" }
        } finally {
            $probe.Dispose()
        }
    }
    $script:Collector = $null
    if (-not $script:Why) {
        Add-Type -TypeDefinition @'
using System;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Threading;

// Receives syslog datagrams on a thread of its own (a writer blocks when a
// datagram socket's queue is full, so it is drained while the test runs).
public sealed class AzmiSyslogCollector : IDisposable {
    private readonly Socket _socket;
    private readonly ConcurrentQueue<string> _lines = new ConcurrentQueue<string>();

    public AzmiSyslogCollector(string path) {
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        var thread = new Thread(Run) { IsBackground = true };
        thread.Start();
    }

    private void Run() {
        var buffer = new byte[65536];
        try {
            while (true) {
                int n = _socket.Receive(buffer);
                _lines.Enqueue(Encoding.UTF8.GetString(buffer, 0, n));
            }
        } catch (SocketException) {
        } catch (ObjectDisposedException) {
        }
    }

    public string Text { get { return string.Join("\n", _lines); } }

    public void Clear() { string ignored; while (_lines.TryDequeue(out ignored)) { } }

    public void Dispose() { _socket.Dispose(); }
}
'@
        try {
            $script:Collector = [AzmiSyslogCollector]::new('/dev/log')
        } catch {
            $script:Why = "cannot bind /dev/log here: $($_.Exception.Message)"
        }
    }
}

AfterAll {
    if ($script:Collector) {
        $script:Collector.Dispose()
        Remove-Item -LiteralPath /dev/log -Force -ErrorAction Ignore
    }
    Stop-AzManagedIdentityEndpoint -ErrorAction Ignore
    Remove-Module Azmi -Force -ErrorAction Ignore
}

Describe 'PowerShell module logging (LogPipelineExecutionDetails) and secrets' {
    BeforeAll {
        if (-not $script:Why) {
            $script:Endpoint = Start-AzManagedIdentityEndpoint -SetEnvironment
        }

        # Runs the scenario in a fresh pwsh (the same pwsh as this one; a dotnet
        # tool runs as 'dotnet pwsh.dll') with module logging on from its first
        # command, so the bridge's start, the first and later calls, -Verbose, a
        # piped call, -AsSecureString, Invoke-AzManagedRestMethod (a request that
        # fails too) and an endpoint of the session's own are all logged. The
        # session writes the tokens it got and its own endpoint's secret to a
        # file (a .NET call: no command, so nothing logged) for the checks
        # below, and returns that file's path.
        function Invoke-LoggedSession([switch] $NoCore) {
            $pwsh = [System.Environment]::ProcessPath
            [string[]] $prefix = if ((Split-Path $pwsh -Leaf) -like 'dotnet*') { Join-Path $PSHOME 'pwsh.dll' } else { @() }
            $tokens = Join-Path ([System.IO.Path]::GetTempPath()) ("azmi-logged-{0}.txt" -f [guid]::NewGuid())
            $module = Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1'
            $scenario = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$module'
Import-Module Microsoft.PowerShell.Utility, Microsoft.PowerShell.Management
foreach (`$m in Get-Module Azmi, Microsoft.PowerShell.Utility, Microsoft.PowerShell.Management) { `$m.LogPipelineExecutionDetails = `$true }
`$first = Get-AzManagedToken -Resource https://vault.azure.net -Verbose 4>`$null
`$piped = 'https://storage.azure.com' | Get-AzManagedToken
`$secure = Get-AzManagedToken -Resource https://management.azure.com -AsSecureString
`$keys = Invoke-AzManagedRestMethod -Uri '$($script:Endpoint.JwksUri)' -Resource https://vault.azure.net -Verbose 4>`$null
if (`$keys.keys.Count -lt 1) { throw 'no keys' }
# A request that fails: the error path cleans the token out of Invoke-RestMethod's records.
`$failed = `$false
try { Invoke-AzManagedRestMethod -Uri '$($script:Endpoint.Url)/no-such-path' -Resource https://vault.azure.net } catch { `$failed = `$true }
if (-not `$failed) { throw 'the request to a missing path did not fail' }
# An endpoint of this session's own: its secret reaches the bridge with the next request (the session's environment changed).
`$own = Start-AzManagedIdentityEndpoint -SetEnvironment
`$fromOwn = Get-AzManagedToken -Resource https://graph.microsoft.com
Stop-AzManagedIdentityEndpoint
[System.IO.File]::WriteAllLines('$tokens', [string[]](`$first.access_token, `$piped.access_token, [System.Net.NetworkCredential]::new('', `$secure.access_token).Password, `$fromOwn.access_token, `$own.Environment.IDENTITY_HEADER))
"@
            $saved = $env:AZMI_NO_CORE
            try {
                $env:AZMI_NO_CORE = if ($NoCore) { '1' } else { $null }
                $out = & $pwsh @prefix -NoProfile -NonInteractive -Command $scenario 2>&1
                if ($LASTEXITCODE -ne 0) { throw "the logged session failed: $out" }
            } finally {
                $env:AZMI_NO_CORE = $saved
            }
            $tokens
        }

        function Assert-NothingSecretLogged([string] $TokensFile) {
            $lines = [System.IO.File]::ReadAllLines($TokensFile)
            Remove-Item -LiteralPath $TokensFile -Force
            $lines.Count | Should -Be 5
            $tokens = $lines[0..3]
            $ownSecret = $lines[4]
            foreach ($t in $tokens) { $t.Length | Should -BeGreaterThan 100 }
            $ownSecret.Length | Should -BeGreaterThan 16
            Start-Sleep -Milliseconds 300 # the collector's thread drains the socket
            $text = $script:Collector.Text
            if ($env:AZMI_DUMP_SYSLOG) { Set-Content -LiteralPath $env:AZMI_DUMP_SYSLOG -Value $text }

            # The log was collected: the module's own commands and their parameters are in it.
            # (Booleans, not Should -Match on the text: a failure would print the whole log.)
            foreach ($pattern in @(
                    'CommandInvocation\(Get-AzManagedToken\)'
                    'ParameterBinding\(Get-AzManagedToken\): name="Resource"; value="https://vault\.azure\.net/?"'
                    'ParameterBinding\(Get-AzManagedToken\): name="AsSecureString"; value="True"'
                    'CommandInvocation\(Invoke-RestMethod\)'
                    'ParameterBinding\(Invoke-RestMethod\): name="Headers"'
                    'CommandInvocation\(Start-AzManagedIdentityEndpoint\)'
                )) {
                $text -match $pattern | Should -BeTrue -Because "the log should hold $pattern"
            }

            # No token (nor any part of one), nothing JWT-shaped, no endpoint secret.
            foreach ($t in $tokens) {
                foreach ($part in $t.Split('.')) {
                    $text.Contains($part) | Should -BeFalse -Because 'no part of an access token may reach the log'
                }
            }
            $text -match 'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}' | Should -BeFalse -Because "nothing JWT-shaped may reach the log (found: $(if ($Matches) { $Matches[0].Substring(0, 12) + '…' }))"
            $text.Contains($script:Endpoint.Environment.IDENTITY_HEADER) | Should -BeFalse -Because 'the endpoint''s secret header value must never reach the log'
            $text.Contains($ownSecret) | Should -BeFalse -Because 'the secret of the session''s own endpoint, sent to the bridge, must never reach the log'
        }
    }

    BeforeEach {
        if ($script:Collector) { $script:Collector.Clear() }
    }

    It 'with the precompiled core: the log holds the commands and their parameters, never a token, anything JWT-shaped or the endpoint''s secret' {
        if ($script:Why) { Set-ItResult -Skipped -Because $script:Why; return }
        Assert-NothingSecretLogged (Invoke-LoggedSession)
    }

    It 'on the script path (AZMI_NO_CORE=1): the same' {
        if ($script:Why) { Set-ItResult -Skipped -Because $script:Why; return }
        Assert-NothingSecretLogged (Invoke-LoggedSession -NoCore)
    }
}
