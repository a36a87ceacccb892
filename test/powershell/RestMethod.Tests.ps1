# Invoke-AzManagedRestMethod passes Invoke-RestMethod's parameters through:
# every one is declared as Invoke-RestMethod declares it (so help and tab
# completion have them), the -*Variable ones land in the caller's scope, and
# the authentication azmi owns is refused clearly, and the bearer token never
# reaches an error or a session the caller keeps. Against the Cloud Shell
# fake's stand-in API on loopback http (there is no https fake here, so
# -SkipCertificateCheck is only checked as declared).

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
    function Get-ApiRequestCount { @(Get-CloudShellFakeRequests $fake | Where-Object path -Like '/api/*').Count }
    # A loopback port nothing listens on (connection refused).
    function Get-ClosedPort {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        $port = $listener.LocalEndpoint.Port
        $listener.Stop()
        $port
    }
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

    # Values other than the defaults, checked on the request the fake got, so a parameter dropped on the way fails.
    It 'passes -Method, -Body, -ContentType, -UserAgent and -HttpVersion, over plain http' {
        $answer = Invoke-AzManagedRestMethod "$api/whoami?x=1" -Method Put -Body '{"a":1}' -ContentType 'application/json' -UserAgent 'azmi-test/1' -HttpVersion 1.0
        $answer.method | Should -BeExactly 'PUT'
        $answer.body | Should -BeExactly '{"a":1}'
        $answer.contentType | Should -BeExactly 'application/json'
        $answer.userAgent | Should -BeExactly 'azmi-test/1'
        $answer.httpVersion | Should -BeExactly '1.0' -Because 'Invoke-RestMethod sends HTTP/1.1 unless told'
        $answer.query | Should -BeExactly '?x=1'
        $answer.authorization | Should -BeExactly "Bearer $((Get-AzManagedToken -Resource $fake.Url).access_token)"
    }

    It 'passes -TimeoutSec (ConnectionTimeoutSeconds): a slower answer fails with Invoke-RestMethod''s timeout error' {
        # The fake answers after 20 s; without the timeout the call would succeed.
        $record = $null
        try { $null = Invoke-AzManagedRestMethod "$api/delay/20000" -TimeoutSec 1 } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty
        $record.FullyQualifiedErrorId | Should -BeExactly 'ConnectionTimeoutReached,Invoke-AzManagedRestMethod'
        $record.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $record.Exception.InnerException | Should -BeOfType [System.TimeoutException]
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

    It 'fails on an HTTP error with Invoke-RestMethod''s error, raised by Invoke-AzManagedRestMethod, and returns it with -SkipHttpErrorCheck' {
        $record = $null
        try { Invoke-AzManagedRestMethod "$api/status/404" } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeExactly 'WebCmdletWebResponseException,Invoke-AzManagedRestMethod'
        $record.CategoryInfo.Category | Should -Be 'InvalidOperation'
        $record.Exception | Should -BeOfType [Microsoft.PowerShell.Commands.HttpResponseException]
        [int]$record.Exception.Response.StatusCode | Should -Be 404
        $record.ErrorDetails.Message | Should -Match '"status": 404'
        $record.TargetObject | Should -BeOfType [System.Net.Http.HttpRequestMessage]
        $record.TargetObject.RequestUri | Should -Be "$api/status/404"
        $record.InvocationInfo.MyCommand.Name | Should -BeExactly 'Invoke-AzManagedRestMethod'
        (Invoke-AzManagedRestMethod "$api/status/404" -SkipHttpErrorCheck).status | Should -Be 404
    }

}

Describe 'Invoke-AzManagedRestMethod fails as Invoke-RestMethod does' {
    BeforeAll {
        # Pester runs each test inside try/catch, and inside any try a
        # statement-terminating error is thrown to the catch; so how a script
        # sees the failure (the next statement runs, -ErrorAction, $?) is
        # observed in a runspace of its own, one top-level script at a time.
        $script:runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $script:shell = [powershell]::Create()
        $shell.Runspace = $runspace
        $null = $shell.AddScript("Import-Module '$((Get-Module Azmi).Path)'").Invoke()
        # The script's output, its error stream and how it ended, with each
        # ErrorRecord as 'error <id without the command>'.
        function script:Invoke-Script([string] $Text) {
            $shell.Commands.Clear()
            $shell.Streams.ClearStreams()
            $describe = ' | ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { ''error '' + ($_.FullyQualifiedErrorId -replace '',.*'') } else { "$_" } }'
            $out = try { @($shell.AddScript("& { $Text } 2>&1$describe").Invoke()) -join ' | ' } catch { 'script stopped' }
            "$out [error stream: $($shell.Streams.Error.Count)]"
        }
        $script:calls = @{
            'Invoke-RestMethod'          = "Invoke-RestMethod '$api/status/404' -Headers @{ Authorization = 'Bearer not-a-token' }"
            'Invoke-AzManagedRestMethod' = "Invoke-AzManagedRestMethod '$api/status/404'"
        }
    }
    AfterAll {
        $shell.Commands.Clear()
        $null = $shell.AddScript('Remove-Module Azmi').Invoke()
        $shell.Dispose()
        $runspace.Dispose()
    }

    It 'stops a -Body pipeline at the first failed request with one terminating error' {
        $outcome = foreach ($command in 'Invoke-RestMethod', 'Invoke-AzManagedRestMethod') {
            $before = Get-ApiRequestCount
            $seen = Invoke-Script "'a', 'b', 'c' | $($calls[$command]) -Method Post; 'next statement'"
            "$seen, $((Get-ApiRequestCount) - $before) request(s)"
        }
        $outcome[0] | Should -BeExactly 'error WebCmdletWebResponseException | next statement [error stream: 0], 1 request(s)'
        $outcome[1] | Should -BeExactly $outcome[0]
    }

    It 'treats -ErrorAction <Action> and $ErrorActionPreference = ''<Action>'' alike' -TestCases @(
        @{ Action = 'Continue' }, @{ Action = 'SilentlyContinue' }, @{ Action = 'Ignore' }, @{ Action = 'Stop' }
    ) {
        $outcome = foreach ($command in 'Invoke-RestMethod', 'Invoke-AzManagedRestMethod') {
            $call = $calls[$command]
            @(
                'parameter: ' + (Invoke-Script "$call -ErrorAction $Action; 'next statement: ' + `$?")
                'preference: ' + (Invoke-Script "`$ErrorActionPreference = '$Action'; $call; 'next statement: ' + `$?")
                'try/catch: ' + (Invoke-Script "try { $call -ErrorAction $Action; 'not caught' } catch { 'caught ' + (`$_.FullyQualifiedErrorId -replace ',.*') }")
                'in a function: ' + (Invoke-Script "function f { $call -ErrorAction $Action; 'rest of f' }; f; 'after f'")
            ) -join "`n"
        }
        $outcome[1] | Should -BeExactly $outcome[0]
        $outcome[1] | Should -Match 'WebCmdletWebResponseException'
    }

    It 'leaves one record of the failure in $Error and -ErrorVariable, its own, as Invoke-RestMethod does (<Case>)' -TestCases @(
        @{ Case = 'caught'; Shape = 'try { CALL -ErrorVariable ev } catch { }' }
        @{ Case = 'not caught'; Shape = 'CALL -ErrorVariable ev' }
        @{ Case = '-ErrorAction SilentlyContinue'; Shape = 'CALL -ErrorVariable ev -ErrorAction SilentlyContinue' }
    ) {
        # $Error[0] is what Get-Error shows and what a script reads after a
        # failure: the record the command raised (its id, the caller's line),
        # not one from inside the module.
        $report = '; "count $($Error.Count)"; "id $($Error[0].FullyQualifiedErrorId)"; "command $($Error[0].InvocationInfo.MyCommand.Name)"; "script $([System.IO.Path]::GetFileName($Error[0].InvocationInfo.ScriptName))"; "ev $(@($ev).Count)"'
        $own = @{ 'Invoke-RestMethod' = 'Microsoft\.PowerShell\.Commands\.InvokeRestMethodCommand|Invoke-RestMethod'; 'Invoke-AzManagedRestMethod' = 'Invoke-AzManagedRestMethod' }
        $outcome = foreach ($command in 'Invoke-RestMethod', 'Invoke-AzManagedRestMethod') {
            $seen = Invoke-Script ('$Error.Clear(); ' + $Shape.Replace('CALL', $calls[$command]) + $report)
            $seen -replace $own[$command], '<command>'
        }
        $outcome[1] | Should -BeExactly $outcome[0]
        $outcome[1] | Should -Match 'count 1 \| id WebCmdletWebResponseException,<command> \| command <command> \| script  \| ev 1'
    }
}

Describe 'Invoke-AzManagedRestMethod never shows the token in an error (issue 5)' {
    BeforeAll {
        # An opaque token (not JWT-shaped), so that no pattern-based redaction could hide a leak.
        $script:secretResource = 'https://opaque.restmethod.test'
        $script:secret = (Get-AzManagedToken -Resource $secretResource).access_token
        $script:secret | Should -Match '^cs_[0-9a-f]{48}$'

        # Every way a script, a log or a user prints an error. The token's last
        # 16 characters are looked for too, so a shortened display cannot hide it.
        # (ConvertTo-Json of a whole record takes a second: only for the record caught, -Json.)
        function Get-ErrorText([Parameter(Mandatory)] $Item, [switch] $Json) {
            $record = if ($Item -is [System.Management.Automation.ErrorRecord]) { $Item }
            elseif ($Item.PSObject.Properties['ErrorRecord']) { $Item.ErrorRecord }
            if ($Item -is [System.Exception]) { $Item.ToString() }
            if ($null -eq $record) { return }
            $saved = $global:ErrorView
            try {
                foreach ($view in 'NormalView', 'ConciseView', 'DetailedView', 'CategoryView') {
                    $global:ErrorView = $view
                    $record | Out-String -Width 8192
                }
            } finally { $global:ErrorView = $saved }
            Get-Error -InputObject $record | Out-String -Width 8192
            $record | Format-List * -Force | Out-String -Width 8192
            $record.TargetObject | Out-String -Width 8192
            $record.TargetObject | Format-List * -Force | Out-String -Width 8192
            "$($record.TargetObject)"
            $record.CategoryInfo.TargetName
            $record.ErrorDetails | Out-String -Width 8192
            $record.Exception.ToString()
            $record.Exception.Data | Out-String -Width 8192
            if ($record.Exception.PSObject.Properties['Response'] -and $record.Exception.Response) {
                $record.Exception.Response.RequestMessage | Out-String -Width 8192
            }
            $record.InvocationInfo.BoundParameters | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue
            if ($Json) { $record | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue }
        }
        function Assert-NoSecret([Parameter(Mandatory)] [object[]] $Items, [string] $Because, [switch] $Json) {
            $tail = $secret.Substring($secret.Length - 16)
            foreach ($item in $Items) {
                $text = (Get-ErrorText $item -Json:$Json) -join "`n"
                $text | Should -Not -BeNullOrEmpty
                $text.Contains($secret) | Should -BeFalse -Because "the token must not be in $Because ($($item.GetType().Name))"
                $text.Contains($tail) | Should -BeFalse -Because "no part of the token may be in $Because ($($item.GetType().Name))"
            }
        }
    }

    It 'not in the error of <Case>, in any form, nor in $Error or -ErrorVariable' -TestCases @(
        @{ Case = 'a 404'; Path = '/status/404'; Id = 'WebCmdletWebResponseException' }
        @{ Case = 'a 500'; Path = '/status/500'; Id = 'WebCmdletWebResponseException' }
        @{ Case = 'a 401 whose body echoes the Authorization header'; Path = '/status/401?echo=1'; Id = 'WebCmdletWebResponseException' }
        @{ Case = 'a refused connection'; Path = $null; Id = 'WebCmdletWebResponseException' }
        @{ Case = 'a timeout'; Path = '/delay/20000'; Id = 'ConnectionTimeoutReached' }
    ) {
        $uri = if ($Path) { "$api$Path" } else { "http://127.0.0.1:$(Get-ClosedPort)/x" }
        $extra = if ($Id -eq 'ConnectionTimeoutReached') { @{ TimeoutSec = 1 } } else { @{} }
        $Error.Clear()
        $record = $null
        $collected = $null
        try { Invoke-AzManagedRestMethod $uri -Resource $secretResource @extra -ErrorVariable collected } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty
        Assert-NoSecret @($record) -Because 'the error caught' -Json
        Assert-NoSecret @($Error) -Because '$Error'
        Assert-NoSecret @($collected) -Because '-ErrorVariable'
        # And it is still Invoke-RestMethod's error, saying what failed.
        $record.FullyQualifiedErrorId | Should -BeExactly "$Id,Invoke-AzManagedRestMethod"
        if ($Path -like '*echo=1') {
            $record.ErrorDetails.Message | Should -Match '"authorization": "Bearer \[REDACTED\]"' -Because 'the server echoed the header into its error body'
        }
        if ($record.TargetObject -is [System.Net.Http.HttpRequestMessage]) {
            $record.TargetObject.Headers.Contains('Authorization') | Should -BeFalse
            "$($record.TargetObject.RequestUri)" | Should -Be $uri
        }
    }

    It 'not in a non-terminating error of Invoke-RestMethod (-MaximumRedirection 0 on a redirect), which is still written' {
        $Error.Clear()
        $collected = $null
        $null = Invoke-AzManagedRestMethod "$api/redirect?to=/api/whoami" -Resource $secretResource -MaximumRedirection 0 -SkipHttpErrorCheck -ErrorAction SilentlyContinue -ErrorVariable collected
        $records = @($collected | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] -and $_.FullyQualifiedErrorId -like 'MaximumRedirectExceeded,*' })
        $records.Count | Should -BeGreaterThan 0
        Assert-NoSecret @($records[-1]) -Because 'the error written' -Json
        Assert-NoSecret @($collected) -Because '-ErrorVariable'
        Assert-NoSecret @($Error) -Because '$Error'
        $records[-1].FullyQualifiedErrorId | Should -BeExactly 'MaximumRedirectExceeded,Invoke-AzManagedRestMethod'
        { Invoke-AzManagedRestMethod "$api/redirect?to=/api/whoami" -Resource $secretResource -MaximumRedirection 0 -SkipHttpErrorCheck -ErrorAction Stop } |
            Should -Throw -ErrorId 'MaximumRedirectExceeded,Invoke-AzManagedRestMethod'
    }

    It 'not in Invoke-RestMethod''s own parameter errors, which name its cmdlet object (and -Headers with it)' {
        $Error.Clear()
        $record = $null
        try { Invoke-AzManagedRestMethod "$api/whoami" -Resource $secretResource -Body 'x' -InFile $PSCommandPath } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty
        Assert-NoSecret @($record) -Because 'the error caught' -Json
        Assert-NoSecret @($Error) -Because '$Error'
        $record.FullyQualifiedErrorId | Should -BeExactly 'WebCmdletBodyConflictException,Invoke-AzManagedRestMethod'
    }

    It 'refuses, without quoting it, a token .NET cannot send as a header (its own error would quote the value)' {
        $resource = 'https://comma.restmethod.test'
        $odd = (Get-AzManagedToken -Resource $resource).access_token
        $odd | Should -Match ','
        $Error.Clear()
        $before = Get-RequestCount
        $record = $null
        try { Invoke-AzManagedRestMethod "$api/whoami" -Resource $resource } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty
        ((Get-ErrorText $record) -join "`n").Contains($odd) | Should -BeFalse -Because 'the error must not quote the token'
        (@($Error | ForEach-Object { Get-ErrorText $_ }) -join "`n").Contains($odd) | Should -BeFalse -Because '$Error must not hold it'
        $record.FullyQualifiedErrorId | Should -BeExactly 'InvokeAzManagedRestMethodInvalidResponse,Invoke-AzManagedRestMethod'
        $record.CategoryInfo.Category | Should -Be 'InvalidResult'
        $record.Exception.Message | Should -Match 'cannot be sent as an Authorization header'
        Get-RequestCount | Should -Be $before -Because 'nothing was sent'
    }
}

Describe 'Invoke-AzManagedRestMethod leaves no token in a web session' {
    BeforeAll {
        $script:bearer = "Bearer $((Get-AzManagedToken -Resource $fake.Url).access_token)"
    }

    It 'removes it from a -WebSession after the call (<Case>), so a reused session sends no token' -TestCases @(
        @{ Case = 'success'; Path = '/whoami' }
        @{ Case = 'HTTP error'; Path = '/status/404' }
    ) {
        $session = [Microsoft.PowerShell.Commands.WebRequestSession]::new()
        $session.Headers['X-Kept'] = 'yes'
        $answer = try { Invoke-AzManagedRestMethod "$api$Path" -WebSession $session } catch { $null }
        if ($Case -eq 'success') { $answer.authorization | Should -BeExactly $bearer }
        $session.Headers.ContainsKey('Authorization') | Should -BeFalse
        $session.Headers['X-Kept'] | Should -BeExactly 'yes'
        (Invoke-RestMethod "$api/whoami" -WebSession $session).authorization | Should -BeNullOrEmpty
    }

    It 'hands back a -SessionVariable session without it, also when the request failed' {
        $null = Invoke-AzManagedRestMethod "$api/whoami" -SessionVariable made
        $made | Should -BeOfType [Microsoft.PowerShell.Commands.WebRequestSession]
        $made.Headers.ContainsKey('Authorization') | Should -BeFalse
        (Invoke-RestMethod "$api/whoami" -WebSession $made).authorization | Should -BeNullOrEmpty
        try { Invoke-AzManagedRestMethod "$api/status/500" -SessionVariable failed } catch { }
        $failed | Should -BeOfType [Microsoft.PowerShell.Commands.WebRequestSession]
        $failed.Headers.ContainsKey('Authorization') | Should -BeFalse
    }

    It 'puts back an Authorization header the caller had in the session, with a warning that it was replaced for the call' {
        $session = [Microsoft.PowerShell.Commands.WebRequestSession]::new()
        $session.Headers['Authorization'] = 'Basic c2Vzc2lvbg=='
        $warnings = $null
        $answer = Invoke-AzManagedRestMethod "$api/whoami" -WebSession $session -WarningVariable warnings -WarningAction SilentlyContinue
        $answer.authorization | Should -BeExactly $bearer
        $session.Headers['Authorization'] | Should -BeExactly 'Basic c2Vzc2lvbg=='
        @($warnings).Count | Should -Be 1
        "$($warnings[0])" | Should -Match 'Authorization header of -WebSession'
        "$($warnings[0])" | Should -Not -Match 'c2Vzc2lvbg'
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

    It 'lets -UseDefaultCredentials:$false through (it asks for nothing)' {
        $answer = Invoke-AzManagedRestMethod "$api/whoami" -UseDefaultCredentials:$false
        $answer.authorization | Should -BeExactly "Bearer $((Get-AzManagedToken -Resource $fake.Url).access_token)"
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
