# Bad input and failures: each is an ErrorRecord with a stable id
# '<Cmdlet><Condition>', a category and the target, and none carries a token.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
}

Describe 'Get-AzManagedToken input checks' {
    It 'refuses -Resource together with -Scope (parameter sets)' {
        { Get-AzManagedToken -Resource https://vault.azure.net -Scope https://vault.azure.net/.default } |
            Should -Throw -ErrorId 'AmbiguousParameterSet,Get-AzManagedToken'
    }

    # What is a resource and what is not: Resource.Tests.ps1.
    It 'refuses what is not a resource (empty, whitespace, control characters)' -TestCases @(
        @{ Value = '' }
        @{ Value = 'not a uri' }
        @{ Value = "https://vault.azure.net`n" }
    ) {
        $err = $null
        $out = Get-AzManagedToken -Resource $Value -ErrorAction SilentlyContinue -ErrorVariable err
        $out | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception | Should -BeOfType [System.ArgumentException]
        $err[0].Exception.Message | Should -Match '-Resource'
        "$($err[0].TargetObject)" | Should -Be $Value
        { Get-AzManagedToken -Resource $Value -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
    }

    It 'refuses more than one scope' {
        { Get-AzManagedToken -Scope 'https://a.example/.default https://b.example/.default' -ErrorAction Stop } |
            Should -Throw -ErrorId 'GetAzManagedTokenInvalidScope,Get-AzManagedToken'
    }

    # -Scope is held to -Resource's rule, with the words of azmi token --scope.
    It 'refuses a -Scope with <Name>, naming the character' -TestCases @(
        @{ Name = 'a space'; Value = 'https://a.example/.default https://b.example/.default'; Message = "-Scope 'https://a.example/.default https://b.example/.default' contains a space at position 27. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default." }
        @{ Name = 'an escape character'; Value = "https://vault.azure.net/.default$([char]27)[2J"; Message = "-Scope 'https://vault.azure.net/.default\u001b[2J' contains a control character (U+001B) at position 33. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default." }
        @{ Name = 'a non-ASCII letter'; Value = "https://v$([char]0xE4)ult.azure.net/.default"; Message = "-Scope 'https://v$([char]0xE4)ult.azure.net/.default' contains '$([char]0xE4)' (U+00E4, not ASCII) at position 10. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default." }
        @{ Name = 'no resource'; Value = '/.default'; Message = "-Scope '/.default' names no resource before /.default. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default." }
        @{ Name = 'too many characters'; Value = ('a' * 2049); Message = "-Scope '$('a' * 60)...' is 2049 characters long (at most 2048). A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default." }
    ) {
        $err = $null
        $out = Get-AzManagedToken -Scope $Value -ErrorAction SilentlyContinue -ErrorVariable err
        $out | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenInvalidScope,Get-AzManagedToken'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception.Message | Should -BeExactly $Message
        "$($err[0].TargetObject)" | Should -Be $Value
    }

    It 'refuses two identity selectors at once, naming both' {
        $err = $null
        $null = Get-AzManagedToken https://vault.azure.net -ClientId 11111111-1111-1111-1111-111111111111 -ResourceId '/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z' -ErrorAction SilentlyContinue -ErrorVariable err
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenIdentityConflict,Get-AzManagedToken'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].Exception.Message | Should -Match '-ClientId and -ResourceId'
        $err[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    # Half a surrogate pair cannot be encoded as UTF-8: it once surfaced as a bare .NET
    # "Exception calling GetToken" (JsonEncodedText threw); now the bridge names the parameter.
    It 'refuses a -<Name> no request can carry (half a surrogate pair, a quote before it), naming it' -TestCases @(
        @{ Name = 'ClientId'; Splat = @{ ClientId = "x`"$([char]0xDC00)" } }
        @{ Name = 'ObjectId'; Splat = @{ ObjectId = "$([char]0xD800)y" } }
    ) {
        $env:MSI_ENDPOINT = $null
        $env:IDENTITY_ENDPOINT = 'http://127.0.0.1:9/msi/token'
        $env:IDENTITY_HEADER = 'hdr_secret_value_123'
        try {
            $err = $null
            $out = Get-AzManagedToken https://vault.azure.net @Splat -ErrorAction SilentlyContinue -ErrorVariable err
            $out | Should -BeNullOrEmpty
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenInvalidArgument,Get-AzManagedToken'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].Exception.Message | Should -Match 'contains half of a surrogate pair'
        } finally {
            $env:IDENTITY_ENDPOINT = $null
            $env:IDENTITY_HEADER = $null
        }
    }

    It 'refuses an unknown link name for -Source and -Exclude' {
        { Get-AzManagedToken https://vault.azure.net -Source imds } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Get-AzManagedToken'
        { Get-AzManagedToken https://vault.azure.net -Exclude 'azure-cli', 'nope' } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Get-AzManagedToken'
    }

    It 'goes on with the next pipeline item after a bad one' {
        $fake = Start-CloudShellFake
        try {
            $env:MSI_ENDPOINT = $fake.MsiEndpoint
            $err = $null
            $tokens = @('bad resource', 'https://vault.azure.net' | Get-AzManagedToken -ErrorAction SilentlyContinue -ErrorVariable err)
            $tokens.Count | Should -Be 1
            $tokens[0].resource | Should -BeExactly 'https://vault.azure.net'
            $err.Count | Should -Be 1
        } finally {
            $env:MSI_ENDPOINT = $null
            Stop-CloudShellFake $fake
        }
    }
}

Describe 'Get-AzManagedToken chain failures' {
    It 'reports no usable identity as GetAzManagedTokenUnavailable (ResourceUnavailable)' {
        # Only managed identity, and IMDS is a dead loopback port: nothing answers.
        $err = $null
        $out = Get-AzManagedToken https://vault.azure.net -Source managed-identity -TimeoutSec 20 -ErrorAction SilentlyContinue -ErrorVariable err
        $out | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenUnavailable,Get-AzManagedToken'
        $err[0].CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $err[0].TargetObject | Should -BeExactly 'https://vault.azure.net'
        $err[0].Exception.Data['AzmiCode'] | Should -Not -BeNullOrEmpty
        # The most common error says what to do next, as PowerShell users look for it.
        $err[0].ErrorDetails.RecommendedAction | Should -Match 'Get-AzManagedIdentityChain -Verbose.*Start-AzManagedIdentityEndpoint -SetEnvironment'
        { Get-AzManagedToken https://vault.azure.net -Source managed-identity -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedTokenUnavailable,Get-AzManagedToken'
    }

    It 'reports a call that ran out of time in the cmdlet''s terms: its timeout parameter and Get-AzManagedIdentityChain' {
        # An identity endpoint that accepts the connection and never answers.
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        try {
            $env:MSI_ENDPOINT = "http://127.0.0.1:$($listener.LocalEndpoint.Port)/oauth2/token"
            $err = $null
            $null = Get-AzManagedToken https://vault.azure.net -Source managed-identity -TimeoutSec 1 -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenTimeout,Get-AzManagedToken'
            $err[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
            $err[0].Exception.Message | Should -Match '-TimeoutSec 1\b'
            $err[0].Exception.Message | Should -Not -Match 'timeoutMs|azmi doctor' -Because 'a PowerShell user set -TimeoutSec and may have no azmi CLI'
            $err[0].ErrorDetails.RecommendedAction | Should -Match 'Raise -TimeoutSec.*Get-AzManagedIdentityChain'

            $record = $null
            try { Invoke-AzManagedRestMethod http://127.0.0.1:9/api -Resource https://vault.azure.net -Source managed-identity -TokenTimeoutSec 1 } catch { $record = $_ }
            $record.FullyQualifiedErrorId | Should -BeExactly 'InvokeAzManagedRestMethodTimeout,Invoke-AzManagedRestMethod'
            $record.Exception.Message | Should -Match '-TokenTimeoutSec 1\b'
            $record.Exception.Message | Should -Not -Match 'timeoutMs|azmi doctor'
            $record.ErrorDetails.RecommendedAction | Should -Match 'Raise -TokenTimeoutSec' -Because '-TimeoutSec of Invoke-AzManagedRestMethod is the HTTP request''s'

            $verbose = Get-AzManagedIdentityChain https://vault.azure.net -Source managed-identity -TimeoutSec 1 -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
            $said = ($verbose | ForEach-Object Message) -join "`n"
            $said | Should -Match 'No token: .*-TimeoutSec 1\b'
            $said | Should -Not -Match 'timeoutMs|azmi doctor'
        } finally {
            $env:MSI_ENDPOINT = $null
            $listener.Stop()
        }
    }

    It 'writes nothing and throws nothing with -ErrorAction SilentlyContinue' {
        { $script:quiet = Get-AzManagedToken https://vault.azure.net -Source managed-identity -ErrorAction SilentlyContinue } | Should -Not -Throw
        $script:quiet | Should -BeNullOrEmpty
    }

    It 'reports the same failure from Invoke-AzManagedRestMethod as a terminating error' {
        { Invoke-AzManagedRestMethod -Uri 'http://127.0.0.1:9/api' -Source managed-identity } |
            Should -Throw -ErrorId 'InvokeAzManagedRestMethodUnavailable,Invoke-AzManagedRestMethod'
    }

    It 'reports bad input to Get-AzManagedIdentityChain with its own id' {
        { Get-AzManagedIdentityChain -Resource 'no pe' -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedIdentityChainInvalidResource,Get-AzManagedIdentityChain'
        { Get-AzManagedIdentityChain -ClientId a -ObjectId b -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedIdentityChainIdentityConflict,Get-AzManagedIdentityChain'
    }

    It 'shows an unavailable chain as objects, not as an error' {
        $links = @(Get-AzManagedIdentityChain -Source managed-identity -ErrorAction Stop)
        ($links | Where-Object Link -eq 'managed-identity').Outcome | Should -BeIn 'unavailable', 'failed'
        @($links | Where-Object Winner).Count | Should -Be 0
    }
}
