function Get-AzManagedIdentityChain {
    <#
    .SYNOPSIS
    Shows what each link of azmi's credential chain does on this machine: which one answers, and why the others do not.

    .DESCRIPTION
    Get-AzManagedIdentityChain is the doctor view of Get-AzManagedToken. It walks the chain (environment,
    workload-identity, managed-identity, azure-cli, azure-powershell, azure-developer-cli, subject to
    AZURE_TOKEN_CREDENTIALS, -Source and -Exclude) for one resource and writes one object per link with its outcome
    (selected, unavailable, failed or skipped), the reason in one line, and the milliseconds it took. The token itself
    is never returned or shown. A chain that finds no token is a result here, not an error; -Verbose adds the summary
    (transport, winner, total time, expiry or the error).

    .PARAMETER Resource
    The resource (audience) to test with (default https://management.azure.com).

    .PARAMETER Scope
    A single scope to test with instead of a resource, e.g. https://vault.azure.net/.default.

    .PARAMETER ClientId
    Client id of a user-assigned managed identity to test. At most one of -ClientId, -ObjectId, -ResourceId.

    .PARAMETER ObjectId
    Object (principal) id of a user-assigned managed identity to test.

    .PARAMETER ResourceId
    ARM resource id of a user-assigned managed identity to test.

    .PARAMETER Source
    Test only this link (environment, workload-identity, managed-identity, azure-cli, azure-powershell,
    azure-developer-cli).

    .PARAMETER Exclude
    Skip these links (same names as -Source).

    .PARAMETER TenantId
    Tenant for the links that sign in to Entra ID (environment, workload-identity and the developer tools); managed
    identity ignores it.

    .PARAMETER TimeoutSec
    The most the whole walk may take, in seconds (default 30).

    .EXAMPLE
    Get-AzManagedIdentityChain

    Link               Outcome     Milliseconds Reason
    ----               -------     ------------ ------
    environment        unavailable            0 AZURE_TENANT_ID/AZURE_CLIENT_ID not set
    workload-identity  unavailable            0 AZURE_FEDERATED_TOKEN_FILE not set
    managed-identity   selected              12 Cloud Shell at localhost:50342
    ...

    .EXAMPLE
    Get-AzManagedIdentityChain -Resource https://vault.azure.net -Exclude managed-identity | Where-Object Outcome -ne skipped

    Check which developer sign-in would be used for Key Vault if managed identity were not there.

    .OUTPUTS
    Azmi.ChainLink: Link, Credential, Outcome, Reason, Milliseconds, Winner (Boolean), Resource.

    .LINK
    Get-AzManagedToken

    .LINK
    about_Azmi
    #>
    [CmdletBinding(DefaultParameterSetName = 'Resource')]
    [OutputType('Azmi.ChainLink')]
    param(
        [Parameter(Position = 0, ParameterSetName = 'Resource', ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [uri] $Resource = 'https://management.azure.com',

        [Parameter(Mandatory, ParameterSetName = 'Scope', ValueFromPipelineByPropertyName)]
        [string] $Scope,

        [string] $ClientId,

        [Alias('PrincipalId')]
        [string] $ObjectId,

        [string] $ResourceId,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string] $Source,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string[]] $Exclude,

        [ValidateNotNullOrEmpty()]
        [string] $TenantId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec = 30
    )
    process {
        $requestArgs = @{ CommandName = $MyInvocation.MyCommand.Name; Bound = $PSBoundParameters; TimeoutSec = $TimeoutSec }
        if ($PSCmdlet.ParameterSetName -eq 'Resource') { $requestArgs.Resource = $Resource } else { $requestArgs.Scope = $Scope }
        $params = New-AzmiTokenRequest @requestArgs
        if ($params -is [System.Management.Automation.ErrorRecord]) { $PSCmdlet.WriteError($params); return }

        $wantVerbose = $VerbosePreference -ne 'SilentlyContinue'
        $response = Invoke-AzmiBridge -Op chain -Params $params -TimeoutSec ($TimeoutSec) -WantVerbose $wantVerbose
        if ($wantVerbose) { Write-AzmiBridgeVerbose $response }
        $target = if ($params.resource) { $params.resource } else { $params.scope }
        if (-not $response.ok) {
            $record = New-AzmiErrorRecord -CommandName $MyInvocation.MyCommand.Name -Fault $response.error -Target $target
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
}
