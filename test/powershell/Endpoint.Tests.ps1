# The local endpoint (azmi serve) from PowerShell: the Cloud Shell script's
# Invoke-RestMethod and Get-AzManagedToken agree against it too, and
# -SetEnvironment / Stop put the session back as it was.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment

    function ConvertFrom-Jwt([string] $Token) {
        $part = $Token.Split('.')[1].Replace('-', '+').Replace('_', '/')
        $part += '=' * ((4 - $part.Length % 4) % 4)
        [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($part)) | ConvertFrom-Json
    }
}

AfterAll {
    Stop-AzManagedIdentityEndpoint -ErrorAction Ignore
    Remove-Module Azmi -Force -ErrorAction Ignore
}

Describe 'Start-AzManagedIdentityEndpoint / Stop-AzManagedIdentityEndpoint' {
    BeforeEach { Reset-AzmiTestEnvironment }
    AfterEach { Stop-AzManagedIdentityEndpoint -ErrorAction Ignore }

    It 'takes its parameters by name only (a stray positional value is an error, not a port)' {
        { Start-AzManagedIdentityEndpoint 8080 -WhatIf } | Should -Throw -ErrorId 'PositionalParameterNotFound,Start-AzManagedIdentityEndpoint'
    }

    It 'starts nothing with -WhatIf' {
        $out = Start-AzManagedIdentityEndpoint -SetEnvironment -WhatIf
        $out | Should -BeNullOrEmpty
        $env:IDENTITY_ENDPOINT | Should -BeNullOrEmpty
        & (Get-Module Azmi) { $script:Endpoints.Count } | Should -Be 0
    }

    It 'returns the URL and, per dialect, the variables that point a client at it' {
        $ep = Start-AzManagedIdentityEndpoint
        $ep.PSObject.TypeNames[0] | Should -Be 'Azmi.ManagedIdentityEndpoint'
        $ep.Url | Should -Match '^http://127\.0\.0\.1:\d+$'
        $ep.Port | Should -BeGreaterThan 0
        $ep.Dialect | Should -Be 'AppService'
        $ep.Environment.IDENTITY_ENDPOINT | Should -BeLike "$($ep.Url)/*"
        $ep.Environment.IDENTITY_HEADER | Should -Not -BeNullOrEmpty
        $ep.Dialects.CloudShell.MSI_ENDPOINT | Should -BeLike "$($ep.Url)/*"
        $ep.Dialects.Imds.AZURE_POD_IDENTITY_AUTHORITY_HOST | Should -Be $ep.Url
        $ep.IssuerUrl | Should -BeLike "$($ep.Url)/*"
        $ep.EnvironmentSet | Should -BeFalse
        $env:IDENTITY_ENDPOINT | Should -BeNullOrEmpty
    }

    It 'Cloud Shell dialect: the docs'' Invoke-RestMethod POST and Get-AzManagedToken return the same' {
        $ep = Start-AzManagedIdentityEndpoint -Dialect CloudShell -SetEnvironment
        $ep.EnvironmentSet | Should -BeTrue
        $env:MSI_ENDPOINT | Should -Be $ep.Environment.MSI_ENDPOINT

        $rest = Invoke-RestMethod -Method POST -Uri $env:MSI_ENDPOINT -Headers @{ Metadata = 'true' } -Body @{ resource = 'https://vault.azure.net' }
        $token = Get-AzManagedToken -Resource https://vault.azure.net
        Compare-AzmiTokenWithRestMethod $rest $token | Should -BeNullOrEmpty
        $claims = ConvertFrom-Jwt $token.access_token
        $claims.aud | Should -Be 'https://vault.azure.net'
        $claims.iss | Should -Be $ep.IssuerUrl
        $token.ExpiresOn | Should -Be ([System.DateTimeOffset]::FromUnixTimeSeconds($claims.exp))
    }

    It 'App Service dialect: Invoke-RestMethod with the identity header and Get-AzManagedToken return the same' {
        $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
        $rest = Invoke-RestMethod -Uri "$env:IDENTITY_ENDPOINT`?api-version=2019-08-01&resource=https%3A%2F%2Fstorage.azure.com" -Headers @{ 'X-IDENTITY-HEADER' = $env:IDENTITY_HEADER }
        $token = Get-AzManagedToken -Scope https://storage.azure.com/.default
        # App Service sends client_id and no refresh_token; azmi's object always has refresh_token ('').
        $diff = @(Compare-AzmiTokenWithRestMethod $rest $token)
        $diff | Should -Be @("extra on the token: refresh_token (''), which Invoke-RestMethod's answer does not have")
        $token.client_id | Should -Be $ep.SystemClientId
        (Get-AzManagedIdentityChain -Resource https://storage.azure.com | Where-Object Winner).Link | Should -Be 'managed-identity'
    }

    It 'serves user-assigned identities with -AcceptAnyIdentity' {
        $null = Start-AzManagedIdentityEndpoint -SetEnvironment -AcceptAnyIdentity
        $clientId = '0d6e3c1a-5b7f-4e2a-9c3d-1f2e3a4b5c6d'
        $token = Get-AzManagedToken https://vault.azure.net -ClientId $clientId
        $token.client_id | Should -Be $clientId
        (ConvertFrom-Jwt $token.access_token).appid | Should -Be $clientId
    }

    It 'forwards to the session''s chain with -Issuer Chain (here: a Cloud Shell endpoint)' {
        $fake = Start-CloudShellFake
        try {
            $env:MSI_ENDPOINT = $fake.MsiEndpoint
            $ep = Start-AzManagedIdentityEndpoint -Issuer Chain -SetEnvironment
            $env:MSI_ENDPOINT | Should -BeNullOrEmpty -Because '-SetEnvironment clears the other dialects'
            $env:IDENTITY_ENDPOINT | Should -Be $ep.Environment.IDENTITY_ENDPOINT
            $token = Get-AzManagedToken https://vault.azure.net -Source managed-identity
            $direct = Invoke-RestMethod -Uri "$($fake.MsiEndpoint)?resource=https%3A%2F%2Fvault.azure.net" -Headers @{ Metadata = 'true' }
            $token.access_token | Should -BeExactly $direct.access_token
            $token.expires_on | Should -BeExactly $direct.expires_on
            @(Get-CloudShellFakeRequests $fake | Where-Object method -eq 'POST').Count | Should -BeGreaterOrEqual 1
            # .NET's own client (an IPv6 socket to ::ffff:127.0.0.1) is this user's process too: the chain
            # server's per-user gate must let it in (it was refused with 403 before tcp6 was searched).
            $viaDotNet = Invoke-RestMethod -Uri "$($ep.Environment.IDENTITY_ENDPOINT)?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net" -Headers @{ 'X-IDENTITY-HEADER' = $ep.Environment.IDENTITY_HEADER }
            $viaDotNet.access_token | Should -BeExactly $direct.access_token
        } finally {
            Stop-AzManagedIdentityEndpoint
            $env:MSI_ENDPOINT | Should -Be $fake.MsiEndpoint -Because 'Stop puts the session back'
            Stop-CloudShellFake $fake
        }
    }

    It 'puts the environment back on Stop, and the endpoint is gone' {
        $env:MSI_ENDPOINT = 'http://127.0.0.1:9/previous'
        $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
        $env:IDENTITY_ENDPOINT | Should -Be $ep.Environment.IDENTITY_ENDPOINT
        $env:MSI_ENDPOINT | Should -BeNullOrEmpty
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST | Should -BeNullOrEmpty

        $ep | Stop-AzManagedIdentityEndpoint
        $env:MSI_ENDPOINT | Should -Be 'http://127.0.0.1:9/previous'
        $env:IDENTITY_ENDPOINT | Should -BeNullOrEmpty
        $env:IDENTITY_HEADER | Should -BeNullOrEmpty
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST | Should -Be 'http://127.0.0.1:9'
        { Invoke-RestMethod -Uri "$($ep.Url)/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x" -Headers @{ Metadata = 'true' } -TimeoutSec 5 } | Should -Throw
    }

    It 'puts the environment from before the first -SetEnvironment back, whatever order endpoints are stopped in (<Order>)' -TestCases @(
        @{ Order = 'first to last' }, @{ Order = 'last to first' }, @{ Order = 'middle first' }
    ) {
        $env:MSI_ENDPOINT = 'http://127.0.0.1:9/previous'
        $started = @(1..3 | ForEach-Object { Start-AzManagedIdentityEndpoint -Dialect CloudShell -SetEnvironment })
        $env:MSI_ENDPOINT | Should -Be $started[2].Environment.MSI_ENDPOINT
        $ids = switch ($Order) { 'first to last' { 0, 1, 2 } 'last to first' { 2, 1, 0 } 'middle first' { 1, 2, 0 } }
        foreach ($i in $ids) {
            Stop-AzManagedIdentityEndpoint -Id $started[$i].Id
            # While any is left, the session points at the newest one still running.
            $left = @($started | Where-Object { & (Get-Module Azmi) { param($id) $script:Endpoints.ContainsKey($id) } $_.Id })
            if ($left) { $env:MSI_ENDPOINT | Should -Be $left[-1].Environment.MSI_ENDPOINT }
        }
        $env:MSI_ENDPOINT | Should -Be 'http://127.0.0.1:9/previous'
    }

    It 'puts the environment back when the bridge that ran the endpoint died, with a warning, and keeps it for a later endpoint' {
        $env:MSI_ENDPOINT = 'http://127.0.0.1:9/previous'
        $first = Start-AzManagedIdentityEndpoint -SetEnvironment
        Stop-Process -Id (Get-AzmiBridgeProcessId) -Force
        Start-Sleep -Milliseconds 200
        $warnings = $null
        $null = Get-AzManagedToken https://vault.azure.net -Source managed-identity -TimeoutSec 5 -ErrorAction SilentlyContinue -WarningVariable warnings -WarningAction SilentlyContinue
        "$warnings" | Should -Match "endpoint $($first.Id) \($([regex]::Escape($first.Url))\)"
        "$warnings" | Should -Not -Match ([regex]::Escape($first.Environment.IDENTITY_HEADER))
        $env:IDENTITY_ENDPOINT | Should -BeNullOrEmpty -Because 'it pointed at an endpoint that is gone'
        $env:IDENTITY_HEADER | Should -BeNullOrEmpty
        $env:MSI_ENDPOINT | Should -Be 'http://127.0.0.1:9/previous'
        & (Get-Module Azmi) { $script:Endpoints.Count } | Should -Be 0

        # The new bridge numbers its endpoints from 1 again: the record of the
        # one that died must not stand in for the new one's.
        $second = Start-AzManagedIdentityEndpoint -SetEnvironment
        (Get-AzManagedToken https://vault.azure.net).resource | Should -Be 'https://vault.azure.net'
        Stop-AzManagedIdentityEndpoint -Id $second.Id
        $env:IDENTITY_ENDPOINT | Should -BeNullOrEmpty
        $env:IDENTITY_HEADER | Should -BeNullOrEmpty
        $env:MSI_ENDPOINT | Should -Be 'http://127.0.0.1:9/previous'
    }

    It 'leaves the endpoint running with Stop -WhatIf' {
        $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
        Stop-AzManagedIdentityEndpoint -Id $ep.Id -WhatIf
        $env:IDENTITY_ENDPOINT | Should -Be $ep.Environment.IDENTITY_ENDPOINT
        (Get-AzManagedToken https://vault.azure.net).resource | Should -Be 'https://vault.azure.net'
    }

    It 'completes -Id with the ids of the endpoints this session started, not file names' {
        $a = Start-AzManagedIdentityEndpoint
        $b = Start-AzManagedIdentityEndpoint
        try {
            $line = 'Stop-AzManagedIdentityEndpoint -Id '
            $offered = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
            $offered | Should -Contain "$($a.Id)"
            $offered | Should -Contain "$($b.Id)"
            $offered.Count | Should -Be 2
        } finally {
            Stop-AzManagedIdentityEndpoint -Id $a.Id, $b.Id
        }
    }

    It 'reports an unknown id as StopAzManagedIdentityEndpointNotFound' {
        { Stop-AzManagedIdentityEndpoint -Id 424242 -ErrorAction Stop } | Should -Throw -ErrorId 'StopAzManagedIdentityEndpointNotFound,Stop-AzManagedIdentityEndpoint'
    }

    It 'reports a port in use as StartAzManagedIdentityEndpointStartFailed, naming the port' {
        $ep = Start-AzManagedIdentityEndpoint
        $record = $null
        try { Start-AzManagedIdentityEndpoint -Port $ep.Port } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'StartAzManagedIdentityEndpointStartFailed,Start-AzManagedIdentityEndpoint'
        $record.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $record.Exception.Message | Should -Match "$($ep.Port)"
    }

    It 'names another process''s server (pid, url) with PowerShell advice, not sh syntax, when -StateFile is refused' {
        $state = Join-Path $env:AZMI_HOME 'serve.json'
        Remove-Item -LiteralPath $state -Force -ErrorAction Ignore
        $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-Command node -CommandType Application | Select-Object -First 1).Source)
        $psi.ArgumentList.Add((Join-Path (Get-AzmiRepoRoot) 'bin/azmi.js'))
        $psi.ArgumentList.Add('serve')
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $serve = [System.Diagnostics.Process]::Start($psi)
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while (-not (Test-Path $state) -and [DateTime]::UtcNow -lt $deadline -and -not $serve.HasExited) { Start-Sleep -Milliseconds 50 }
            Test-Path $state | Should -BeTrue -Because 'azmi serve records itself in the state file'
            $url = (Get-Content -Raw $state | ConvertFrom-Json).url
            $err = $null
            try { Start-AzManagedIdentityEndpoint -StateFile } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -Be 'StartAzManagedIdentityEndpointStartFailed,Start-AzManagedIdentityEndpoint'
            $err.Exception.Message | Should -BeExactly "Another azmi server (pid $($serve.Id)) is running at $url and already records itself in azmi's state file ($state), and one server per azmi folder does."
            $err.ErrorDetails.RecommendedAction | Should -Match 'Stop-AzManagedIdentityEndpoint'
            $err.ErrorDetails.RecommendedAction | Should -Match ([regex]::Escape('$env:AZMI_HOME'))
            "$err $($err.ErrorDetails.RecommendedAction)" | Should -Not -Match 'eval|AZMI_HOME=DIR|azmi env --home'
            $err.Exception.Data['AzmiCode'] | Should -BeExactly 'ERR_SERVER_START'
            # Without -StateFile it starts beside the other server.
            Start-AzManagedIdentityEndpoint | Stop-AzManagedIdentityEndpoint
        } finally {
            if (-not $serve.HasExited) { $serve.Kill() }
            $serve.WaitForExit(5000) | Out-Null
            Remove-Item -LiteralPath $state -Force -ErrorAction Ignore
        }
    }

    It 'names this session''s own endpoint (its Id) when a second -StateFile endpoint is refused' {
        $first = Start-AzManagedIdentityEndpoint -StateFile
        try {
            $err = $null
            try { Start-AzManagedIdentityEndpoint -StateFile } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -Be 'StartAzManagedIdentityEndpointStartFailed,Start-AzManagedIdentityEndpoint'
            $err.Exception.Message | Should -Match "Endpoint $($first.Id) of this session \($([regex]::Escape($first.Url))\)"
            $err.ErrorDetails.RecommendedAction | Should -Match "Stop-AzManagedIdentityEndpoint -Id $($first.Id)"
            "$err $($err.ErrorDetails.RecommendedAction)" | Should -Not -Match 'another azmi server|pid \d'
            $err.Exception.Data['AzmiCode'] | Should -BeExactly 'ERR_SERVER_START'
            # As the advice says: another folder, set in this session (the module is imported already), takes a second one.
            $saved = $env:AZMI_HOME
            $env:AZMI_HOME = Join-Path ([System.IO.Path]::GetTempPath()) "azmi-pester-second-$PID"
            try {
                $second = Start-AzManagedIdentityEndpoint -StateFile
                Test-Path (Join-Path $env:AZMI_HOME 'serve.json') | Should -BeTrue
                $second | Stop-AzManagedIdentityEndpoint
            } finally {
                Remove-Item -LiteralPath $env:AZMI_HOME -Recurse -Force -ErrorAction Ignore
                $env:AZMI_HOME = $saved
            }
            $plain = Start-AzManagedIdentityEndpoint
            $plain | Stop-AzManagedIdentityEndpoint
        } finally {
            $first | Stop-AzManagedIdentityEndpoint
        }
        $again = Start-AzManagedIdentityEndpoint -StateFile
        $again | Stop-AzManagedIdentityEndpoint

        # After its bridge died, the endpoint is gone: a new -StateFile endpoint starts.
        $lost = Start-AzManagedIdentityEndpoint -StateFile
        Stop-Process -Id (Get-AzmiBridgeProcessId) -Force
        Start-Sleep -Milliseconds 200
        $fresh = Start-AzManagedIdentityEndpoint -StateFile -WarningAction SilentlyContinue
        $fresh.Url | Should -Not -Be $lost.Url
        $fresh | Stop-AzManagedIdentityEndpoint
    }

    It 'stops every endpoint of the session without -Id' {
        $null = Start-AzManagedIdentityEndpoint
        $null = Start-AzManagedIdentityEndpoint
        & (Get-Module Azmi) { $script:Endpoints.Count } | Should -Be 2
        Stop-AzManagedIdentityEndpoint
        & (Get-Module Azmi) { $script:Endpoints.Count } | Should -Be 0
    }

    It 'never shows the identity header or a token in verbose output' {
        $records = & { $ep = Start-AzManagedIdentityEndpoint -SetEnvironment -Verbose; Get-AzManagedToken https://vault.azure.net -Verbose } *>&1
        $token = $records | Where-Object { $_.PSObject.TypeNames[0] -eq 'Azmi.ManagedToken' }
        $text = ($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n"
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match ([regex]::Escape($env:IDENTITY_HEADER))
        $text | Should -Not -Match ([regex]::Escape($token.access_token))
    }

    It 'shows no secret when the endpoint object is left on the pipeline (console, CI log, transcript)' {
        foreach ($dialect in 'AppService', 'MachineLearning') {
            $ep = Start-AzManagedIdentityEndpoint -Dialect $dialect -SetEnvironment
            $secret = if ($dialect -eq 'AppService') { $env:IDENTITY_HEADER } else { $env:MSI_SECRET }
            $secret | Should -Not -BeNullOrEmpty
            foreach ($shown in ($ep | Out-String -Width 400), ($ep | Format-List | Out-String -Width 400), ($ep | Format-Table | Out-String -Width 400)) {
                $shown | Should -Match ([regex]::Escape($ep.Url))
                $shown | Should -Not -Match ([regex]::Escape($secret))
            }
            $ep.Environment.Values | Should -Contain $secret
            $ep | Stop-AzManagedIdentityEndpoint
        }
    }
}
