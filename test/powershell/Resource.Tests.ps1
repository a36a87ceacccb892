# -Resource takes what the rest of azmi takes (azmi serve's validResource in
# src/serve/context.ts, azmi token --resource): an http(s) URI with or without
# a trailing slash, api://my-api, an application id GUID; 1 to 2048 visible
# ASCII characters. On Get-AzManagedToken and Get-AzManagedIdentityChain it is
# a [uri] (as the issue's syntax says); what reaches the bridge is the Uri's
# OriginalString, exactly as written, with the precompiled core and without it
# (both in every run). What [uri] reads but is not a resource (empty,
# whitespace, control characters, non-ASCII, too long) is refused with
# <Cmdlet>InvalidResource before anything is sent; what [uri] cannot read
# (e.g. a tab in a host, api://my:api) fails in parameter binding, as a value
# of the wrong type does anywhere in PowerShell. Invoke-AzManagedRestMethod's
# -Resource is a [string], so only azmi's rule applies there.

BeforeDiscovery {
    $built = (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/bin/Azmi.Core.dll')) -or (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/lib/Azmi.Core.dll'))
    $modes = @(@{ Mode = 'script'; NoCore = $true })
    if ($built -and $env:AZMI_NO_CORE -ne '1') { $modes = @(@{ Mode = 'core'; NoCore = $false }) + $modes }
    $accepted = @(
        @{ Label = 'api://my-api'; Value = 'api://my-api' }
        @{ Label = 'an application id'; Value = '11111111-2222-3333-4444-555555555555' }
        @{ Label = 'https://vault.azure.net'; Value = 'https://vault.azure.net' }
        @{ Label = 'https://vault.azure.net/'; Value = 'https://vault.azure.net/' }
        @{ Label = '2048 characters'; Value = 'api://my-api/' + ('a' * 2035) }
    )
    # [uri] reads these (OriginalString keeps every character); azmi refuses them.
    $refused = @(
        @{ Label = 'empty'; Value = ''; Why = 'is empty' }
        @{ Label = 'a space'; Value = ' '; Why = 'contains a space at position 1' }
        @{ Label = 'a leading space'; Value = ' https://vault.azure.net'; Why = 'contains a space at position 1' }
        @{ Label = 'a trailing space'; Value = 'https://vault.azure.net '; Why = 'contains a space at position 24' }
        @{ Label = 'words'; Value = 'not a uri'; Why = 'contains a space at position 4' }
        @{ Label = 'a space in a path'; Value = 'https://vault.azure.net/a b'; Why = 'contains a space at position 26' }
        @{ Label = 'a tab'; Value = "my`tapi"; Why = 'contains whitespace \(U\+0009\) at position 3' }
        @{ Label = 'a trailing tab'; Value = "api://my-api`t"; Why = 'contains whitespace \(U\+0009\) at position 13' }
        @{ Label = 'a line break'; Value = "api://my-api`n"; Why = 'contains whitespace \(U\+000A\) at position 13' }
        @{ Label = 'a NUL'; Value = "my`0api"; Why = 'contains a control character \(U\+0000\) at position 3' }
        @{ Label = 'a DEL'; Value = "api://my-api/`u{7f}"; Why = 'contains a control character \(U\+007F\) at position 14' }
        @{ Label = 'non-ASCII'; Value = 'https://vaulté.example'; Why = "contains 'é' \(U\+00E9, not ASCII\) at position 14" }
        @{ Label = '2049 characters'; Value = 'api://my-api/' + ('a' * 2036); Why = 'is 2049 characters long \(at most 2048\)' }
    )
    # [uri] cannot read these: a ParameterBindingException before the cmdlet
    # runs. Azmi (the [string] -Resource of Invoke-AzManagedRestMethod, -Scope)
    # takes some of them.
    $unreadable = @(
        @{ Label = 'a tab in a host'; Value = "api://my`tapi"; Azmi = $false }
        @{ Label = 'a space in a host'; Value = 'api://my api'; Azmi = $false }
        @{ Label = 'a NUL in a host'; Value = "api://my`0api"; Azmi = $false }
        @{ Label = 'a DEL in a host'; Value = "api://my-api`u{7f}"; Azmi = $false }
        @{ Label = 'api://my:api (an invalid port)'; Value = 'api://my:api'; Azmi = $true }
        @{ Label = 'a host label over 255 characters'; Value = 'api://' + ('a' * 2042); Azmi = $true }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    $script:modulePath = Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1'
    $script:recordingBridge = Join-Path $PSScriptRoot 'support/recordingBridge.js'
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $script:savedNoCore = $env:AZMI_NO_CORE

    # The 'token' requests the recording bridge got since the log was cleared, as objects.
    function Get-RecordedTokenRequests {
        if (-not (Test-Path $env:AZMI_TEST_BRIDGE_LOG)) { return @() }
        @(Get-Content -LiteralPath $env:AZMI_TEST_BRIDGE_LOG | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json -Depth 10 } | Where-Object op -eq 'token')
    }
    function Use-RecordingBridge {
        # A fresh one: a recording bridge still running would log to its old file.
        Stop-AzmiTestBridge
        $env:AZMI_TEST_BRIDGE_LOG = Join-Path $TestDrive "bridge-$([guid]::NewGuid()).log"
        $env:AZMI_BRIDGE = $recordingBridge
    }
    function Use-RealBridge {
        $env:AZMI_BRIDGE = $null
        $env:AZMI_TEST_BRIDGE_LOG = $null
        $env:MSI_ENDPOINT = $fake.MsiEndpoint
    }
}

AfterAll {
    $env:AZMI_BRIDGE = $null
    $env:AZMI_TEST_BRIDGE_LOG = $null
    $env:AZMI_NO_CORE = $savedNoCore
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe '-Resource, <Mode> path' -ForEach $modes {
    BeforeAll {
        $env:AZMI_NO_CORE = if ($NoCore) { '1' } else { $null }
        try { Import-Module $modulePath -Force } finally { $env:AZMI_NO_CORE = $savedNoCore }
    }
    BeforeEach { Use-RealBridge }

    It 'runs on the <Mode> path' {
        & (Get-Module Azmi) { $script:Core } | Should -Be (-not $NoCore)
    }

    Context 'accepted: <Label>' -ForEach $accepted {
        It 'reaches the bridge unchanged, by parameter and from the pipeline (by value and by property name)' {
            Use-RecordingBridge
            $tokens = @(
                Get-AzManagedToken -Resource $Value -ErrorAction Stop
                $Value | Get-AzManagedToken -ErrorAction Stop
                [pscustomobject]@{ Resource = $Value } | Get-AzManagedToken -ErrorAction Stop
            )
            $sent = Get-RecordedTokenRequests
            $sent.Count | Should -Be 3
            foreach ($request in $sent) {
                $request.params.resource | Should -BeExactly $Value
                $request.params.PSObject.Properties.Name | Should -Not -Contain 'scope'
            }
            $tokens.Count | Should -Be 3
            foreach ($token in $tokens) { $token.resource | Should -BeExactly $Value }
        }

        It 'gets a token through the real bridge and the Cloud Shell endpoint, which is asked for exactly it' {
            $before = (Get-CloudShellFakeRequests $fake).Count
            $token = Get-AzManagedToken -Resource $Value -Force -ErrorAction Stop
            $token.resource | Should -BeExactly $Value
            $token.access_token | Should -Not -BeNullOrEmpty
            $asked = @(Get-CloudShellFakeRequests $fake)[$before..100000] | Where-Object path -eq '/oauth2/token'
            @($asked).Count | Should -Be 1
            $asked.body | Should -BeExactly ('resource=' + [uri]::EscapeDataString($Value))
        }

        It 'is taken by Get-AzManagedIdentityChain and Invoke-AzManagedRestMethod too' {
            $links = @(Get-AzManagedIdentityChain -Resource $Value -ErrorAction Stop)
            ($links | Where-Object Winner).Link | Should -Be 'managed-identity'
            $links[0].Resource | Should -BeExactly $Value
            $answer = Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Resource $Value
            $answer.authorization | Should -BeExactly "Bearer $((Get-AzManagedToken -Resource $Value).access_token)"
        }
    }

    It 'takes a [uri] from the pipeline as written (its OriginalString), by value and as a property' {
        Use-RecordingBridge
        $written = 'api://my-api', 'https://vault.azure.net', 'https://vault.azure.net/', 'https://Vault.Azure.NET/a%20b'
        $byValue = @([uri[]]$written | Get-AzManagedToken -ErrorAction Stop)
        $byProperty = @($written | ForEach-Object { [pscustomobject]@{ Resource = [uri]$_ } } | Get-AzManagedToken -ErrorAction Stop)
        $byAlias = @($written | ForEach-Object { [pscustomobject]@{ Audience = [uri]$_ } } | Get-AzManagedToken -ErrorAction Stop)
        $byValue.resource | Should -Be $written
        $byProperty.resource | Should -Be $written
        $byAlias.resource | Should -Be $written
        (Get-RecordedTokenRequests).params.resource | Should -Be ($written + $written + $written)
        Use-RealBridge
        $chain = @([uri]'api://my-api' | Get-AzManagedIdentityChain)
        $chain[0].Resource | Should -BeExactly 'api://my-api'
    }

    Context 'refused: <Label>' -ForEach $refused {
        It 'is a GetAzManagedTokenInvalidResource error naming the rule, and nothing is sent' {
            Use-RecordingBridge
            ([uri]$Value).OriginalString | Should -BeExactly $Value -Because '[uri] reads it as written'
            $err = $null
            $out = Get-AzManagedToken -Resource $Value -ErrorAction SilentlyContinue -ErrorVariable err
            $out | Should -BeNullOrEmpty
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].Exception | Should -BeOfType [System.ArgumentException]
            $err[0].Exception.Message | Should -Match "^-Resource '.*' $Why\. A resource \(audience\) is 1 to 2048 visible ASCII characters"
            $err[0].Exception.Message | Should -Not -Match '[\x00-\x09\x0b-\x1f\x7f]' -Because 'control characters are spelled out'
            $err[0].TargetObject | Should -BeExactly $Value
            { Get-AzManagedToken -Resource $Value -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
            { $Value | Get-AzManagedToken -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
            { [pscustomobject]@{ Resource = $Value } | Get-AzManagedToken -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
            Get-RecordedTokenRequests | Should -BeNullOrEmpty
        }

        It 'is refused by Get-AzManagedIdentityChain and (terminating) by Invoke-AzManagedRestMethod, with their own ids' {
            { Get-AzManagedIdentityChain -Resource $Value -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedIdentityChainInvalidResource,Get-AzManagedIdentityChain'
            { Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Resource $Value -ErrorAction SilentlyContinue } |
                Should -Throw -ErrorId 'InvokeAzManagedRestMethodInvalidResource,Invoke-AzManagedRestMethod'
        }
    }

    Context 'not a System.Uri: <Label>' -ForEach $unreadable {
        It 'fails in parameter binding (terminating, whatever -ErrorAction says), and nothing is sent' {
            Use-RecordingBridge
            $null -eq ($Value -as [uri]) | Should -BeTrue -Because '[uri] cannot read it'
            $thrown = $null
            try { $null = Get-AzManagedToken -Resource $Value -ErrorAction SilentlyContinue } catch { $thrown = $_ }
            $thrown | Should -Not -BeNullOrEmpty
            $thrown.FullyQualifiedErrorId | Should -BeExactly 'ParameterArgumentTransformationError,Get-AzManagedToken'
            $thrown.Exception | Should -BeOfType [System.Management.Automation.ParameterBindingException]
            $thrown.Exception.ParameterName | Should -BeExactly 'Resource'
            $thrown.Exception.Message | Should -Match "parameter 'Resource'\. Cannot convert value .* to type `"System\.Uri`""
            { Get-AzManagedToken $Value } | Should -Throw -ErrorId 'ParameterArgumentTransformationError,Get-AzManagedToken'
            { Get-AzManagedIdentityChain -Resource $Value } | Should -Throw -ErrorId 'ParameterArgumentTransformationError,Get-AzManagedIdentityChain'
            Get-RecordedTokenRequests | Should -BeNullOrEmpty
        }

        It 'from the pipeline: as a property, a binding error; by value, a non-terminating InputObjectNotBound that skips only that item' {
            Use-RecordingBridge
            { [pscustomobject]@{ Resource = $Value } | Get-AzManagedToken -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentTransformationError,Get-AzManagedToken'
            { $Value | Get-AzManagedToken -ErrorAction Stop } | Should -Throw -ErrorId 'InputObjectNotBound,Get-AzManagedToken'
            # Fresh names: a resource asked for seconds ago would be answered without the bridge.
            $first, $last = "api://first-$([guid]::NewGuid())", "api://last-$([guid]::NewGuid())"
            $Error.Clear()
            $tokens = @($first, $Value, $last | Get-AzManagedToken -ErrorAction SilentlyContinue)
            $tokens.resource | Should -Be @($first, $last)
            $Error[0].FullyQualifiedErrorId | Should -BeExactly 'InputObjectNotBound,Get-AzManagedToken'
            (Get-RecordedTokenRequests).params.resource | Should -Be @($first, $last)
        }

        It 'is judged by azmi''s rule alone where the type is [string] (Invoke-AzManagedRestMethod -Resource) or a scope' {
            if ($Azmi) {
                $answer = Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Resource $Value
                $answer.authorization | Should -Match '^Bearer \S+$'
                (Get-AzManagedToken -Scope "$Value/.default" -ErrorAction Stop).resource | Should -BeExactly $Value
            } else {
                { Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Resource $Value -ErrorAction SilentlyContinue } |
                    Should -Throw -ErrorId 'InvokeAzManagedRestMethodInvalidResource,Invoke-AzManagedRestMethod'
            }
        }
    }

    It 'refuses $null in parameter binding, as any mandatory parameter does' {
        { Get-AzManagedToken -Resource $null } | Should -Throw -ErrorId 'ParameterArgumentValidationErrorNullNotAllowed,Get-AzManagedToken'
    }
}

Describe '-Resource tab completion' {
    It 'offers well-known audiences, not file names, for <Command>' -ForEach @(
        @{ Command = 'Get-AzManagedToken' }
        @{ Command = 'Get-AzManagedIdentityChain' }
    ) {
        $null = New-Item -ItemType File -Path (Join-Path $TestDrive 'https-looking-file.txt') -Force
        Push-Location $TestDrive
        try {
            $line = "$Command -Resource https://va"
            $offered = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
            $offered | Should -Be @('https://vault.azure.net')
            $line = "$Command -Resource "
            $all = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
            $all | Should -Contain 'https://management.azure.com'
            $all | Should -Not -Contain 'https-looking-file.txt'
        } finally {
            Pop-Location
        }
    }
}
