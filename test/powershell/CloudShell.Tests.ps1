# The issue's scenario end to end: a Cloud Shell script's Invoke-RestMethod
# call and Get-AzManagedToken through azmi return the same object.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $env:MSI_ENDPOINT = $fake.MsiEndpoint

    # Same name, same value; expires_in counts down, so a few seconds apart is the same.
    function Assert-SameAsRestMethod($Rest, $Token) {
        foreach ($property in $Rest.PSObject.Properties) {
            if ($property.Name -eq 'refresh_token') { continue }
            $Token.PSObject.Properties.Name | Should -Contain $property.Name
            if ($property.Name -eq 'expires_in') {
                [math]::Abs([int]$Token.expires_in - [int]$property.Value) | Should -BeLessOrEqual 5
            } else {
                $Token.($property.Name) | Should -BeExactly $property.Value -Because "property $($property.Name)"
            }
            $Token.($property.Name) | Should -BeOfType [string]
        }
    }
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe 'Cloud Shell: Invoke-RestMethod and Get-AzManagedToken' {
    It 'returns the same properties and values as the Invoke-RestMethod GET line' {
        $rest = Invoke-RestMethod -Uri "$env:MSI_ENDPOINT`?resource=https%3A%2F%2Fvault.azure.net" -Method GET -Headers @{ Metadata = 'true' }
        $token = Get-AzManagedToken -Resource https://vault.azure.net

        $rest.access_token | Should -Not -BeNullOrEmpty
        Assert-SameAsRestMethod $rest $token
        $token.resource | Should -BeExactly 'https://vault.azure.net'
        $token.token_type | Should -BeExactly 'Bearer'
        $token.ExpiresOn | Should -BeOfType [System.DateTimeOffset]
        $token.ExpiresOn | Should -Be ([System.DateTimeOffset]::FromUnixTimeSeconds([long]$rest.expires_on))
        $token.PSObject.TypeNames[0] | Should -Be 'Azmi.ManagedToken'
    }

    It 'returns the same as the POST form call of the Cloud Shell docs' {
        $rest = Invoke-RestMethod -Method POST -Uri $env:MSI_ENDPOINT -Headers @{ Metadata = 'true' } -Body @{ resource = 'https://management.azure.com/' }
        $token = Get-AzManagedToken -Resource https://management.azure.com/
        Assert-SameAsRestMethod $rest $token
        $token.resource | Should -BeExactly 'https://management.azure.com/'
    }

    It 'sends what Cloud Shell expects: POST, form body resource=..., Metadata: true, no query' {
        $before = (Get-CloudShellFakeRequests $fake).Count
        $null = Get-AzManagedToken -Resource https://storage.azure.com -Force
        $sent = @(Get-CloudShellFakeRequests $fake)[$before..1000]
        $sent.Count | Should -Be 1
        $sent[0].method | Should -BeExactly 'POST'
        $sent[0].path | Should -BeExactly '/oauth2/token'
        $sent[0].query | Should -BeExactly ''
        $sent[0].metadata | Should -BeExactly 'true'
        $sent[0].contentType | Should -BeLike 'application/x-www-form-urlencoded*'
        $sent[0].body | Should -BeExactly 'resource=https%3A%2F%2Fstorage.azure.com'
    }

    It 'serves the second call from the bridge''s cache, without a request' {
        $null = Get-AzManagedToken -Resource https://cache.test.example
        $before = (Get-CloudShellFakeRequests $fake).Count
        $again = Get-AzManagedToken -Resource https://cache.test.example
        (Get-CloudShellFakeRequests $fake).Count | Should -Be $before
        $again.resource | Should -BeExactly 'https://cache.test.example'
    }

    It 'maps a scope to its resource (only the /.default suffix is removed)' {
        $token = Get-AzManagedToken -Scope https://graph.microsoft.com/.default
        $token.resource | Should -BeExactly 'https://graph.microsoft.com'
    }

    It 'takes resources from the pipeline, by value and by property name' {
        $tokens = @('https://vault.azure.net', 'https://storage.azure.com' | Get-AzManagedToken)
        $tokens.resource | Should -Be @('https://vault.azure.net', 'https://storage.azure.com')

        $byName = @([pscustomobject]@{ Resource = 'https://vault.azure.net' }, [pscustomobject]@{ Scope = 'https://management.azure.com/.default' } | Get-AzManagedToken)
        $byName.resource | Should -Be @('https://vault.azure.net', 'https://management.azure.com')
    }

    It 'takes each pipeline item''s own identity selector by property name, never an earlier item''s' {
        # PowerShell keeps an earlier item's ClientId in $PSBoundParameters;
        # Cloud Shell refuses user-assigned identities, so a stale one shows.
        $client = '11111111-2222-3333-4444-555555555555'
        $items = [pscustomobject]@{ Resource = 'https://vault.azure.net'; ClientId = $client }, [pscustomobject]@{ Resource = 'https://storage.azure.com' }
        $tokens = @($items | Get-AzManagedToken -Source managed-identity -ErrorVariable failures -ErrorAction SilentlyContinue)
        $tokens.resource | Should -Be @('https://storage.azure.com') -Because 'the second item names no identity: the system-assigned one'
        $failures.Count | Should -Be 1

        $items = [pscustomobject]@{ Resource = 'https://vault.azure.net'; ClientId = $client }, [pscustomobject]@{ Resource = 'https://storage.azure.com'; ObjectId = $client }
        $null = @($items | Get-AzManagedToken -Source managed-identity -ErrorVariable failures -ErrorAction SilentlyContinue)
        $failures.Count | Should -Be 2
        $failures.FullyQualifiedErrorId | Should -Not -Contain 'GetAzManagedTokenIdentityConflict,Get-AzManagedToken' -Because 'the second item names only an object id'
    }

    It 'gives access_token as a SecureString with -AsSecureString' {
        $plain = Get-AzManagedToken https://vault.azure.net
        $secure = Get-AzManagedToken https://vault.azure.net -AsSecureString
        $secure.access_token | Should -BeOfType [securestring]
        ConvertFrom-AzmiSecureString $secure.access_token | Should -BeExactly $plain.access_token
        $secure.expires_on | Should -BeExactly $plain.expires_on
    }

    It 'does not show the token when the object is printed' {
        $token = Get-AzManagedToken https://vault.azure.net
        ($token | Out-String) | Should -Not -Match ([regex]::Escape($token.access_token))
        ($token | Out-String) | Should -Match 'vault\.azure\.net'
    }

    It 'never writes the token to the verbose, debug, warning or error streams' {
        $token = Get-AzManagedToken https://vault.azure.net
        $records = & {
            Get-AzManagedToken https://vault.azure.net -Verbose -Debug -Force
            Get-AzManagedToken https://refused.example.com -Verbose -Debug -ErrorAction Continue
            Get-AzManagedIdentityChain -Resource https://vault.azure.net -Verbose
        } *>&1
        # Everything but the token objects themselves (which carry it by design).
        $streams = @($records | Where-Object { $_.PSObject.TypeNames[0] -notin 'Azmi.ManagedToken', 'Azmi.ChainLink' })
        @($streams | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 2
        @($streams | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }).Count | Should -Be 1
        $text = ($streams | ForEach-Object { "$_"; if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.Exception.ToString() } }) -join "`n"
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match ([regex]::Escape($token.access_token))
        $text | Should -Not -Match 'cs_[0-9a-f]{48}'
    }

    It '-Verbose tells which link answered' {
        $verbose = Get-AzManagedToken https://vault.azure.net -Force -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        $verbose | Should -Contain ($verbose | Where-Object { $_ -match '^chain: managed-identity .* selected' } | Select-Object -First 1)
        ($verbose -join "`n") | Should -Match 'winner managed-identity'
    }

    It 'reports an audience Cloud Shell refuses as a proper error record' {
        # The endpoint answered and said no: that stops the chain (AuthenticationError).
        { Get-AzManagedToken https://refused.example.com -ErrorAction Stop } | Should -Throw -ErrorId 'GetAzManagedTokenAuthenticationFailed,Get-AzManagedToken'
        $err = $null
        $out = Get-AzManagedToken https://refused.example.com -ErrorAction SilentlyContinue -ErrorVariable err
        $out | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].TargetObject | Should -BeExactly 'https://refused.example.com'
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenAuthenticationFailed,Get-AzManagedToken'
        $err[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        $err[0].Exception.Message | Should -Match 'AudienceNotSupported|not a supported MSI token audience'
    }

    It 'refuses a user-assigned identity in Cloud Shell before sending anything' {
        $before = (Get-CloudShellFakeRequests $fake).Count
        $err = $null
        $null = Get-AzManagedToken https://vault.azure.net -ClientId 11111111-2222-3333-4444-555555555555 -Source managed-identity -ErrorAction SilentlyContinue -ErrorVariable err
        $err.Count | Should -Be 1
        $err[0].Exception.Message | Should -Match 'Cloud ?Shell'
        (Get-CloudShellFakeRequests $fake).Count | Should -Be $before
    }
}

Describe 'Cloud Shell: Get-AzManagedIdentityChain' {
    It 'writes one object per link, with the managed-identity link selected' {
        $links = @(Get-AzManagedIdentityChain -Resource https://vault.azure.net)
        $links.Count | Should -BeGreaterOrEqual 3
        $links[0].PSObject.TypeNames[0] | Should -Be 'Azmi.ChainLink'
        $links.Link | Select-Object -First 3 | Should -Be @('environment', 'workload-identity', 'managed-identity')
        $mi = $links | Where-Object Link -eq 'managed-identity'
        $mi.Outcome | Should -Be 'selected'
        $mi.Winner | Should -BeTrue
        $mi.Milliseconds | Should -BeOfType [double]
        $mi.Reason | Should -Not -BeNullOrEmpty
        ($links | Where-Object Link -eq 'environment').Outcome | Should -Be 'unavailable'
    }
}

Describe 'Cloud Shell: Invoke-AzManagedRestMethod' {
    It 'calls the API with the bearer token for the given resource' {
        $token = Get-AzManagedToken https://vault.azure.net
        $answer = Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Resource https://vault.azure.net -Method POST -Body 'x=1' -ContentType 'application/x-www-form-urlencoded'
        $answer.authorization | Should -BeExactly "Bearer $($token.access_token)"
        $answer.method | Should -BeExactly 'POST'
        $answer.body | Should -BeExactly 'x=1'
    }

    It 'never prints the bearer token with -Verbose -Debug (Invoke-RestMethod''s debug lines show headers)' {
        $token = Get-AzManagedToken https://vault.azure.net
        $records = Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Resource https://vault.azure.net -Verbose -Debug *>&1
        $streams = @($records | Where-Object { $_ -is [System.Management.Automation.InformationalRecord] })
        $streams.Count | Should -BeGreaterThan 0
        ($streams | ForEach-Object Message) -join "`n" | Should -Not -Match ([regex]::Escape($token.access_token))
    }

    It 'uses the target''s origin as the resource when none is given, and keeps other headers' {
        $answer = Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Headers @{ Authorization = 'Basic old'; 'x-test' = '1' }
        $token = Get-AzManagedToken -Resource $fake.Url
        $answer.authorization | Should -BeExactly "Bearer $($token.access_token)"
    }
}
