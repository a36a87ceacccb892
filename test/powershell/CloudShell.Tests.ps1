# The issue's scenario end to end: a Cloud Shell script's Invoke-RestMethod
# call and Get-AzManagedToken through azmi return the same object, property by
# property in both directions (Compare-AzmiTokenWithRestMethod), against a
# fake Cloud Shell endpoint and against azmi serve's Cloud Shell dialect. Both
# issue JWTs with an appid claim and send no client_id, so a client_id taken
# from the token's claims would show as an extra property.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $env:MSI_ENDPOINT = $fake.MsiEndpoint

    # The issue's line, as the issue writes it.
    $script:issueLine = 'Invoke-RestMethod -Uri "$env:MSI_ENDPOINT?resource=https%3A%2F%2Fvault.azure.net" -Method GET -Headers @{Metadata=''true''}'

    function ConvertFrom-Jwt([string] $Token) {
        $part = $Token.Split('.')[1].Replace('-', '+').Replace('_', '/')
        $part += '=' * ((4 - $part.Length % 4) % 4)
        [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($part)) | ConvertFrom-Json
    }
}

AfterAll {
    Stop-AzManagedIdentityEndpoint -ErrorAction Ignore
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe 'The issue''s Invoke-RestMethod line' {
    It 'needs ${env:MSI_ENDPOINT} in PowerShell: as written it reads a variable named MSI_ENDPOINT?resource' {
        # '?' may be part of a variable name, so "$env:MSI_ENDPOINT?resource=..."
        # expands $env:MSI_ENDPOINT?resource (unset) and asks for '=https%3A...'.
        # The tests below send the same request with the name delimited.
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($issueLine, [ref]$null, [ref]$null)
        $variables = @($ast.FindAll({ $args[0] -is [System.Management.Automation.Language.VariableExpressionAst] }, $true))
        $variables.VariablePath.UserPath | Should -Be @('env:MSI_ENDPOINT?resource')
        { Invoke-Expression $issueLine } | Should -Throw
        $delimited = $issueLine.Replace('$env:MSI_ENDPOINT?', '${env:MSI_ENDPOINT}?')
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($delimited, [ref]$null, [ref]$null)
        @($ast.FindAll({ $args[0] -is [System.Management.Automation.Language.VariableExpressionAst] }, $true)).VariablePath.UserPath | Should -Be @('env:MSI_ENDPOINT')
        (Invoke-Expression $delimited).resource | Should -BeExactly 'https://vault.azure.net'
    }
}

Describe 'Cloud Shell: Invoke-RestMethod and Get-AzManagedToken' {
    It 'returns the same properties and values as the issue''s GET line, both ways' {
        $before = (Get-CloudShellFakeRequests $fake).Count
        $rest = Invoke-RestMethod -Uri "${env:MSI_ENDPOINT}?resource=https%3A%2F%2Fvault.azure.net" -Method GET -Headers @{Metadata='true'}
        $sent = @(Get-CloudShellFakeRequests $fake)[$before]
        $sent.method | Should -BeExactly 'GET'
        $sent.query | Should -BeExactly '?resource=https%3A%2F%2Fvault.azure.net'
        $sent.metadata | Should -BeExactly 'true'
        $token = Get-AzManagedToken -Resource https://vault.azure.net

        # What makes the comparison able to fail: a JWT naming an app, and no client_id from the endpoint.
        (ConvertFrom-Jwt $rest.access_token).appid | Should -BeExactly $fake.AppId
        $rest.PSObject.Properties.Name | Should -Not -Contain 'client_id'
        $rest.refresh_token | Should -BeExactly ''

        Compare-AzmiTokenWithRestMethod $rest $token | Should -BeNullOrEmpty
        $token.PSObject.Properties.Name | Should -Not -Contain 'client_id' -Because 'the endpoint sent none; the appid claim is not a client_id'
        $token.resource | Should -BeExactly 'https://vault.azure.net'
        $token.token_type | Should -BeExactly 'Bearer'
        $token.ExpiresOn | Should -BeOfType [System.DateTimeOffset]
        $token.PSObject.TypeNames[0] | Should -Be 'Azmi.ManagedToken'

        # Straight from the endpoint too, not only from azmi's cache.
        Compare-AzmiTokenWithRestMethod $rest (Get-AzManagedToken -Resource https://vault.azure.net -Force) | Should -BeNullOrEmpty
    }

    It 'returns the same as the POST form call of the Cloud Shell docs, both ways' {
        $rest = Invoke-RestMethod -Method POST -Uri $env:MSI_ENDPOINT -Headers @{ Metadata = 'true' } -Body @{ resource = 'https://management.azure.com/' }
        $token = Get-AzManagedToken -Resource https://management.azure.com/
        Compare-AzmiTokenWithRestMethod $rest $token | Should -BeNullOrEmpty
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
        # Cloud Shell names no client id: no empty client_id row either (the object has no such property).
        $token.PSObject.Properties['client_id'] | Should -BeNullOrEmpty
        ($token | Format-List | Out-String) | Should -Not -Match 'client_id'
        ($token | Format-List | Out-String) | Should -Match 'ExpiresOn'
    }

    It 'never writes the token to the verbose, debug, warning or error streams' -TestCases @(
        @{ Shape = 'an opaque token'; Resource = 'https://opaque.vault.example' }
        @{ Shape = 'a JWT'; Resource = 'https://vault.azure.net' }
    ) {
        # An opaque token can only stay out of the text by never being written
        # (redaction matches JWTs by shape); a JWT must not be there either,
        # not even redacted.
        $token = Get-AzManagedToken $Resource
        $records = & {
            Get-AzManagedToken $Resource -Verbose -Debug -Force
            Get-AzManagedToken https://refused.example.com -Verbose -Debug -ErrorAction Continue
            Get-AzManagedIdentityChain -Resource $Resource -Verbose
        } *>&1
        # Everything but the token objects themselves (which carry it by design).
        $streams = @($records | Where-Object { $_.PSObject.TypeNames[0] -notin 'Azmi.ManagedToken', 'Azmi.ChainLink' })
        @($streams | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 2
        @($streams | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }).Count | Should -Be 1
        $text = ($streams | ForEach-Object { "$_"; if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.Exception.ToString() } }) -join "`n"
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match ([regex]::Escape($token.access_token))
        foreach ($part in $token.access_token.Split('.')) { $text | Should -Not -Match ([regex]::Escape($part)) }
        $text | Should -Not -Match 'cs_[0-9a-f]{48}'
        $text | Should -Not -Match 'eyJ[A-Za-z0-9_-]{10,}'
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
        $answer = Invoke-AzManagedRestMethod -Uri "$($fake.Url)/api/whoami" -Headers @{ Authorization = 'Basic old'; 'x-test' = '1' } -WarningAction SilentlyContinue
        $token = Get-AzManagedToken -Resource $fake.Url
        $answer.authorization | Should -BeExactly "Bearer $($token.access_token)"
    }
}

Describe 'Cloud Shell parity against azmi serve''s Cloud Shell dialect' {
    BeforeAll {
        # Start-AzManagedIdentityEndpoint is azmi serve inside the session's
        # bridge; -SetEnvironment points MSI_ENDPOINT at it (and clears the
        # other identity variables) until Stop puts them back.
        $script:ep = Start-AzManagedIdentityEndpoint -Dialect CloudShell -SetEnvironment
    }
    AfterAll {
        Stop-AzManagedIdentityEndpoint -ErrorAction Ignore
        $env:MSI_ENDPOINT = $fake.MsiEndpoint
    }

    It 'answers the issue''s GET line like Cloud Shell: a JWT naming its app, no client_id, an empty refresh_token' {
        $env:MSI_ENDPOINT | Should -BeExactly $ep.Environment.MSI_ENDPOINT
        $rest = Invoke-RestMethod -Uri "${env:MSI_ENDPOINT}?resource=https%3A%2F%2Fvault.azure.net" -Method GET -Headers @{Metadata='true'}
        $claims = ConvertFrom-Jwt $rest.access_token
        $claims.aud | Should -BeExactly 'https://vault.azure.net'
        $claims.iss | Should -BeExactly $ep.IssuerUrl
        $claims.appid | Should -BeExactly $ep.SystemClientId
        $rest.PSObject.Properties.Name | Should -Not -Contain 'client_id'
        $rest.refresh_token | Should -BeExactly ''
        $rest.resource | Should -BeExactly 'https://vault.azure.net'
    }

    It 'returns with Get-AzManagedToken the same properties and values as the GET line, both ways' {
        $rest = Invoke-RestMethod -Uri "${env:MSI_ENDPOINT}?resource=https%3A%2F%2Fvault.azure.net" -Method GET -Headers @{Metadata='true'}
        $token = Get-AzManagedToken -Resource https://vault.azure.net -Force
        Compare-AzmiTokenWithRestMethod $rest $token | Should -BeNullOrEmpty
        $token.PSObject.Properties.Name | Should -Not -Contain 'client_id' -Because 'the endpoint sent none; the appid claim is not a client_id'
        (Get-AzManagedIdentityChain -Resource https://vault.azure.net | Where-Object Winner).Link | Should -Be 'managed-identity'
    }

    It 'returns the same for the POST form, both ways' {
        $rest = Invoke-RestMethod -Method POST -Uri $env:MSI_ENDPOINT -Headers @{ Metadata = 'true' } -Body @{ resource = 'https://management.azure.com/' }
        $token = Get-AzManagedToken -Resource https://management.azure.com/
        Compare-AzmiTokenWithRestMethod $rest $token | Should -BeNullOrEmpty
    }
}
