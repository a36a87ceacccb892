# Building token requests the script way, -Verbose's report of the bridge's
# answer, and ErrorRecords (see "Request building and error records" in
# Public/Azmi.Functions.ps1 for when this file is loaded). It is dot-sourced from a
# function, so everything is defined in the module's scope (script:).

#region Token requests
function script:New-AzmiTokenRequest {
    # Wire params for 'token'/'chain' from a cmdlet's bound parameters, or
    # an ErrorRecord when the input is unusable (checked here, once, so the
    # message names the parameter and the fix). Runs per pipeline item, so
    # it calls nothing else on the good path.
    # A simple function (no [Parameter()] attributes): binding an advanced
    # function costs more than everything this one does.
    param([string] $CommandName, $Bound, $Resource, [string] $Scope, $TimeoutSec)
    $params = [ordered]@{}
    if ($null -ne $Resource) {
        # What the rest of azmi takes (azmi serve's validResource in
        # src/serve/context.ts, azmi token --resource): 1 to 2048 visible ASCII
        # characters, no whitespace or control characters. An http(s) URI,
        # api://my-api and an application id GUID are all resources. Sent as
        # the user wrote it: the [uri] -Resource of Get-AzManagedToken and
        # Get-AzManagedIdentityChain keeps that in OriginalString
        # (Uri.ToString() would add a '/'); Invoke-AzManagedRestMethod's is a
        # [string].
        $text = if ($Resource -is [uri]) { $Resource.OriginalString } else { [string]$Resource }
        if ($text.Length -eq 0 -or $text.Length -gt 2048 -or $text -cmatch '[^!-~]') { return New-AzmiRequestError $CommandName InvalidResource $text }
        $params['resource'] = $text
    } elseif ($Scope) {
        # The resource's rule (a space would make it a list of scopes), with
        # room for the /.default a resource's scope adds.
        $max = if ($Scope.EndsWith('/.default')) { 2057 } else { 2048 }
        if ($Scope.Length -gt $max -or $Scope -ceq '/.default' -or $Scope -cmatch '[^!-~]') { return New-AzmiRequestError $CommandName InvalidScope $Scope }
        $params['scope'] = $Scope
    }
    $clientId = $Bound['ClientId']; $objectId = $Bound['ObjectId']; $resourceId = $Bound['ResourceId']
    if (($clientId -and ($objectId -or $resourceId)) -or ($objectId -and $resourceId)) { return New-AzmiRequestError $CommandName IdentityConflict $Bound }
    if ($clientId) { $params['clientId'] = [string]$clientId }
    if ($objectId) { $params['objectId'] = [string]$objectId }
    if ($resourceId) { $params['resourceId'] = [string]$resourceId }
    if ($Bound['TenantId']) { $params['tenantId'] = [string]$Bound['TenantId'] }
    if ($Bound['Source']) { $params['only'] = [string]$Bound['Source'] }
    if ($Bound['Exclude']) { $params['exclude'] = [string[]]$Bound['Exclude'] }
    if ($TimeoutSec) { $params['timeoutMs'] = 1000L * $TimeoutSec }
    if ($Bound['Force']) { $params['forceRefresh'] = $true }
    $params
}

function script:New-AzmiRequestError {
    # The ErrorRecord for input New-AzmiTokenRequest cannot use.
    param([string] $CommandName, [string] $Condition, $Value)
    if ($Condition -eq 'InvalidResource' -or $Condition -eq 'InvalidScope') {
        # Which rule it broke, with the offending character spelled out (a
        # tab or a line break printed as is would hide in the message).
        $max = if ($Condition -eq 'InvalidScope' -and $Value.EndsWith('/.default')) { 2057 } else { 2048 }
        $why = if ($Value.Length -eq 0) { 'is empty' }
               elseif ($Condition -eq 'InvalidScope' -and $Value -ceq '/.default') { 'names no resource before /.default' }
               elseif ($Value.Length -gt $max) { "is $($Value.Length) characters long (at most $max)" }
               else {
                   $at = [regex]::Match($Value, '[^!-~]').Index
                   $char = $Value[$at]
                   $name = if ($char -eq ' ') { 'a space' } elseif ([char]::IsWhiteSpace($char)) { 'whitespace (U+{0:X4})' -f [int]$char } elseif ([char]::IsControl($char)) { 'a control character (U+{0:X4})' -f [int]$char } else { "'$char' (U+{0:X4}, not ASCII)" -f [int]$char }
                   "contains $name at position $($at + 1)"
               }
        $shown = $Value -replace '[\x00-\x1f\x7f]', { '\u{0:x4}' -f [int][char]$_.Value }
        if ($shown.Length -gt 100) { $shown = $shown.Substring(0, 60) + '...' }
        if ($Condition -eq 'InvalidScope') {
            # The same words as azmi token --scope and getManagedToken({ scope }).
            return New-AzmiErrorRecord -CommandName $CommandName -Condition 'InvalidScope' -Target $Value `
                -Message "-Scope '$shown' $why. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default." `
                -RecommendedAction 'Pass one scope, e.g. https://vault.azure.net/.default; managed identity takes exactly one.'
        }
        return New-AzmiErrorRecord -CommandName $CommandName -Condition 'InvalidResource' -Target $Value `
            -Message "-Resource '$shown' $why. A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id$(if ($CommandName -ne 'Invoke-AzManagedRestMethod') { '; or use -Scope for a scope' })." `
            -RecommendedAction 'Pass the resource as the API expects it, e.g. https://management.azure.com, api://my-api or 00000000-0000-0000-0000-000000000000.'
    }
    $given = @(foreach ($name in 'ClientId', 'ObjectId', 'ResourceId') { if ($Value[$name]) { $name } })
    New-AzmiErrorRecord -CommandName $CommandName -Condition 'IdentityConflict' -Target ($given -join ',') `
        -Message "-$($given -join ' and -') were both given; a user-assigned identity is selected by exactly one of -ClientId, -ObjectId or -ResourceId." `
        -RecommendedAction 'Keep one of -ClientId, -ObjectId, -ResourceId (or none for the system-assigned identity).'
}

function script:Write-AzmiBridgeVerbose {
    # Chain decisions for -Verbose; the log lines behind them for -Debug.
    # Tokens never travel in these (the core redacts them). The report and
    # the log lines, not the whole answer: it holds the token, and module
    # logging writes a parameter's text to the event log.
    param($Report, $Log)
    if ($null -ne $report -and $null -ne $report.links) {
        foreach ($link in $report.links) {
            Write-Verbose ("chain: {0} ({1}) {2} in {3} ms: {4}" -f $link.link, $link.credential, $link.outcome, [math]::Round([double]$link.ms, 1), $link.reason)
        }
        $memo = if ($report.fromMemo) { ', remembered winner' } else { '' }
        Write-Verbose ("chain: winner {0} in {1} ms over the {2} transport{3}" -f $(if ($report.winner) { $report.winner } else { 'none' }), [math]::Round([double]$report.ms, 1), $report.transport, $memo)
    }
    foreach ($line in $Log) { Write-Debug $line }
}
#endregion

#region Get-AzManagedToken beyond the precompiled good path
function script:Invoke-AzmiTokenCall {
    # The rest of a Get-AzManagedToken call from where [Azmi.AzmiCore]::GetToken
    # handed it over, or all of it without the core ($Rest empty). $Rest says
    # how far the core got: Params (the wire params it built), Response (the
    # bridge's error answer), Outcome (Request's failure string, for
    # Invoke-AzmiBridgeCore -FirstOutcome). The token goes to the caller's
    # output, errors through $Cmdlet (Get-AzManagedToken's $PSCmdlet). A
    # simple function, so -Verbose given to Get-AzManagedToken reaches it
    # through $VerbosePreference like any function it calls. ClientId and
    # ObjectId: this pipeline item's (its parameter variables), because
    # $PSBoundParameters keeps them from an earlier item's properties.
    param($Cmdlet, $Bound, [string] $ClientId, [string] $ObjectId, $TimeoutSec, [bool] $AsSecureString, $Rest)
    $command = 'Get-AzManagedToken'
    $params = $Rest['Params']
    if ($null -eq $params) {
        if ($Bound.ContainsKey('ClientId') -or $Bound.ContainsKey('ObjectId')) {
            $Bound = [hashtable]::new($Bound, [System.StringComparer]::OrdinalIgnoreCase)
            if ($ClientId) { $Bound['ClientId'] = $ClientId } else { $Bound.Remove('ClientId') }
            if ($ObjectId) { $Bound['ObjectId'] = $ObjectId } else { $Bound.Remove('ObjectId') }
        }
        $params = if ($Cmdlet.ParameterSetName -eq 'Resource') {
            New-AzmiTokenRequest -CommandName $command -Bound $Bound -Resource $Bound['Resource'] -TimeoutSec $TimeoutSec
        } else {
            New-AzmiTokenRequest -CommandName $command -Bound $Bound -Scope $Bound['Scope'] -TimeoutSec $TimeoutSec
        }
    }
    if ($params -is [System.Management.Automation.ErrorRecord]) { $Cmdlet.WriteError($params); return }

    $target = if ($params['resource']) { $params['resource'] } else { $params['scope'] }
    $wantVerbose = $VerbosePreference -ne 'SilentlyContinue' -or $DebugPreference -ne 'SilentlyContinue'
    if ($wantVerbose) {
        $source = $Bound['Source']; $exclude = $Bound['Exclude']
        $how = if ($source) { "only $source" } elseif ($exclude) { "the chain without $($exclude -join ', ')" } else { 'the chain' }
        Write-Verbose "Requesting a token for '$target' from $how."
    }
    $response = $Rest['Response']
    if ($null -eq $response) {
        $response = if ($script:Core) { Invoke-AzmiBridgeCore -Op token -Params $params -TimeoutSec $TimeoutSec -WantVerbose $wantVerbose -Cmdlet $Cmdlet -FirstOutcome $Rest['Outcome'] }
                    else { Invoke-AzmiBridge -Op token -Params $params -TimeoutSec $TimeoutSec -WantVerbose $wantVerbose }
        # (Only the core returns nothing: Ctrl+C stopped the wait.)
        if ($null -eq $response) { return }
    }
    if ($wantVerbose) { Write-AzmiBridgeVerbose $response.report $response.log }
    if (-not $response.ok) {
        $record = New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $target -TimeoutParameter TimeoutSec -TimeoutSec $TimeoutSec
        # Without Node or the bridge nothing else in the pipeline can work either.
        if ($response.error.condition -eq 'NodeNotFound' -or $response.error.condition -eq 'BridgeNotFound') {
            $Cmdlet.ThrowTerminatingError($record)
        }
        $Cmdlet.WriteError($record)
        return
    }

    # The MSI JSON object as Invoke-RestMethod returns it (same names, same
    # string values, in its order), plus a typed ExpiresOn. refresh_token is
    # always '': managed identity issues no refresh tokens, and Cloud Shell
    # and IMDS send the property empty, so scripts that read it keep working
    # (the bridge's result has none; App Service's answer has none at all).
    # client_id only when the bridge has one (the endpoint sent it).
    if ($script:Core) {
        # The same object, precompiled (Azmi.AzmiCore.NewManagedToken mirrors the lines below).
        $object = [Azmi.AzmiCore]::NewManagedToken($response.result, $AsSecureString, $script:TokenDisplay)
        if ($wantVerbose) { Write-Verbose "Token for '$($object.resource)' ($($object.token_type)) expires $(if ($object.ExpiresOn) { $object.ExpiresOn.ToString('u') } else { 'at an unknown time' })." }
        return $object
    }
    $result = $response.result
    $token = [ordered]@{
        access_token  = if ($AsSecureString) { [System.Net.NetworkCredential]::new('', $result.access_token).SecurePassword } else { $result.access_token }
        refresh_token = ''
        expires_in    = $result.expires_in
        expires_on    = $result.expires_on
        not_before    = $result.not_before
        resource      = $result.resource
        token_type    = $result.token_type
    }
    if ($result.client_id) { $token.client_id = $result.client_id }
    # -as, not [long]::TryParse: a [ref] argument costs the first call more.
    $seconds = $result.expires_on -as [long]
    $token.ExpiresOn = if ($null -ne $seconds) { [System.DateTimeOffset]::FromUnixTimeSeconds($seconds) } else { $null }
    $object = [pscustomobject]$token
    $object.PSObject.TypeNames.Insert(0, 'Azmi.ManagedToken')
    $object.PSObject.Members.Add($(if ($token.Contains('client_id')) { $script:TokenDisplay } else { $script:TokenDisplayNoClientId }))
    if ($wantVerbose) { Write-Verbose "Token for '$($object.resource)' ($($object.token_type)) expires $(if ($object.ExpiresOn) { $object.ExpiresOn.ToString('u') } else { 'at an unknown time' })." }
    $object
}
#endregion

#region Error records
# Error codes and names from the core become ErrorRecords with stable ids
# '<Cmdlet><Condition>' (e.g. GetAzManagedTokenUnavailable) and the category
# a PowerShell user filters on.

$script:AzmiConditions = @{
    Unavailable         = @{ Category = 'ResourceUnavailable'; Exception = 'System.InvalidOperationException' }
    AuthenticationFailed = @{ Category = 'AuthenticationError'; Exception = 'System.Security.Authentication.AuthenticationException' }
    InvalidArgument     = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    InvalidResource     = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    InvalidScope        = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    IdentityConflict    = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    Timeout             = @{ Category = 'OperationTimeout'; Exception = 'System.TimeoutException' }
    ConnectionFailed    = @{ Category = 'ConnectionError'; Exception = 'System.Net.Http.HttpRequestException' }
    InvalidResponse     = @{ Category = 'InvalidResult'; Exception = 'System.IO.InvalidDataException' }
    StartFailed         = @{ Category = 'ResourceUnavailable'; Exception = 'System.InvalidOperationException' }
    KeyFileInvalid      = @{ Category = 'InvalidData'; Exception = 'System.IO.InvalidDataException' }
    NodeNotFound        = @{ Category = 'NotInstalled'; Exception = 'System.IO.FileNotFoundException' }
    BridgeNotFound      = @{ Category = 'NotInstalled'; Exception = 'System.IO.FileNotFoundException' }
    # A bridge that ended is gone, not misspoken: ResourceUnavailable, as a crashed service is.
    BridgeFailed        = @{ Category = 'ResourceUnavailable'; Exception = 'System.InvalidOperationException' }
    BridgeProtocolError = @{ Category = 'ProtocolError'; Exception = 'System.IO.InvalidDataException' }
    NotFound            = @{ Category = 'ObjectNotFound'; Exception = 'System.Management.Automation.ItemNotFoundException' }
    Failed              = @{ Category = 'NotSpecified'; Exception = 'System.InvalidOperationException' }
}

# What to do, for the conditions whose message is the core's own (the links'
# reasons): the most common errors, which ErrorDetails.RecommendedAction shows.
$script:AzmiAdvice = @{
    Unavailable          = 'Run Get-AzManagedIdentityChain -Verbose to see why each link was passed over; on a machine without managed identity, Start-AzManagedIdentityEndpoint -SetEnvironment starts a local one.'
    AuthenticationFailed = 'The endpoint answered and refused: the message says what it refused (the identity, the resource or its secret); run Get-AzManagedIdentityChain -Verbose for the link that answered.'
}

function script:Get-AzmiErrorCondition {
    # The condition part of an error id, from the core's code and name.
    param([string] $Code, [string] $Name)
    switch -Regex ($Code) {
        '^ERR_INVALID_(ARGUMENT|ENVIRONMENT)$|^ERR_MI_MULTIPLE_SCOPES$|^ERR_MI_UNSUPPORTED_SELECTOR$' { return 'InvalidArgument' }
        '^ERR_AUTHENTICATION_FAILED$' { return 'AuthenticationFailed' }
        '^(ETIMEDOUT|ERR_BUDGET_EXCEEDED)$' { return 'Timeout' }
        '^ERR_(CREDENTIAL_UNAVAILABLE|ALL_CREDENTIALS_UNAVAILABLE)$|^ERR_MI_' { return 'Unavailable' }
        '^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|ECONNRESET|ERR_DNS_LOOKUP|ERR_TLS.*)$' { return 'ConnectionFailed' }
        '^ERR_(INVALID_RESPONSE|HTTP_PARSE|HEADERS_TOO_LARGE|BODY_TOO_LARGE)$' { return 'InvalidResponse' }
        '^ERR_SERVER_START$' { return 'StartFailed' }
        '^ERR_KEY_FILE$' { return 'KeyFileInvalid' }
    }
    switch ($Name) {
        'AuthenticationError' { return 'AuthenticationFailed' }
        { $_ -in 'CredentialUnavailableError', 'AggregateAuthenticationError', 'AuthenticationRequiredError' } { return 'Unavailable' }
    }
    'Failed'
}

function script:Test-AzmiCallBudgetFault {
    # Whether a fault is the core's "no token within the call's time budget"
    # (getManagedToken's own timer), which the bridge marks timedOut; a link
    # that gave up inside the budget is not, whatever its code. Its text
    # names the library's option (timeoutMs=...) and the CLI's 'azmi doctor'.
    param($Fault)
    $null -ne $Fault -and $Fault.timedOut -eq $true
}

function script:Get-AzmiCallBudgetMessage {
    # That fault's message in the cmdlet's terms: its parameter, its value.
    param([string] $Target, [string] $TimeoutParameter, $TimeoutSec)
    "No token for '$Target' within -$TimeoutParameter $TimeoutSec (seconds): the credential chain had not finished when the time ran out."
}

function script:New-AzmiErrorRecord {
    # CommandName: the public cmdlet (its name without '-' starts the id).
    # Fault: an object with code/name/message (and, for bridge faults,
    # condition and recommendedAction), or use -Condition/-Message directly.
    # TimeoutParameter/TimeoutSec: the cmdlet's parameter that bounds getting
    # the token (-TimeoutSec, or Invoke-AzManagedRestMethod's -TokenTimeoutSec)
    # and its value, which a timeout's message and advice name.
    param(
        [Parameter(Mandatory)] [string] $CommandName,
        $Fault,
        [string] $Condition,
        [string] $Message,
        [string] $RecommendedAction,
        $Target,
        [string] $TimeoutParameter,
        $TimeoutSec
    )
    $code = 'ERR_INVALID_ARGUMENT'
    $name = 'ArgumentError'
    if ($TimeoutParameter -and (Test-AzmiCallBudgetFault $Fault)) {
        if (-not $Message) { $Message = Get-AzmiCallBudgetMessage -Target $Target -TimeoutParameter $TimeoutParameter -TimeoutSec $TimeoutSec }
    }
    if ($null -ne $Fault) {
        $code = [string]$Fault.code
        $name = [string]$Fault.name
        if (-not $Message) { $Message = [string]$Fault.message }
        if (-not $Condition -and $Fault.condition) { $Condition = $Fault.condition }
        if (-not $RecommendedAction -and $Fault.recommendedAction) { $RecommendedAction = $Fault.recommendedAction }
    }
    if (-not $Condition) { $Condition = Get-AzmiErrorCondition -Code $code -Name $name }
    if (-not $RecommendedAction -and $script:AzmiAdvice.ContainsKey($Condition)) { $RecommendedAction = $script:AzmiAdvice[$Condition] }
    if ($Condition -eq 'Timeout' -and $TimeoutParameter) {
        # Also for the bridge's own timeout, whose advice names -TimeoutSec:
        # Invoke-AzManagedRestMethod's -TimeoutSec is the HTTP request's.
        $RecommendedAction = "Raise -$TimeoutParameter, or run Get-AzManagedIdentityChain -Verbose to see which link is slow."
    }
    $kind = $script:AzmiConditions[$Condition]
    if ($null -eq $kind) { $kind = $script:AzmiConditions.Failed }
    # Type names, not literals, in the table: resolving them all at import
    # would cost every session; only an error pays for its own.
    $exceptionType = $kind.Exception -as [type]
    $exception = $exceptionType::new([string]$Message)
    $exception.Data['AzmiCode'] = $code
    $exception.Data['AzmiName'] = $name
    $record = [System.Management.Automation.ErrorRecord]::new($exception, ($CommandName -replace '-', '') + $Condition, $kind.Category, $Target)
    if ($RecommendedAction) {
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($Message)
        $record.ErrorDetails.RecommendedAction = $RecommendedAction
    }
    $record
}
#endregion

$script:AzmiRequestHelpers = $true
