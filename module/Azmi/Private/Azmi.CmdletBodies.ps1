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
    # Puts back what Set-AzmiEndpointEnvironment changed, and forgets the endpoint.
    param([Parameter(Mandatory)] [int] $Id)
    $record = $script:Endpoints[$Id]
    $script:Endpoints.Remove($Id)
    if ($null -eq $record -or $null -eq $record.Saved) { return }
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
#endregion
$script:AzmiCmdletBodies = @{
    'Get-AzManagedIdentityChain' = {
        $requestArgs = @{ CommandName = $PSCmdlet.MyInvocation.MyCommand.Name; Bound = $PSCmdlet.MyInvocation.BoundParameters; TimeoutSec = $TimeoutSec }
        if ($PSCmdlet.ParameterSetName -eq 'Resource') { $requestArgs.Resource = $Resource } else { $requestArgs.Scope = $Scope }
        $params = New-AzmiTokenRequest @requestArgs
        if ($params -is [System.Management.Automation.ErrorRecord]) { $PSCmdlet.WriteError($params); return }

        $wantVerbose = $VerbosePreference -ne 'SilentlyContinue'
        $response = Invoke-AzmiBridge -Op chain -Params $params -TimeoutSec ($TimeoutSec) -WantVerbose $wantVerbose
        if ($wantVerbose) { Write-AzmiBridgeVerbose $response }
        $target = if ($params.resource) { $params.resource } else { $params.scope }
        if (-not $response.ok) {
            $record = New-AzmiErrorRecord -CommandName $PSCmdlet.MyInvocation.MyCommand.Name -Fault $response.error -Target $target
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
                Write-Verbose ("No token: {0} ({1})." -f $result.error.message, $result.error.code)
            }
        }
    }
    'Invoke-AzManagedRestMethod' = {
    # Runs per pipeline item (-Body takes pipeline input, as Invoke-RestMethod's does).
    $command = $PSCmdlet.MyInvocation.MyCommand.Name
    $bound = $PSCmdlet.MyInvocation.BoundParameters
    foreach ($name in $script:AzmiRestRefused) {
        if ($bound.ContainsKey($name)) {
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
    if ($wantVerbose) { Write-AzmiBridgeVerbose $response }
    if (-not $response.ok) {
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $audience))
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
    $sendHeaders['Authorization'] = "$($response.result.token_type) $($response.result.access_token)"
    try {
        # Never -Debug: Invoke-RestMethod's debug lines print request headers,
        # and so the bearer token. Our own -Debug output (the chain's log) is above.
        Invoke-RestMethod -Uri $Uri -Headers $sendHeaders @rest -Debug:$false
    } finally {
        foreach ($entry in $variables.GetEnumerator()) {
            $set = $ExecutionContext.SessionState.PSVariable.Get($entry.Key)
            if ($null -ne $set) { $PSCmdlet.SessionState.PSVariable.Set($entry.Value, $set.Value) }
        }
    }
    }
    'Start-AzManagedIdentityEndpoint' = {
    $command = $PSCmdlet.MyInvocation.MyCommand.Name
    $what = "$Issuer-issuer managed-identity endpoint on ${HostName}:$Port" + $(if ($SetEnvironment) { " and set the $Dialect variables in this session" } else { '' })
    if (-not $PSCmdlet.ShouldProcess($what, 'Start')) { return }

    $params = [ordered]@{ host = $HostName; port = $Port; issuer = $Issuer.ToLowerInvariant(); stateFile = $StateFile.IsPresent }
    if ($TenantId) { $params.tenantId = $TenantId }
    if ($AcceptAnyIdentity) { $params.acceptAnyIdentity = $true }
    $response = Invoke-AzmiBridge -Op serve.start -Params $params -TimeoutSec (15) -WantVerbose ($VerbosePreference -ne 'SilentlyContinue')
    if (-not $response.ok) {
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
    $script:Endpoints[[int]$result.id] = @{ Url = $result.url; Saved = $null }
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
