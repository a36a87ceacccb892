# The persistent Node bridge: started once, restarted after a crash, never
# hangs, explains what is missing, stops with the module and the session.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $env:MSI_ENDPOINT = $fake.MsiEndpoint
    $script:support = Join-Path $PSScriptRoot 'support'
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe 'The bridge process' {
    BeforeEach {
        $env:AZMI_BRIDGE = $null
        $env:AZMI_NODE = $null
        $env:MSI_ENDPOINT = $fake.MsiEndpoint
    }

    It 'is one process per session, reused across calls' {
        $null = Get-AzManagedToken https://vault.azure.net
        $first = Get-AzmiBridgeProcessId
        $first | Should -Not -BeNullOrEmpty
        $null = Get-AzManagedToken https://storage.azure.com
        $null = Get-AzManagedIdentityChain -Resource https://vault.azure.net
        Get-AzmiBridgeProcessId | Should -Be $first
    }

    It 'sees environment changes made after it started' {
        $null = Get-AzManagedToken https://vault.azure.net
        $env:MSI_ENDPOINT = 'http://127.0.0.1:9/oauth2/token'   # dead port now
        $err = $null
        $null = Get-AzManagedToken https://env-change.example.com -Source managed-identity -ErrorAction SilentlyContinue -ErrorVariable err
        $err.Count | Should -Be 1
        $env:MSI_ENDPOINT = $fake.MsiEndpoint
        (Get-AzManagedToken https://env-change.example.com).resource | Should -BeExactly 'https://env-change.example.com'
    }

    It 'answers an identical request within the bridge''s lease without a round trip, and -Force always asks' {
        $first = Get-AzManagedToken https://lease.example.com
        $sent = & (Get-Module Azmi) { $script:Bridge.NextId }
        $before = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
        $again = Get-AzManagedToken https://lease.example.com
        $after = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
        & (Get-Module Azmi) { $script:Bridge.NextId } | Should -Be $sent
        $again.access_token | Should -BeExactly $first.access_token
        [int]$again.expires_in | Should -BeLessOrEqual ([int]$first.expires_in)
        # Recomputed at return time: somewhere between the clock before and after the call
        # (a fixed "now" read after the call flakes when the second ticks over in between).
        [long]$again.expires_in | Should -BeGreaterOrEqual ([long]$again.expires_on - $after) -Because 'expires_in is recomputed at return time'
        [long]$again.expires_in | Should -BeLessOrEqual ([long]$again.expires_on - $before) -Because 'expires_in is recomputed at return time'

        $null = Get-AzManagedToken https://lease.example.com -Force
        & (Get-Module Azmi) { $script:Bridge.NextId } | Should -Be ($sent + 1)
        $null = Get-AzManagedToken https://lease.example.com -ClientId 11111111-2222-3333-4444-555555555555 -ErrorAction SilentlyContinue
        & (Get-Module Azmi) { $script:Bridge.NextId } | Should -Be ($sent + 2) -Because 'other parameters are another request'
    }

    It 'is restarted on the next call after it was killed' {
        $null = Get-AzManagedToken https://vault.azure.net
        $old = Get-AzmiBridgeProcessId
        $process = Get-Process -Id $old
        $process.Kill()
        $process.WaitForExit(5000) | Should -BeTrue
        $token = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop
        $token.resource | Should -BeExactly 'https://vault.azure.net'
        $new = Get-AzmiBridgeProcessId
        $new | Should -Not -BeNullOrEmpty
        $new | Should -Not -Be $old
    }

    It 'reports a program that answers garbage clearly, without hanging' {
        $null = Get-AzManagedToken https://vault.azure.net
        $env:AZMI_BRIDGE = Join-Path $support 'garbageBridge.js'
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $err = $null
        $null = Get-AzManagedToken https://vault.azure.net -ErrorAction SilentlyContinue -ErrorVariable err
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 15
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenBridgeProtocolError,Get-AzManagedToken'
        $err[0].CategoryInfo.Category | Should -Be 'ProtocolError'
        $err[0].Exception.Message | Should -Match 'not the azmi bridge'
        $err[0].Exception.Message | Should -Match ([regex]::Escape('garbageBridge.js'))
        $err[0].ErrorDetails.RecommendedAction | Should -Match 'AZMI_BRIDGE'
        Get-AzmiBridgeProcessId | Should -BeNullOrEmpty

        # Back to the real bridge: works again.
        $env:AZMI_BRIDGE = $null
        (Get-AzManagedToken https://vault.azure.net).resource | Should -BeExactly 'https://vault.azure.net'
    }

    It 'accepts a hello with its keys in another order (the slow path of the hello check)' {
        $env:AZMI_BRIDGE = Join-Path $support 'reorderedBridge.js'
        try {
            $token = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop
            $token.resource | Should -BeExactly 'https://vault.azure.net'
            $token.token_type | Should -BeExactly 'Bearer'
            $token.ExpiresOn | Should -BeOfType [System.DateTimeOffset]
        } finally {
            $env:AZMI_BRIDGE = $null
        }
        (Get-AzManagedToken https://vault.azure.net).resource | Should -BeExactly 'https://vault.azure.net'
    }

    It 'reports a bridge that dies mid-call, with its exit code and message, and starts a new one next time' {
        $env:AZMI_BRIDGE = Join-Path $support 'crashingBridge.js'
        $record = $null
        try { Get-AzManagedToken https://vault.azure.net -ErrorAction Stop } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenBridgeFailed,Get-AzManagedToken'
        $record.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $record.Exception.Message | Should -Match 'exit code 3'
        $record.Exception.Message | Should -Match 'boom, the bridge broke'
        $record.Exception.Message | Should -Not -Match '    at '
        $env:AZMI_BRIDGE = $null
        (Get-AzManagedToken https://vault.azure.net).resource | Should -BeExactly 'https://vault.azure.net'
    }

    It 'quotes no secret of the request a dying bridge echoed to stderr (<Case>)' -TestCases @(
        @{ Case = 'the request''s JSON'; Cut = 0; Format = 'json' }
        @{ Case = 'cut inside a secret''s name'; Cut = 16; Format = 'json' }
        @{ Case = 'as Node prints an object, values in single quotes'; Cut = 0; Format = 'inspect' }
        @{ Case = 'as a shell prints its environment, unquoted'; Cut = 0; Format = 'env' }
    ) {
        # A password may hold spaces and commas; the quoted JSON value is
        # redacted whole. A secret may start with '[' (only '[REDACTED]' itself is left alone). The error quotes at most the last 1500 characters,
        # redacted before they are cut: a name cut in half still hides its value.
        $secrets = [ordered]@{
            AZURE_CLIENT_SECRET = '[client~secret.value-0123456789'
            AZURE_PASSWORD      = 'Pa55 W0rd, Zq}Xy&Vv'
            IDENTITY_HEADER     = 'identity-header-value-abcdef'
            MSI_SECRET          = 'msi-secret-value-ghijkl'
        }
        foreach ($entry in $secrets.GetEnumerator()) { [System.Environment]::SetEnvironmentVariable($entry.Key, $entry.Value) }
        $env:AZMI_TEST_ECHO_NAMES = $secrets.Keys -join ','
        $env:AZMI_TEST_ECHO_CUT = $Cut
        $env:AZMI_TEST_ECHO_FORMAT = $Format
        $env:AZMI_BRIDGE = Join-Path $support 'echoingBridge.js'
        try {
            $record = $null
            try { Get-AzManagedToken https://vault.azure.net -ErrorAction Stop } catch { $record = $_ }
            $record.FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenBridgeFailed,Get-AzManagedToken'
            $record.Exception.Message | Should -Match 'exit code 3'
            $record.Exception.Message | Should -Match '\[REDACTED\]' -Because 'the echo is quoted, redacted'
            $text = ($record | Format-List * -Force | Out-String -Width 8192) + $record.Exception.Message + $record.ErrorDetails.RecommendedAction
            foreach ($value in $secrets.Values) {
                foreach ($part in @($value) + @($value -split '[ ,}]' | Where-Object Length -GE 4)) {
                    $text.Contains($part) | Should -BeFalse -Because "no part of a secret may be quoted ('$part')"
                }
            }
        } finally {
            foreach ($name in $secrets.Keys) { [System.Environment]::SetEnvironmentVariable($name, $null) }
            $env:AZMI_TEST_ECHO_NAMES = $env:AZMI_TEST_ECHO_CUT = $env:AZMI_TEST_ECHO_FORMAT = $null
            $env:AZMI_BRIDGE = $null
        }
    }

    It 'turns a failed exchange with the bridge started at import into its error once, without sending again (<Name>)' -TestCases @(
        @{ Name = 'crashingBridge.js'; Id = 'GetAzManagedTokenBridgeFailed'; TimeoutSec = 30 }
        @{ Name = 'silentBridge.js'; Id = 'GetAzManagedTokenTimeout'; TimeoutSec = 1 }
        @{ Name = 'garbageBridge.js'; Id = 'GetAzManagedTokenBridgeProtocolError'; TimeoutSec = 30 }
    ) {
        # The bridge the module starts at import is the one the first call's
        # precompiled path talks to; when that exchange fails, the script side
        # must build the fault from what happened, not send the request again.
        $log = Join-Path $TestDrive "$Name.log"
        $env:AZMI_TEST_BRIDGE_LOG = $log
        $env:AZMI_BRIDGE = Join-Path $support $Name
        try {
            Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
            { Get-AzManagedToken https://vault.azure.net -TimeoutSec $TimeoutSec -ErrorAction Stop } | Should -Throw -ErrorId "$Id,Get-AzManagedToken"
            $lines = @(Get-Content -LiteralPath $log)
            @($lines -like 'start *').Count | Should -Be 1 -Because 'the bridge started at import is the one asked'
            # At most one: the garbage bridge can be stopped before it logs the line it got.
            @($lines -like 'request *').Count | Should -BeLessOrEqual 1 -Because 'a failed exchange is reported, not repeated'
        } finally {
            $env:AZMI_TEST_BRIDGE_LOG = $null
            $env:AZMI_BRIDGE = $null
            Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
        }
    }

    It 'times out a bridge that never answers, within -TimeoutSec plus slack' {
        $env:AZMI_BRIDGE = Join-Path $support 'silentBridge.js'
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $record = $null
        try { Get-AzManagedToken https://vault.azure.net -TimeoutSec 1 -ErrorAction Stop } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenTimeout,Get-AzManagedToken'
        # The wait is -TimeoutSec plus slack: the message names both, so 3 s does not read as a misread -TimeoutSec 1.
        $record.Exception.Message | Should -Match "did not answer 'token' within 3 s \(the call's 1 s, and 2 s for the bridge itself\)"
        # 1 s + 2 s slack; generous bound for a loaded machine.
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 15
        Get-AzmiBridgeProcessId | Should -BeNullOrEmpty
    }

    It 'says so, and how to fix it, when the bridge is not built' {
        $env:AZMI_BRIDGE = Join-Path $TestDrive 'missing/main.js'
        $record = $null
        try { Get-AzManagedToken https://vault.azure.net -ErrorAction Stop } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenBridgeNotFound,Get-AzManagedToken'
        $record.CategoryInfo.Category | Should -Be 'NotInstalled'
        $record.Exception.Message | Should -Match 'missing/main\.js'
    }

    It 'says that Node.js is missing, and how to fix it' {
        Stop-AzmiTestBridge
        $env:AZMI_NODE = Join-Path $TestDrive 'no-such-node'
        $record = $null
        # Terminating even with SilentlyContinue: nothing can work without Node.
        try { Get-AzManagedToken https://vault.azure.net -ErrorAction SilentlyContinue } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenNodeNotFound,Get-AzManagedToken'
        $record.CategoryInfo.Category | Should -Be 'NotInstalled'
        $record.Exception.Message | Should -Match 'Node\.js'
        $record.ErrorDetails.RecommendedAction | Should -Match 'Install Node\.js 20'
        $record.ErrorDetails.RecommendedAction | Should -Match 'AZMI_NODE'
    }

    It 'blames $env:AZMI_NODE, not $env:AZMI_BRIDGE, when the program it names answers garbage (echo)' {
        $echo = (Get-Command echo -CommandType Application -ErrorAction Ignore | Select-Object -First 1).Source
        if (-not $echo) { Set-ItResult -Skipped -Because 'no echo(1) on this machine'; return }
        Stop-AzmiTestBridge
        $env:AZMI_NODE = $echo
        try {
            $record = $null
            try { Get-AzManagedToken https://vault.azure.net -ErrorAction Stop } catch { $record = $_ }
            $record.FullyQualifiedErrorId | Should -BeIn 'GetAzManagedTokenBridgeProtocolError,Get-AzManagedToken', 'GetAzManagedTokenBridgeFailed,Get-AzManagedToken'
            $record.ErrorDetails.RecommendedAction | Should -Match ([regex]::Escape("AZMI_NODE is '$echo'"))
        } finally {
            $env:AZMI_NODE = $null
            Stop-AzmiTestBridge
        }
    }

    It 'explains a node that exits at once (a wrong $env:AZMI_NODE): its exit code and the command to run by hand' {
        # A program that exits with code 1 before reading anything: the
        # request cannot even be written to it (a broken pipe), or it is and
        # the answer never comes; either way the user must learn what ran.
        $exits = (Get-Command false -CommandType Application -ErrorAction Ignore | Select-Object -First 1).Source
        if (-not $exits) { Set-ItResult -Skipped -Because 'no false(1) on this machine'; return }
        Stop-AzmiTestBridge
        $env:AZMI_NODE = $exits
        # Three calls, so that both orders of the race (write first, or exit first) are likely seen.
        foreach ($call in 1..3) {
            $record = $null
            try { Get-AzManagedToken https://vault.azure.net -ErrorAction Stop } catch { $record = $_ }
            $record.FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenBridgeFailed,Get-AzManagedToken'
            $record.Exception.Message | Should -Match 'exit code 1'
            $record.Exception.Message | Should -Match ([regex]::Escape($exits))
            $record.Exception.Message | Should -Not -Match 'Exception calling|Broken pipe'
            $record.ErrorDetails.RecommendedAction | Should -Match ([regex]::Escape("'$exits'"))
            $record.ErrorDetails.RecommendedAction | Should -Match 'AZMI_NODE'
        }
        $env:AZMI_NODE = $null
        (Get-AzManagedToken https://vault.azure.net).resource | Should -BeExactly 'https://vault.azure.net'
    }

    It 'finds no node on an empty PATH, with the same error' {
        Stop-AzmiTestBridge
        $path = $env:PATH
        try {
            $env:PATH = $TestDrive
            { Get-AzManagedToken https://vault.azure.net } | Should -Throw -ErrorId 'GetAzManagedTokenNodeNotFound,Get-AzManagedToken'
        } finally {
            $env:PATH = $path
        }
    }

    It 'stops when the module is removed' {
        $null = Get-AzManagedToken https://vault.azure.net
        $process = Get-Process -Id (Get-AzmiBridgeProcessId)
        Remove-Module Azmi -Force
        $process.WaitForExit(10000) | Should -BeTrue
        Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    }

    It 'stops when the PowerShell session ends' {
        $pwsh = [System.Environment]::ProcessPath
        [string[]] $prefix = if ((Split-Path $pwsh -Leaf) -like 'dotnet*') { Join-Path $PSHOME 'pwsh.dll' } else { @() }
        $module = Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1'
        $script = "Import-Module '$module'; `$null = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop; & (Get-Module Azmi) { `$script:Bridge.Process.Id }"
        $childPid = & $pwsh @prefix -NoProfile -NonInteractive -Command $script | Select-Object -Last 1
        $childPid | Should -Match '^\d+$'
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ((Get-Process -Id $childPid -ErrorAction Ignore) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-Process -Id $childPid -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'answers ping over the wire protocol with a hello first' {
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Source
        $bridge = Join-Path (Get-AzmiRepoRoot) 'dist/src/bridge/main.js'
        $lines = @('{"id":7,"op":"ping"}', '{"id":8,"op":"nope"}' | & $node $bridge 2>&1)
        $lines.Count | Should -Be 3 -Because "the bridge wrote: $($lines -join ' | ')"
        $hello = $lines[0] | ConvertFrom-Json
        $hello.id | Should -Be 0
        $hello.result.hello | Should -Be 'azmi-bridge'
        $answers = $lines[1..2] | ConvertFrom-Json | Sort-Object id
        $answers[0].id | Should -Be 7
        $answers[0].ok | Should -BeTrue
        $answers[0].result.pong | Should -BeTrue
        $answers[1].ok | Should -BeFalse
        $answers[1].error.code | Should -Be 'ERR_INVALID_ARGUMENT'
    }
}
