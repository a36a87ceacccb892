function Get-AzManagedToken {
    <#
    .SYNOPSIS
    Gets an access token for an Azure resource from whatever identity this machine has, in the shape the managed-identity endpoint returns.

    .DESCRIPTION
    Get-AzManagedToken returns the same object that
    Invoke-RestMethod -Uri "$env:MSI_ENDPOINT?resource=..." -Headers @{Metadata='true'} returns in Azure Cloud Shell
    (access_token, expires_in, expires_on, not_before, resource, token_type, and client_id when the endpoint says),
    with the same property names and string values, plus ExpiresOn as a DateTimeOffset.

    Unlike that call it works anywhere: it walks azmi's credential chain (the order of DefaultAzureCredential:
    environment, workload-identity, managed-identity, azure-cli, azure-powershell, azure-developer-cli), so the same
    script runs in Cloud Shell, on an Azure VM, in App Service or Functions, in AKS with workload identity, on a laptop
    signed in with az, or against a local endpoint started with Start-AzManagedIdentityEndpoint.
    AZURE_TOKEN_CREDENTIALS is honoured as in the Azure SDKs.

    Tokens are cached (and refreshed early) by the session's azmi bridge, a Node.js process started when the module
    loads, so repeated calls are cheap; an identical call within a few seconds is answered without asking the bridge
    (see about_Azmi). -Verbose shows which link answered and why the others did not; it never shows the token.

    .PARAMETER Resource
    The resource (audience) to get a token for, e.g. https://vault.azure.net. An absolute http(s) URI; it is sent as
    written (no slash is added). Accepts pipeline input, by value or by a property named Resource.

    .PARAMETER Scope
    A single scope instead of a resource, e.g. https://vault.azure.net/.default. Only the suffix /.default is removed
    to find the resource. Cannot be combined with -Resource.

    .PARAMETER ClientId
    Client (application) id of a user-assigned managed identity. Use at most one of -ClientId, -ObjectId, -ResourceId;
    none selects the system-assigned identity.

    .PARAMETER ObjectId
    Object (principal) id of a user-assigned managed identity.

    .PARAMETER ResourceId
    ARM resource id of a user-assigned managed identity, e.g.
    /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>.

    .PARAMETER Source
    Use only this link of the chain: environment, workload-identity, managed-identity, azure-cli, azure-powershell or
    azure-developer-cli. Overrides AZURE_TOKEN_CREDENTIALS.

    .PARAMETER Exclude
    Never try these links of the chain (same names as -Source).

    .PARAMETER TenantId
    Tenant for the links that sign in to Entra ID (environment, workload-identity and the developer tools); managed
    identity ignores it.

    .PARAMETER TimeoutSec
    The most the whole call may take, in seconds (default 30). The bridge is also given a few seconds of slack to
    start; a call never waits longer than that.

    .PARAMETER AsSecureString
    Return access_token as a SecureString instead of plain text.

    .PARAMETER Force
    Ignore azmi's token cache and ask the identity endpoint again.

    .EXAMPLE
    $r = Get-AzManagedToken -Resource https://vault.azure.net
    Invoke-RestMethod "https://myvault.vault.azure.net/secrets/db?api-version=7.4" -Headers @{ Authorization = "Bearer $($r.access_token)" }

    The Cloud Shell pattern, anywhere: get a Key Vault token and call the vault with it.

    .EXAMPLE
    Get-AzManagedToken -Scope https://management.azure.com/.default -ClientId 11111111-2222-3333-4444-555555555555

    A token for Azure Resource Manager from a user-assigned identity.

    .EXAMPLE
    'https://vault.azure.net', 'https://storage.azure.com' | Get-AzManagedToken | Select-Object resource, ExpiresOn

    Tokens for several resources from the pipeline.

    .EXAMPLE
    Get-AzManagedToken https://management.azure.com -Source azure-cli -Verbose

    Only use the Azure CLI's sign-in, and show the chain's decisions.

    .INPUTS
    System.Uri, or objects with a Resource or Scope property (and optionally ClientId/ObjectId).

    .OUTPUTS
    Azmi.ManagedToken: access_token (String, or SecureString with -AsSecureString), expires_in, expires_on, not_before,
    resource, token_type, client_id (when known) as strings, and ExpiresOn (DateTimeOffset).

    .LINK
    about_Azmi

    .LINK
    Get-AzManagedIdentityChain
    #>
    [CmdletBinding(DefaultParameterSetName = 'Resource')]
    [OutputType('Azmi.ManagedToken')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Resource', ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('Audience')]
        [uri] $Resource,

        [Parameter(Mandatory, ParameterSetName = 'Scope', ValueFromPipelineByPropertyName)]
        [string] $Scope,

        [Parameter(ValueFromPipelineByPropertyName)]
        [string] $ClientId,

        [Parameter(ValueFromPipelineByPropertyName)]
        [Alias('PrincipalId')]
        [string] $ObjectId,

        [Parameter()]
        [string] $ResourceId,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string] $Source,

        [ValidateSet('environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli')]
        [string[]] $Exclude,

        [ValidateNotNullOrEmpty()]
        [string] $TenantId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec = 30,

        [switch] $AsSecureString,

        [switch] $Force
    )
    process {
        # Runs per pipeline item and is the path the benchmark measures: one
        # helper call to check input, one to the bridge, nothing else.
        $command = $MyInvocation.MyCommand.Name
        $params = if ($PSCmdlet.ParameterSetName -eq 'Resource') {
            New-AzmiTokenRequest -CommandName $command -Bound $PSBoundParameters -Resource $Resource -TimeoutSec $TimeoutSec
        } else {
            New-AzmiTokenRequest -CommandName $command -Bound $PSBoundParameters -Scope $Scope -TimeoutSec $TimeoutSec
        }
        if ($params -is [System.Management.Automation.ErrorRecord]) { $PSCmdlet.WriteError($params); return }

        $target = if ($params.resource) { $params.resource } else { $params.scope }
        $wantVerbose = $VerbosePreference -ne 'SilentlyContinue' -or $DebugPreference -ne 'SilentlyContinue'
        if ($wantVerbose) {
            $how = if ($Source) { "only $Source" } elseif ($Exclude) { "the chain without $($Exclude -join ', ')" } else { 'the chain' }
            Write-Verbose "Requesting a token for '$target' from $how."
        }
        $response = Invoke-AzmiBridge -Op token -Params $params -TimeoutSec $TimeoutSec -WantVerbose $wantVerbose
        if ($wantVerbose) { Write-AzmiBridgeVerbose $response }
        if (-not $response.ok) {
            $record = New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $target
            # Without Node or the bridge nothing else in the pipeline can work either.
            if ($response.error.condition -eq 'NodeNotFound' -or $response.error.condition -eq 'BridgeNotFound') {
                $PSCmdlet.ThrowTerminatingError($record)
            }
            $PSCmdlet.WriteError($record)
            return
        }

        # The MSI JSON object as Invoke-RestMethod returns it (same names, same
        # string values), plus a typed ExpiresOn.
        $result = $response.result
        $token = [ordered]@{
            access_token = if ($AsSecureString) { [System.Net.NetworkCredential]::new('', $result.access_token).SecurePassword } else { $result.access_token }
            expires_in   = $result.expires_in
            expires_on   = $result.expires_on
            not_before   = $result.not_before
            resource     = $result.resource
            token_type   = $result.token_type
        }
        if ($result.client_id) { $token.client_id = $result.client_id }
        $seconds = 0L
        $token.ExpiresOn = if ([long]::TryParse([string]$result.expires_on, [ref]$seconds)) { [System.DateTimeOffset]::FromUnixTimeSeconds($seconds) } else { $null }
        $object = [pscustomobject]$token
        $object.PSObject.TypeNames.Insert(0, 'Azmi.ManagedToken')
        $object.PSObject.Members.Add($script:TokenDisplay)
        if ($wantVerbose) { Write-Verbose "Token for '$($object.resource)' ($($object.token_type)) expires $(if ($object.ExpiresOn) { $object.ExpiresOn.ToString('u') } else { 'at an unknown time' })." }
        $object
    }
}
