function Invoke-AzManagedRestMethod {
    <#
    .SYNOPSIS
    Calls Invoke-RestMethod with a bearer token for the target's resource, from whatever identity this machine has.

    .DESCRIPTION
    Invoke-AzManagedRestMethod gets a token with Get-AzManagedToken (same chain, same cache) and calls
    Invoke-RestMethod with an Authorization: Bearer header added to -Headers. The resource is taken from -Resource, or
    else from the URI: Azure services that share one audience are recognised (*.vault.azure.net uses
    https://vault.azure.net, *.blob.core.windows.net uses https://storage.azure.com, management.azure.com,
    graph.microsoft.com, *.database.windows.net, *.servicebus.windows.net, *.azconfig.io, *.documents.azure.com,
    api.loganalytics.io); any other host uses its origin (scheme://host:port).
    The other parameters are passed to Invoke-RestMethod unchanged, and its output is returned as is. -Debug shows the
    chain's log lines but is not passed on, because Invoke-RestMethod's debug output would print the Authorization header.

    .PARAMETER Uri
    The request URI, passed to Invoke-RestMethod.

    .PARAMETER Method
    The HTTP method (default GET), passed to Invoke-RestMethod.

    .PARAMETER Body
    The request body, passed to Invoke-RestMethod.

    .PARAMETER Headers
    Request headers, passed to Invoke-RestMethod with Authorization added (an Authorization header given here is replaced).

    .PARAMETER ContentType
    The request content type, passed to Invoke-RestMethod.

    .PARAMETER Form
    A form to send as multipart/form-data, passed to Invoke-RestMethod.

    .PARAMETER InFile
    A file whose contents are the request body, passed to Invoke-RestMethod.

    .PARAMETER OutFile
    Save the response body to this file, passed to Invoke-RestMethod.

    .PARAMETER TimeoutSec
    Timeout of the HTTP request in seconds, passed to Invoke-RestMethod. The token request has its own -TokenTimeoutSec.

    .PARAMETER MaximumRetryCount
    Retries of the HTTP request on failure, passed to Invoke-RestMethod.

    .PARAMETER RetryIntervalSec
    Seconds between retries, passed to Invoke-RestMethod.

    .PARAMETER SkipHttpErrorCheck
    Return error responses instead of failing, passed to Invoke-RestMethod.

    .PARAMETER Resource
    The resource (audience) of the token, when the URI alone does not tell (e.g. https://myapi.example.com for an API
    whose host differs).

    .PARAMETER ClientId
    Client id of a user-assigned managed identity. At most one of -ClientId, -ObjectId, -ResourceId.

    .PARAMETER ObjectId
    Object (principal) id of a user-assigned managed identity.

    .PARAMETER ResourceId
    ARM resource id of a user-assigned managed identity.

    .PARAMETER Source
    Use only this link of the chain for the token (environment, workload-identity, managed-identity, azure-cli,
    azure-powershell, azure-developer-cli).

    .PARAMETER Exclude
    Never use these links of the chain for the token.

    .PARAMETER TokenTimeoutSec
    The most getting the token may take, in seconds (default 30).

    .EXAMPLE
    Invoke-AzManagedRestMethod 'https://management.azure.com/subscriptions?api-version=2022-12-01' | Select-Object -ExpandProperty value

    Lists subscriptions with a token for https://management.azure.com.

    .EXAMPLE
    Invoke-AzManagedRestMethod -Uri 'https://myvault.vault.azure.net/secrets/db?api-version=7.4' | Select-Object -ExpandProperty value

    Reads a Key Vault secret with a token for https://vault.azure.net.

    .EXAMPLE
    Invoke-AzManagedRestMethod -Uri http://127.0.0.1:8080/api/items -Method POST -Body (@{ name = 'x' } | ConvertTo-Json) -ContentType application/json -Resource api://my-api

    Calls a local API that validates tokens for api://my-api (for example ones minted by Start-AzManagedIdentityEndpoint).

    .OUTPUTS
    Whatever Invoke-RestMethod returns for the response.

    .LINK
    Get-AzManagedToken

    .LINK
    Invoke-RestMethod
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)]
        [uri] $Uri,

        [Microsoft.PowerShell.Commands.WebRequestMethod] $Method = 'Default',

        [object] $Body,

        [System.Collections.IDictionary] $Headers,

        [string] $ContentType,

        [System.Collections.IDictionary] $Form,

        [string] $InFile,

        [string] $OutFile,

        [int] $TimeoutSec,

        [int] $MaximumRetryCount,

        [int] $RetryIntervalSec,

        [switch] $SkipHttpErrorCheck,

        [string] $Resource,

        [string] $ClientId,

        [Alias('PrincipalId')]
        [string] $ObjectId,

        [string] $ResourceId,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string] $Source,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string[]] $Exclude,

        [ValidateRange(1, 3600)]
        [int] $TokenTimeoutSec = 30
    )
    $command = $MyInvocation.MyCommand.Name
    if (-not $Uri.IsAbsoluteUri) {
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Condition 'InvalidArgument' -Target $Uri `
                    -Message "-Uri '$Uri' is not an absolute URI; give the full URL, e.g. https://management.azure.com/subscriptions?api-version=2022-12-01."))
    }
    $audience = if ($Resource) { $Resource } else { Get-AzmiResourceForUri -Uri $Uri }
    $bound = @{}
    foreach ($name in 'ClientId', 'ObjectId', 'ResourceId', 'Source', 'Exclude') {
        if ($PSBoundParameters.ContainsKey($name)) { $bound[$name] = $PSBoundParameters[$name] }
    }
    $params = New-AzmiTokenRequest -CommandName $command -Bound $bound -Resource $audience -TimeoutSec $TokenTimeoutSec
    if ($params -is [System.Management.Automation.ErrorRecord]) { $PSCmdlet.ThrowTerminatingError($params) }

    $wantVerbose = $VerbosePreference -ne 'SilentlyContinue'
    if ($wantVerbose) { Write-Verbose "Requesting a token for '$audience' to call $($Uri.GetLeftPart([System.UriPartial]::Path))." }
    $response = Invoke-AzmiBridge -Op token -Params $params -TimeoutSec ($TokenTimeoutSec) -WantVerbose $wantVerbose
    if ($wantVerbose) { Write-AzmiBridgeVerbose $response }
    if (-not $response.ok) {
        $PSCmdlet.ThrowTerminatingError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $audience))
    }

    $rest = @{}
    foreach ($name in 'Method', 'Body', 'ContentType', 'Form', 'InFile', 'OutFile', 'TimeoutSec', 'MaximumRetryCount', 'RetryIntervalSec', 'SkipHttpErrorCheck') {
        if ($PSBoundParameters.ContainsKey($name)) { $rest[$name] = $PSBoundParameters[$name] }
    }
    $sendHeaders = @{}
    if ($Headers) { foreach ($key in $Headers.Keys) { if ($key -ne 'Authorization') { $sendHeaders[$key] = $Headers[$key] } } }
    $sendHeaders['Authorization'] = "$($response.result.token_type) $($response.result.access_token)"
    # Never -Debug: Invoke-RestMethod's debug lines print request headers, and
    # so the bearer token. Our own -Debug output (the chain's log) is above.
    Invoke-RestMethod -Uri $Uri -Headers $sendHeaders @rest -Debug:$false
}
