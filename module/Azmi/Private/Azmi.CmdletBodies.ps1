# The bodies of the Azmi cmdlets other than Get-AzManagedToken, and the
# helpers only they use. Public/Azmi.Functions.ps1 declares those cmdlets (help,
# parameter sets, pipeline binding: everything Get-Command and Get-Help show)
# and loads this file on the first call of any of them: a fresh session that
# only wants a token does not pay for parsing it at Import-Module.
#
# Each body is dot-sourced into its cmdlet's own scope, so it sees the
# cmdlet's parameters, $PSCmdlet and $_ as if it were written inline; only
# $PSBoundParameters and $MyInvocation are the dot-sourced block's own, so the
# bodies read $PSCmdlet.MyInvocation (the cmdlet's) instead. Everything here is
# defined in the module's scope (script:), since the file is dot-sourced from
# a function.

#region Audiences
# Which resource (audience) a request URL needs a token for. Azure data-plane
# hosts share one audience per service; anything else gets its own origin,
# which is what a local API validating azmi-serve tokens expects.
$script:AzmiAudiences = @(
    @{ Pattern = '(^|\.)vault\.azure\.net$'; Resource = 'https://vault.azure.net' }
    @{ Pattern = '(^|\.)managedhsm\.azure\.net$'; Resource = 'https://managedhsm.azure.net' }
    @{ Pattern = '^management\.azure\.com$'; Resource = 'https://management.azure.com' }
    @{ Pattern = '\.(blob|queue|table|file|dfs)\.core\.windows\.net$'; Resource = 'https://storage.azure.com' }
    @{ Pattern = '^graph\.microsoft\.com$'; Resource = 'https://graph.microsoft.com' }
    @{ Pattern = '\.database\.windows\.net$'; Resource = 'https://database.windows.net' }
    @{ Pattern = '\.servicebus\.windows\.net$'; Resource = 'https://servicebus.azure.net' }
    @{ Pattern = '\.azconfig\.io$'; Resource = 'https://azconfig.io' }
    @{ Pattern = '\.documents\.azure\.com$'; Resource = 'https://cosmos.azure.com' }
    @{ Pattern = '^api\.loganalytics\.io$'; Resource = 'https://api.loganalytics.io' }
)

function script:Get-AzmiResourceForUri {
    param([Parameter(Mandatory)] [uri] $Uri)
    $hostName = $Uri.Host.ToLowerInvariant()
    foreach ($entry in $script:AzmiAudiences) {
        if ($hostName -match $entry.Pattern) { return $entry.Resource }
    }
    $Uri.GetLeftPart([System.UriPartial]::Authority)
}
#endregion
#region Endpoint environment
# -SetEnvironment points this session at a local endpoint. Clients pick a
# managed-identity source by which variables are set (App Service beats
# Cloud Shell, and so on), so every identity-endpoint variable is cleared
# first and the previous values are kept to put back on Stop.
$script:AzmiIdentityEnvNames = @(
    'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'MSI_ENDPOINT', 'MSI_SECRET',
    'IMDS_ENDPOINT', 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'DEFAULT_IDENTITY_CLIENT_ID'
)

function script:Set-AzmiEndpointEnvironment {
    param([Parameter(Mandatory)] [int] $Id, [Parameter(Mandatory)] [System.Collections.IDictionary] $Variables)
    $saved = @{}
    foreach ($name in @($script:AzmiIdentityEnvNames) + @($Variables.Keys)) {
        if (-not $saved.ContainsKey($name)) { $saved[$name] = [System.Environment]::GetEnvironmentVariable($name) }
    }
    foreach ($name in $script:AzmiIdentityEnvNames) { [System.Environment]::SetEnvironmentVariable($name, $null) }
    foreach ($entry in $Variables.GetEnumerator()) { [System.Environment]::SetEnvironmentVariable($entry.Key, [string]$entry.Value) }
    $script:Endpoints[$Id].Saved = $saved
}

function script:Restore-AzmiEndpointEnvironment {
    # Puts back what Set-AzmiEndpointEnvironment changed, and forgets the
    # endpoint. -SetEnvironment endpoints stack: each saved what the one
    # before it had set. So the values go back into the environment only
    # when this is the newest one that set it; otherwise the next newer one
    # takes them over as what it saved (what it saved pointed at this one,
    # which is going away), and the session keeps pointing at the newest
    # endpoint still running. Any stop order ends where the session began.
    param([Parameter(Mandatory)] [int] $Id)
    $record = $script:Endpoints[$Id]
    $script:Endpoints.Remove($Id)
    if ($null -eq $record -or $null -eq $record.Saved) { return }
    $heir = $null
    foreach ($other in $script:Endpoints.Values) {
        if ($null -ne $other.Saved -and $other.Seq -gt $record.Seq -and ($null -eq $heir -or $other.Seq -lt $heir.Seq)) { $heir = $other }
    }
    if ($null -ne $heir) {
        foreach ($entry in $record.Saved.GetEnumerator()) { $heir.Saved[$entry.Key] = $entry.Value }
        return
    }
    foreach ($entry in $record.Saved.GetEnumerator()) { [System.Environment]::SetEnvironmentVariable($entry.Key, $entry.Value) }
}
#endregion
#region Invoke-AzManagedRestMethod's parameters
# Bound parameters Invoke-AzManagedRestMethod does not pass to
# Invoke-RestMethod: its own (and -Uri and -Headers, passed separately), the
# common parameters (their preferences reach Invoke-RestMethod through this
# scope; -Debug never does) and Invoke-RestMethod's authentication, which it
# refuses (AzmiRestRefused).
$script:AzmiRestRefused = @('Authentication', 'Token', 'Credential', 'UseDefaultCredentials')
$script:AzmiRestOwn = [System.Collections.Generic.HashSet[string]]::new(
    [string[]](@('Uri', 'Headers', 'Resource', 'ClientId', 'ObjectId', 'ResourceId', 'Source', 'Exclude', 'TokenTimeoutSec') + $script:AzmiRestRefused +
        [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters),
    [System.StringComparer]::OrdinalIgnoreCase)

# The three helpers below take the token and the records that may quote it:
# script blocks called as methods (.InvokeReturnAsIs), not functions, since
# with module logging on PowerShell writes the text of every value bound to a
# function's parameters to the event log (see Private/Azmi.ScriptBridge.ps1).

# The exception side of ProtectRestError, for an exception and its
# inner ones: the request its HTTP response names loses the header, and
# the token is redacted from Data and from a message that quotes it (a
# RuntimeException built from an ErrorRecord takes its message from
# ErrorDetails, e.g. a server's error body that echoed the header). A
# message is fixed in place (Exception's message field), since the same
# exception sits in $Error and in every -ErrorVariable around the call.
# Returns $true when a message still quotes the token.
$script:ProtectRestException = {
    param($Exception, [string] $Token)
    $quoted = $false
    for (; $null -ne $Exception; $Exception = $Exception.InnerException) {
        $response = $Exception.PSObject.Properties['Response']
        if ($null -ne $response -and $response.Value -is [System.Net.Http.HttpResponseMessage]) {
            $null = $script:RemoveRestHeader.InvokeReturnAsIs($response.Value.RequestMessage, $Token)
        }
        foreach ($key in @($Exception.Data.Keys)) {
            $value = $Exception.Data[$key]
            if ($value -is [string] -and $value.Contains($Token)) { $Exception.Data[$key] = $value.Replace($Token, '[REDACTED]') }
        }
        if ($Exception.Message.Contains($Token)) {
            $field = [System.Exception].GetField('_message', [System.Reflection.BindingFlags]'NonPublic, Instance')
            if ($null -ne $field) { try { $field.SetValue($Exception, $Exception.Message.Replace($Token, '[REDACTED]')) } catch { } }
            if ($Exception.Message.Contains($Token)) { $quoted = $true }
        }
    }
    $quoted
}

# Only the header azmi added: with -SkipHeaderValidation a caller's header of that name may be there as well.
$script:RemoveRestHeader = {
    param($Request, [string] $Token)
    $values = $null
    if ($Request -is [System.Net.Http.HttpRequestMessage] -and $Request.Headers.TryGetValues('Authorization', [ref]$values) -and
        ($values -join ', ').Contains($Token)) {
        $null = $Request.Headers.Remove('Authorization')
    }
}

# Invoke-RestMethod's ErrorRecords hold the request it sent (TargetObject,
# and Exception.Response.RequestMessage for an HTTP error status), with
# the Authorization: Bearer header in it; Get-Error, $_.TargetObject,
# CategoryInfo.TargetName and ConvertTo-Json all show it. The header is
# removed from those objects in place, so every copy of the record ($Error,
# -ErrorVariable) is clean too. A server may echo the token into its error
# body (ErrorDetails, per copy), and an exception's Data or message may
# hold it: redacted. Returns the record to raise: this one, or, should an
# exception's message still quote the token, a copy without it.
$script:ProtectRestError = {
    param([System.Management.Automation.ErrorRecord] $Record, [string] $Authorization, [string] $Token)
    $target = $Record.TargetObject
    $null = $script:RemoveRestHeader.InvokeReturnAsIs($target, $Token)
    if ($target -is [Microsoft.PowerShell.Commands.WebRequestPSCmdlet] -and $null -ne $target.WebSession -and
        $target.WebSession.Headers['Authorization'] -ceq $Authorization) {
        # Its parameter checks name the cmdlet itself; its -Headers is ours (cleaned by the caller).
        $null = $target.WebSession.Headers.Remove('Authorization')
    }
    $quoted = $script:ProtectRestException.InvokeReturnAsIs($Record.Exception, $Token)
    $details = $Record.ErrorDetails
    if ($null -ne $details -and ("$($details.Message)".Contains($Token) -or "$($details.RecommendedAction)".Contains($Token))) {
        $clean = [System.Management.Automation.ErrorDetails]::new("$($details.Message)".Replace($Token, '[REDACTED]'))
        $clean.RecommendedAction = "$($details.RecommendedAction)".Replace($Token, '[REDACTED]')
        $Record.ErrorDetails = $details = $clean
    }
    if (-not $quoted -and -not "$target".Contains($Token)) { return $Record }

    # Last resort (no known error gets here): the same id and category, the
    # message redacted, no target.
    $message = ''
    for ($exception = $Record.Exception; $null -ne $exception; $exception = $exception.InnerException) {
        $message += $(if ($message) { ' ---> ' }) + $exception.GetType().FullName + ': ' + $exception.Message.Replace($Token, '[REDACTED]')
    }
    $copy = [System.Management.Automation.ErrorRecord]::new([System.InvalidOperationException]::new($message),
        ($Record.FullyQualifiedErrorId -split ',')[0], $Record.CategoryInfo.Category, $null)
    $copy.ErrorDetails = $details
    $copy
}
#endregion
$script:AzmiCmdletBodies = @{
    'Get-AzManagedIdentityChain' = {
        $requestArgs = @{ CommandName = $PSCmdlet.MyInvocation.MyCommand.Name; Bound = $PSCmdlet.MyInvocation.BoundParameters; TimeoutSec = $TimeoutSec }
        if ($PSCmdlet.ParameterSetName -eq 'Resource') { $requestArgs.Resource = $Resource } else { $requestArgs.Scope = $Scope }
        $params = New-AzmiTokenRequest @requestArgs
        if ($params -is [System.Management.Automation.ErrorRecord]) { $PSCmdlet.WriteError($params); return }

        $wantVerbose = $VerbosePreference -ne 'SilentlyContinue'
        $response = Invoke-AzmiBridge -Op chain -Params $params -TimeoutSec ($TimeoutSec) -WantVerbose $wantVerbose
        if ($wantVerbose) { Write-AzmiBridgeVerbose $response.report $response.log }
        $target = if ($params.resource) { $params.resource } else { $params.scope }
        if (-not $response.ok) {
            $record = New-AzmiErrorRecord -CommandName $PSCmdlet.MyInvocation.MyCommand.Name -Fault $response.error -Target $target -TimeoutParameter TimeoutSec -TimeoutSec $TimeoutSec
            if ($response.error.condition -in 'NodeNotFound', 'BridgeNotFound') { $PSCmdlet.ThrowTerminatingError($record) }
            $PSCmdlet.WriteError($record)
            return
        }
        $result = $response.result
        $resourceName = if ($result.resource) { $result.resource } else { $target }
        foreach ($link in $result.links) {
            $object = [pscustomobject]@{
                Link         = $link.link
                Credential   = $link.credential
                Outcome      = $link.outcome
                Reason       = $link.reason
                Milliseconds = [math]::Round([double]$link.ms, 1)
                Winner       = ($null -ne $result.winner -and $link.link -eq $result.winner)
                Resource     = $resourceName
            }
            $object.PSObject.TypeNames.Insert(0, 'Azmi.ChainLink')
            $object.PSObject.Members.Add($script:ChainLinkDisplay)
            $object
        }
        if ($wantVerbose) {
            $winner = if ($result.winner) { $result.winner } else { 'none' }
            Write-Verbose ("Chain for '{0}': winner {1}, {2} ms, {3} transport{4}." -f $resourceName, $winner, [math]::Round([double]$result.ms, 1), $result.transport, $(if ($result.fromMemo) { ', remembered winner' } else { '' }))
            if ($result.tokenAcquired -and $result.expiresOn) {
                Write-Verbose ("A token was acquired; it expires {0}." -f [System.DateTimeOffset]::FromUnixTimeSeconds([long]$result.expiresOn).ToString('u'))
            } elseif ($result.error) {
                $why = if ($result.timedOut -eq $true) { Get-AzmiCallBudgetMessage -Target $resourceName -TimeoutParameter TimeoutSec -TimeoutSec $TimeoutSec } else { $result.error.message }
                Write-Verbose ("No token: {0} ({1})." -f $why, $result.error.code)
            }
        }
    }
    'Invoke-AzManagedRestMethod' = {
    # Runs per pipeline item (-Body takes pipeline input, as Invoke-RestMethod's does).
    $command = $PSCmdlet.MyInvocation.MyCommand.Name
    $bound = $PSCmdlet.MyInvocation.BoundParameters
    foreach ($name in $script:AzmiRestRefused) {
        # -UseDefaultCredentials:$false asks for nothing, so it is let through (and not passed on).
        if ($bound.ContainsKey($name) -and -not ($bound[$name] -is [switch] -and -not $bound[$name].IsPresent)) {
            $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Condition 'InvalidArgument' -Target "-$name" `
                        -Message "-$name is not supported: $command authenticates with the bearer token it gets for the target's resource (Get-AzManagedToken)." `
                        -RecommendedAction "Leave out -$name, or call Invoke-RestMethod to authenticate another way."))
        }
    }
    if (-not $Uri.IsAbsoluteUri) {
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Condition 'InvalidArgument' -Target $Uri `
                    -Message "-Uri '$Uri' is not an absolute URI; give the full URL, e.g. https://management.azure.com/subscriptions?api-version=2022-12-01."))
    }
    # A -Resource given (even an empty one, which New-AzmiTokenRequest refuses) wins over the URI's.
    $audience = if ($bound.ContainsKey('Resource')) { $Resource } else { Get-AzmiResourceForUri -Uri $Uri }
    $selectors = @{}
    foreach ($name in 'ClientId', 'ObjectId', 'ResourceId', 'Source', 'Exclude') {
        if ($bound.ContainsKey($name)) { $selectors[$name] = $bound[$name] }
    }
    $params = New-AzmiTokenRequest -CommandName $command -Bound $selectors -Resource $audience -TimeoutSec $TokenTimeoutSec
    if ($params -is [System.Management.Automation.ErrorRecord]) { $PSCmdlet.ThrowTerminatingError($params) }

    $wantVerbose = $VerbosePreference -ne 'SilentlyContinue'
    if ($wantVerbose) { Write-Verbose "Requesting a token for '$audience' to call $($Uri.GetLeftPart([System.UriPartial]::Path))." }
    $response = Invoke-AzmiBridge -Op token -Params $params -TimeoutSec ($TokenTimeoutSec) -WantVerbose $wantVerbose
    if ($wantVerbose) { Write-AzmiBridgeVerbose $response.report $response.log }
    if (-not $response.ok) {
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $audience -TimeoutParameter TokenTimeoutSec -TimeoutSec $TokenTimeoutSec))
    }

    # Everything else that was bound is Invoke-RestMethod's, passed on as given.
    $rest = @{}
    foreach ($entry in $bound.GetEnumerator()) {
        if (-not $script:AzmiRestOwn.Contains($entry.Key)) { $rest[$entry.Key] = $entry.Value }
    }
    # Invoke-RestMethod sets -StatusCodeVariable, -ResponseHeadersVariable and
    # -SessionVariable in the scope it is called from, which here is this
    # function's; so it sets names of ours, and the values go to the caller's
    # scope ($PSCmdlet.SessionState, the same call Invoke-RestMethod makes)
    # once it is done, also when it fails (it may have set them by then).
    $variables = @{}
    foreach ($name in 'StatusCodeVariable', 'ResponseHeadersVariable', 'SessionVariable') {
        if ($rest.ContainsKey($name)) {
            $variables["AzmiRest$name"] = $rest[$name]
            $rest[$name] = "AzmiRest$name"
            $ExecutionContext.SessionState.PSVariable.Remove("AzmiRest$name")
        }
    }
    $sendHeaders = @{}
    if ($Headers) {
        foreach ($key in $Headers.Keys) {
            if ($key -ne 'Authorization') { $sendHeaders[$key] = $Headers[$key] }
            else { Write-Warning "The Authorization header given in -Headers is replaced by the bearer token for '$audience'." }
        }
    }
    $token = [string]$response.result.access_token
    $authorization = "$($response.result.token_type) $token"
    # A value .NET would refuse as a header makes Invoke-RestMethod throw an
    # exception that quotes it, token and all ("The format of value 'Bearer
    # ...' is invalid"); refuse it here, without the value. Line breaks are
    # refused even with -SkipHeaderValidation.
    # (Not by catching that exception here: a caught exception stays in $Error.)
    $parsed = $null
    if ($authorization -match '[\r\n\0]' -or
        (-not $SkipHeaderValidation -and -not [System.Net.Http.Headers.AuthenticationHeaderValue]::TryParse($authorization, [ref]$parsed))) {
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Condition 'InvalidResponse' -Target $audience `
                    -Message "The token for '$audience' cannot be sent as an Authorization header: the identity endpoint returned a value with characters an HTTP header cannot hold." `
                    -RecommendedAction 'Check what the identity endpoint returns (Get-AzManagedToken -Verbose shows which one answered).'))
    }
    $sendHeaders['Authorization'] = $authorization
    # A session the caller passed in gets the bearer token only for this call
    # (Invoke-RestMethod copies -Headers into it, and a reused session would
    # send it to any host); an Authorization header of the caller's own in it
    # is put back afterwards.
    $callerSession = if ($bound.ContainsKey('WebSession')) { $WebSession }
    $callerAuthorization = $null
    if ($null -ne $callerSession -and $callerSession.Headers.ContainsKey('Authorization')) {
        $callerAuthorization = $callerSession.Headers['Authorization']
        Write-Warning "The Authorization header of -WebSession is replaced by the bearer token for '$audience' for this call, and put back afterwards."
    }

    $failure = $null
    $restErrors = $null
    try {
        # Never -Debug: Invoke-RestMethod's debug lines print request headers,
        # and so the bearer token. Our own -Debug output (the chain's log) is above.
        # Its non-terminating errors are collected, not written, so that they
        # are cleaned (below) before anyone sees them; its terminating ones
        # are caught for the same reason.
        Invoke-RestMethod -Uri $Uri -Headers $sendHeaders @rest -Debug:$false -ErrorAction SilentlyContinue -ErrorVariable restErrors
    } catch {
        $failure = $_
    } finally {
        # The hashtable is what Invoke-RestMethod's InvocationInfo.BoundParameters
        # (in each of its ErrorRecords) and the cmdlet object itself refer to.
        $null = $sendHeaders.Remove('Authorization')
        if ($null -ne $callerSession) {
            if ($null -ne $callerAuthorization) { $callerSession.Headers['Authorization'] = $callerAuthorization }
            elseif ($callerSession.Headers['Authorization'] -ceq $authorization) { $null = $callerSession.Headers.Remove('Authorization') }
        }
        foreach ($entry in $variables.GetEnumerator()) {
            $set = $ExecutionContext.SessionState.PSVariable.Get($entry.Key)
            if ($null -eq $set) { continue }
            if ($entry.Key -eq 'AzmiRestSessionVariable' -and $set.Value -is [Microsoft.PowerShell.Commands.WebRequestSession] -and
                $set.Value.Headers['Authorization'] -ceq $authorization) {
                $null = $set.Value.Headers.Remove('Authorization')
            }
            $PSCmdlet.SessionState.PSVariable.Set($entry.Value, $set.Value)
        }
    }
    if ($null -eq $failure -and -not $restErrors) { return }

    # Each error exists as several ErrorRecord copies: Invoke-RestMethod's
    # own (inside the exception that carried it), the one $Error got, the one
    # the catch above got. The request object is shared, ErrorDetails is not:
    # every copy of this call's errors is cleaned.
    $exceptions = [System.Collections.Generic.HashSet[object]]::new()
    if ($null -ne $failure) { $null = $exceptions.Add($failure.Exception) }
    $written = [System.Collections.Generic.List[object]]::new()
    foreach ($item in @($restErrors)) {
        # The terminating error is here too, as the exception that carried it: cleaned below, not written.
        if ($item -is [System.Management.Automation.ErrorRecord]) {
            $null = $exceptions.Add($item.Exception)
            if ($null -eq $failure -or $item.Exception -ne $failure.Exception) { $written.Add($item) }
        } elseif ($item -is [System.Management.Automation.IContainsErrorRecord]) {
            $null = $exceptions.Add($item.ErrorRecord.Exception)
        }
    }
    foreach ($entry in @($restErrors) + @($global:Error)) {
        $record = if ($entry -is [System.Management.Automation.ErrorRecord]) { $entry } elseif ($entry -is [System.Management.Automation.IContainsErrorRecord]) { $entry.ErrorRecord }
        if ($null -eq $record -or -not $exceptions.Contains($record.Exception)) { continue }
        $null = $script:ProtectRestError.InvokeReturnAsIs($record, $authorization, $token)
        if ($entry -isnot [System.Management.Automation.ErrorRecord]) { $null = $script:ProtectRestException.InvokeReturnAsIs($entry, $token) }
    }
    # Invoke-RestMethod's own records (its id, the call inside this module)
    # went into $Error, and into this call's -ErrorVariable, as they were
    # raised: removed, so that $Error[0], Get-Error and -ErrorVariable hold
    # the one record this command writes or raises below, as Invoke-RestMethod's
    # would. (PowerShell does not add a record to $Error whose exception is
    # already $Error[0]'s, so they must go before it is raised.)
    $lists = @(, $global:Error)
    $errorVariable = $bound['ErrorVariable']
    if ($errorVariable) {
        $collected = $PSCmdlet.SessionState.PSVariable.GetValue($errorVariable.TrimStart('+'))
        if ($collected -is [System.Collections.IList] -and -not $collected.IsReadOnly -and -not $collected.IsFixedSize) { $lists += , $collected }
    }
    foreach ($list in $lists) {
        foreach ($entry in @($list)) {
            $record = if ($entry -is [System.Management.Automation.ErrorRecord]) { $entry } elseif ($entry -is [System.Management.Automation.IContainsErrorRecord]) { $entry.ErrorRecord }
            if ($null -ne $record -and $exceptions.Contains($record.Exception)) { $list.Remove($entry) }
        }
    }
    foreach ($record in $written) { $PSCmdlet.WriteError($script:ProtectRestError.InvokeReturnAsIs($record, $authorization, $token)) }
    # As Invoke-RestMethod: terminating, so a failed request also stops a -Body pipeline.
    if ($null -ne $failure) { $PSCmdlet.ThrowTerminatingError($script:ProtectRestError.InvokeReturnAsIs($failure, $authorization, $token)) }
    }
    'Start-AzManagedIdentityEndpoint' = {
    $command = $PSCmdlet.MyInvocation.MyCommand.Name
    $what = "$Issuer-issuer managed-identity endpoint on ${HostName}:$Port" + $(if ($SetEnvironment) { " and set the $Dialect variables in this session" } else { '' })
    if (-not $PSCmdlet.ShouldProcess($what, 'Start')) { return }

    # The folder whose state file a -StateFile endpoint writes, as the bridge
    # reads it from this session's environment on each call: AZMI_HOME, else ~/.azmi.
    $azmiFolder = if ($env:AZMI_HOME) { [System.IO.Path]::GetFullPath($env:AZMI_HOME) } else { [System.IO.Path]::Combine([Environment]::GetFolderPath('UserProfile'), '.azmi') }
    $startFault = @{ code = 'ERR_SERVER_START'; name = 'AzmiError' }
    # Only while the bridge that runs them is alive: a dead bridge's endpoints are gone (Open-AzmiBridge forgets them).
    if ($StateFile -and $script:Bridge -and -not $script:Bridge.Process.HasExited) {
        # This session's own endpoint holds the state file: name it by its Id, not as "another azmi server (pid <the bridge>)".
        foreach ($id in @($script:Endpoints.Keys)) {
            if (-not $script:Endpoints[$id].StateFile -or $script:Endpoints[$id].Folder -ne $azmiFolder) { continue }
            $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Fault $startFault -Condition 'StartFailed' -Target "${HostName}:$Port" `
                        -Message "Endpoint $id of this session ($($script:Endpoints[$id].Url)) already records itself in azmi's state file in $azmiFolder, and one server per azmi folder does." `
                        -RecommendedAction "Stop it first (Stop-AzManagedIdentityEndpoint -Id $id), start this one without -StateFile, or set `$env:AZMI_HOME to another folder for this one."))
        }
    }
    $params = [ordered]@{ host = $HostName; port = $Port; issuer = $Issuer.ToLowerInvariant(); stateFile = $StateFile.IsPresent }
    if ($TenantId) { $params.tenantId = $TenantId }
    if ($AcceptAnyIdentity) { $params.acceptAnyIdentity = $true }
    $response = Invoke-AzmiBridge -Op serve.start -Params $params -TimeoutSec (15) -WantVerbose ($VerbosePreference -ne 'SilentlyContinue')
    if (-not $response.ok) {
        $other = $response.error.otherServer
        if ($null -ne $other) {
            # Another process's server holds the state file: say so in this shell's terms (the core's message gives sh syntax).
            $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Condition 'StartFailed' -Target "${HostName}:$Port" `
                        -Message "Another azmi server (pid $($other.pid)) is running at $($other.url) and already records itself in azmi's state file ($($other.stateFile)), and one server per azmi folder does." `
                        -RecommendedAction "Stop that server first (Ctrl+C where 'azmi serve' runs, or Stop-AzManagedIdentityEndpoint in the PowerShell session that started it), start this one without -StateFile, or set `$env:AZMI_HOME to another folder for this one."))
        }
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target "${HostName}:$Port"))
    }
    $result = $response.result
    foreach ($warning in $result.warnings) { Write-Warning $warning }

    $dialects = [ordered]@{}
    foreach ($property in $result.dialects.PSObject.Properties) {
        $vars = [ordered]@{}
        if ($null -ne $property.Value) { foreach ($v in $property.Value.PSObject.Properties) { $vars[$v.Name] = [string]$v.Value } }
        $dialects[$property.Name.Substring(0, 1).ToUpperInvariant() + $property.Name.Substring(1)] = $vars
    }
    $chosen = $dialects[$Dialect]
    # Seq: start order in this session (the bridge's ids start at 1 again after a restart).
    $script:EndpointSeq = 1 + $(if ($script:EndpointSeq) { $script:EndpointSeq } else { 0 })
    $script:Endpoints[[int]$result.id] = @{ Url = $result.url; Saved = $null; Seq = $script:EndpointSeq; StateFile = $StateFile.IsPresent; Folder = $azmiFolder }
    if ($SetEnvironment) {
        if ($null -eq $chosen -or $chosen.Count -eq 0) {
            $PSCmdlet.WriteError((New-AzmiErrorRecord -CommandName $command -Condition 'InvalidArgument' -Target $Dialect `
                        -Message "The endpoint started at $($result.url) but has no $Dialect dialect on this machine$(if ($result.arcDisabledReason) { " ($($result.arcDisabledReason))" }), so no variables were set." `
                        -RecommendedAction 'Pick another -Dialect (AppService, Imds, CloudShell or MachineLearning).'))
        } else {
            Set-AzmiEndpointEnvironment -Id ([int]$result.id) -Variables $chosen
            Write-Verbose "Set $($chosen.Keys -join ', ') for the $Dialect dialect."
        }
    }
    $endpoint = [pscustomobject]@{
        Id             = [int]$result.id
        Url            = $result.url
        Port           = [int]$result.port
        HostName       = $result.host
        Dialect        = $Dialect
        Environment    = $chosen
        Dialects       = $dialects
        Issuer         = $Issuer
        IssuerUrl      = $result.issuer
        JwksUri        = $result.jwksUri
        TenantId       = $result.tenantId
        SystemClientId = $result.systemClientId
        EnvironmentSet = [bool]($SetEnvironment -and $chosen -and $chosen.Count)
    }
    $endpoint.PSObject.TypeNames.Insert(0, 'Azmi.ManagedIdentityEndpoint')
    # Environment and Dialects hold the header secrets (IDENTITY_HEADER,
    # MSI_SECRET): an endpoint left on the pipeline of a CI script or a
    # transcript shows where it is, not them (as a token object does not show its token).
    $endpoint.PSObject.Members.Add((New-AzmiDisplaySet 'Id', 'Url', 'Dialect', 'Issuer', 'EnvironmentSet'))
    $endpoint
    }
    'Stop-AzManagedIdentityEndpoint' = {
        $command = $PSCmdlet.MyInvocation.MyCommand.Name
        $ids = if ($PSCmdlet.ParameterSetName -eq 'Id') { $Id } else { @($script:Endpoints.Keys) }
        foreach ($one in $ids) {
            $record = $script:Endpoints[$one]
            if ($null -eq $record) {
                $PSCmdlet.WriteError((New-AzmiErrorRecord -CommandName $command -Condition 'NotFound' -Target $one `
                            -Message "No endpoint with id $one was started in this session (or it was already stopped)."))
                continue
            }
            if (-not $PSCmdlet.ShouldProcess("managed-identity endpoint $one at $($record.Url)", 'Stop')) { continue }
            # A bridge that has gone took its endpoints with it; only the
            # environment is left to restore.
            if ($null -ne $script:Bridge -and -not $script:Bridge.Process.HasExited) {
                $response = Invoke-AzmiBridge -Op serve.stop -Params @{ id = $one } -TimeoutSec 15
                if (-not $response.ok) {
                    $PSCmdlet.WriteError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $one))
                }
            }
            Restore-AzmiEndpointEnvironment -Id $one
        }
    }
}
