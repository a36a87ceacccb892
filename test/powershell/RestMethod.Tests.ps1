# Invoke-AzManagedRestMethod passes Invoke-RestMethod's parameters through:
# every one is declared as Invoke-RestMethod declares it (so help and tab
# completion have them), the -*Variable ones land in the caller's scope, and
# the authentication azmi owns is refused clearly. Against the Cloud Shell
# fake's stand-in API on loopback http (no -SkipCertificateCheck needed).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $env:MSI_ENDPOINT = $fake.MsiEndpoint
    $script:api = "$($fake.Url)/api"
    $script:refused = 'Authentication', 'Token', 'Credential', 'UseDefaultCredentials'
    $script:own = 'Resource', 'ClientId', 'ObjectId', 'ResourceId', 'Source', 'Exclude', 'TokenTimeoutSec'
    $script:common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

    # How a parameter is declared: type, aliases, per set (mandatory, position,
    # pipeline) and its validation, as one comparable string.
    function Get-ParameterShape($Parameter) {
        $sets = foreach ($set in $Parameter.ParameterSets.GetEnumerator() | Sort-Object Key) {
            '{0}:{1}:{2}:{3}:{4}' -f $set.Key, $set.Value.IsMandatory, $set.Value.Position, $set.Value.ValueFromPipeline, $set.Value.ValueFromPipelineByPropertyName
        }
        $checks = foreach ($attribute in $Parameter.Attributes) {
            switch ($attribute) {
                { $_ -is [ValidateRange] } { "range $($_.MinRange)..$($_.MaxRange)" }
                { $_ -is [ValidateSet] } { "set $($_.ValidValues -join '|')" }
                { $_ -is [ValidateNotNullOrEmpty] } { 'not-null-or-empty' }
                { $_ -is [ValidateNotNull] } { 'not-null' }
                { $_ -is [System.Management.Automation.CredentialAttribute] } { 'credential' }
            }
        }
        '{0} [{1}] aliases={2} sets={3} checks={4}' -f $Parameter.Name, $Parameter.ParameterType.FullName, (@($Parameter.Aliases | Sort-Object) -join ','), ($sets -join ' '), (@($checks | Sort-Object) -join ',')
    }
    # The requests the fake got from now on.
    function Get-RequestCount { @(Get-CloudShellFakeRequests $fake).Count }
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe 'Invoke-AzManagedRestMethod declares Invoke-RestMethod''s parameters' {
    It 'has every Invoke-RestMethod parameter with the same type, aliases, parameter sets and validation' {
        $irm = Get-Command Invoke-RestMethod
        $ours = Get-Command Invoke-AzManagedRestMethod
        $expected = @($irm.Parameters.Values | Where-Object { $_.Name -notin $common -and $_.Name -notin $refused } | ForEach-Object { Get-ParameterShape $_ } | Sort-Object)
        $actual = @($ours.Parameters.Values | Where-Object { $_.Name -notin $common -and $_.Name -notin $refused -and $_.Name -notin $own } | ForEach-Object { Get-ParameterShape $_ } | Sort-Object)
        $expected.Count | Should -BeGreaterThan 40
        $actual | Should -Be $expected
        ($ours.ParameterSets | Where-Object IsDefault).Name | Should -Be ($irm.ParameterSets | Where-Object IsDefault).Name
        @($ours.ParameterSets.Name | Sort-Object) | Should -Be @($irm.ParameterSets.Name | Sort-Object)
    }

    It 'declares the authentication azmi owns only to refuse it, hidden from tab completion' {
        $ours = Get-Command Invoke-AzManagedRestMethod
        foreach ($name in $refused) {
            $ours.Parameters[$name] | Should -Not -BeNullOrEmpty
            ($ours.Parameters[$name].Attributes | Where-Object { $_ -is [Parameter] }).DontShow | Should -Contain $true
        }
    }

    It 'completes Invoke-RestMethod''s parameter names' -TestCases @(
        @{ Typed = '-StatusC'; Name = '-StatusCodeVariable' }
        @{ Typed = '-ResponseH'; Name = '-ResponseHeadersVariable' }
        @{ Typed = '-SessionV'; Name = '-SessionVariable' }
        @{ Typed = '-SkipCert'; Name = '-SkipCertificateCheck' }
        @{ Typed = '-FollowR'; Name = '-FollowRelLink' }
        @{ Typed = '-PreserveA'; Name = '-PreserveAuthorizationOnRedirect' }
        @{ Typed = '-HttpV'; Name = '-HttpVersion' }
        @{ Typed = '-Prox'; Name = '-Proxy' }
    ) {
        $line = "Invoke-AzManagedRestMethod https://example.invalid $Typed"
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain $Name
    }

    It 'does not offer -Token (only -TokenTimeoutSec) in completion' {
        $line = 'Invoke-AzManagedRestMethod https://example.invalid -Tok'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText) | Should -Be @('-TokenTimeoutSec')
    }
}

Describe 'Invoke-AzManagedRestMethod passes them through' {
    It 'sets -StatusCodeVariable and -ResponseHeadersVariable as Invoke-RestMethod does' {
        $token = Get-AzManagedToken -Resource $fake.Url
        $direct = Invoke-RestMethod "$api/status/429" -Headers @{ Authorization = "Bearer $($token.access_token)" } -SkipHttpErrorCheck -StatusCodeVariable irmStatus -ResponseHeadersVariable irmHeaders
        $answer = Invoke-AzManagedRestMethod "$api/status/429" -SkipHttpErrorCheck -StatusCodeVariable status -ResponseHeadersVariable headers
        $answer.status | Should -Be 429
        ($answer | ConvertTo-Json -Compress) | Should -BeExactly ($direct | ConvertTo-Json -Compress)
        $status | Should -Be 429
        $status | Should -BeOfType [int]
        $status | Should -Be $irmStatus
        $headers['Retry-After'] | Should -Be @('7')
        $headers['X-Fake'] | Should -Be @('status')
        $headers.GetType() | Should -Be $irmHeaders.GetType()
        @($headers.Keys | Where-Object { $_ -ne 'Date' } | Sort-Object) | Should -Be @($irmHeaders.Keys | Where-Object { $_ -ne 'Date' } | Sort-Object)
    }

    It 'sets the variables in the caller''s scope: a function''s, not the script''s, and by scope modifier' {
        function Invoke-Inner {
            $null = Invoke-AzManagedRestMethod "$api/whoami" -StatusCodeVariable innerStatus -ResponseHeadersVariable innerHeaders
            $null = Invoke-AzManagedRestMethod "$api/status/202" -StatusCodeVariable script:scriptStatus
            "$innerStatus $($innerHeaders['X-Fake'])"
        }
        $innerStatus = 'untouched'
        Invoke-Inner | Should -Be '200 whoami'
        $innerStatus | Should -Be 'untouched' -Because 'the function''s own scope got it'
        $script:scriptStatus | Should -Be 202
    }

    It 'creates a -SessionVariable session in the caller''s scope, usable with -WebSession' {
        $null = Invoke-AzManagedRestMethod "$api/whoami" -SessionVariable session
        $session | Should -BeOfType [Microsoft.PowerShell.Commands.WebRequestSession]
        $again = Invoke-AzManagedRestMethod "$api/whoami" -WebSession $session -UserAgent 'session-test/1'
        $again.userAgent | Should -BeExactly 'session-test/1'
        $again.authorization | Should -BeLike 'Bearer *'
    }

    It 'passes -Method, -Body, -ContentType, -UserAgent and -HttpVersion, over plain http' {
        $answer = Invoke-AzManagedRestMethod "$api/whoami?x=1" -Method Put -Body '{"a":1}' -ContentType 'application/json' -UserAgent 'azmi-test/1' -HttpVersion 1.1 -TimeoutSec 10
        $answer.method | Should -BeExactly 'PUT'
        $answer.body | Should -BeExactly '{"a":1}'
        $answer.contentType | Should -BeExactly 'application/json'
        $answer.userAgent | Should -BeExactly 'azmi-test/1'
        $answer.httpVersion | Should -BeExactly '1.1'
        $answer.query | Should -BeExactly '?x=1'
        $answer.authorization | Should -BeExactly "Bearer $((Get-AzManagedToken -Resource $fake.Url).access_token)"
    }

    It 'accepts -SkipCertificateCheck (and needs it for nothing on http)' {
        (Invoke-AzManagedRestMethod "$api/whoami" -SkipCertificateCheck).method | Should -BeExactly 'GET'
    }

    It 'passes -CustomMethod and -FollowRelLink' {
        (Invoke-AzManagedRestMethod "$api/whoami" -CustomMethod PROPFIND).method | Should -BeExactly 'PROPFIND'
        $pages = @(Invoke-AzManagedRestMethod "$api/pages/1" -FollowRelLink)
        ($pages | ConvertTo-Json -Compress) | Should -BeExactly '[[1],[2],[3]]'
    }

    It 'sends one request per -Body object from the pipeline, as Invoke-RestMethod' {
        $answers = @('first', 'second' | Invoke-AzManagedRestMethod "$api/whoami" -Method Post)
        $answers.body | Should -Be @('first', 'second')
    }

    It 'fails on an HTTP error as Invoke-RestMethod does, and returns it with -SkipHttpErrorCheck' {
        { Invoke-AzManagedRestMethod "$api/status/404" } | Should -Throw -ErrorId 'WebCmdletWebResponseException,Microsoft.PowerShell.Commands.InvokeRestMethodCommand'
        (Invoke-AzManagedRestMethod "$api/status/404" -SkipHttpErrorCheck).status | Should -Be 404
    }
}

Describe 'Invoke-AzManagedRestMethod owns the authentication' {
    It 'refuses -<Name> before asking for a token' -TestCases @(
        @{ Name = 'Token'; Value = (ConvertTo-SecureString 'x' -AsPlainText -Force) }
        @{ Name = 'Authentication'; Value = 'Bearer' }
        @{ Name = 'Credential'; Value = [pscredential]::new('u', (ConvertTo-SecureString 'p' -AsPlainText -Force)) }
        @{ Name = 'UseDefaultCredentials'; Value = $true }
    ) {
        $before = Get-RequestCount
        $arguments = @{ Uri = "$api/whoami"; $Name = $Value }
        $record = $null
        try { Invoke-AzManagedRestMethod @arguments -Resource https://never-asked.example } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'InvokeAzManagedRestMethodInvalidArgument,Invoke-AzManagedRestMethod'
        $record.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $record.TargetObject | Should -BeExactly "-$Name"
        $record.Exception.Message | Should -Match "^-$Name is not supported"
        $record.ErrorDetails.RecommendedAction | Should -Match 'Invoke-RestMethod'
        Get-RequestCount | Should -Be $before -Because 'no token was requested and nothing was sent'
    }

    It 'replaces an Authorization header from -Headers with the bearer token, with a warning that shows neither' {
        $warnings = $null
        $answer = Invoke-AzManagedRestMethod "$api/whoami" -Headers @{ Authorization = 'Basic c2VjcmV0'; 'x-other' = '1' } -WarningVariable warnings -WarningAction SilentlyContinue
        $token = (Get-AzManagedToken -Resource $fake.Url).access_token
        $answer.authorization | Should -BeExactly "Bearer $token"
        $warnings.Count | Should -Be 1
        "$($warnings[0])" | Should -Match 'Authorization header'
        "$($warnings[0])" | Should -Not -Match 'c2VjcmV0'
        "$($warnings[0])" | Should -Not -Match ([regex]::Escape($token))
    }
}
