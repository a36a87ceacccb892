function Start-AzManagedIdentityEndpoint {
    <#
    .SYNOPSIS
    Starts a local managed-identity endpoint (azmi serve) in this session, speaking every dialect the Azure SDKs use.

    .DESCRIPTION
    Start-AzManagedIdentityEndpoint starts azmi's local endpoint inside the session's bridge process. It answers the
    IMDS, App Service, App Service 2017 / Machine Learning, Cloud Shell and (where the machine allows) Azure Arc
    dialects on one loopback port, so code that uses ManagedIdentityCredential or DefaultAzureCredential in any
    language gets tokens on a laptop or in CI.

    With -Issuer Local (the default) tokens are minted offline (RS256 JWTs with Entra-like claims; the OIDC discovery
    document and JWKS are served so local APIs can validate them). With -Issuer Chain the endpoint forwards to this
    machine's credential chain (for example your az sign-in), so tools that only speak managed identity get real tokens.

    The result carries the URL and, per dialect, the environment variables that point a client at the endpoint.
    -SetEnvironment sets the chosen -Dialect's variables in this session (clearing the other identity-endpoint
    variables first); Stop-AzManagedIdentityEndpoint puts the previous values back. The endpoint stops with
    Stop-AzManagedIdentityEndpoint, when the module is removed, or when the session ends.

    .PARAMETER Port
    TCP port to listen on (default 0: any free port).

    .PARAMETER HostName
    Address to bind (default 127.0.0.1). Anything else makes the endpoint reachable from other machines or containers
    and writes a warning.

    .PARAMETER Issuer
    Local (default): mint tokens offline. Chain: forward to this machine's credential chain.

    .PARAMETER TenantId
    Tenant id in the tokens and the issuer URL of the local issuer (default a fixed test tenant).

    .PARAMETER AcceptAnyIdentity
    Mint a distinct user-assigned identity for any client_id/object_id/msi_res_id asked for, instead of answering
    "Identity not found".

    .PARAMETER Dialect
    Which dialect's variables the result lists first and -SetEnvironment sets: AppService (default; IDENTITY_ENDPOINT
    and IDENTITY_HEADER), Imds (AZURE_POD_IDENTITY_AUTHORITY_HOST), CloudShell (MSI_ENDPOINT, as in Azure Cloud Shell),
    MachineLearning (MSI_ENDPOINT and MSI_SECRET) or AzureArc (IDENTITY_ENDPOINT and IMDS_ENDPOINT).

    .PARAMETER SetEnvironment
    Set the chosen dialect's variables in this session, so Get-AzManagedToken and child processes use the endpoint.

    .PARAMETER StateFile
    Also record the endpoint in azmi's per-user state file, so 'azmi env' in other shells finds it.

    .EXAMPLE
    $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
    Get-AzManagedToken https://vault.azure.net

    Starts an offline endpoint, points this session at it, and gets a token from it through the chain.

    .EXAMPLE
    $ep = Start-AzManagedIdentityEndpoint -Dialect CloudShell -SetEnvironment
    Invoke-RestMethod -Method POST -Uri $env:MSI_ENDPOINT -Headers @{ Metadata = 'true' } -Body @{ resource = 'https://management.azure.com/' }

    Runs a Cloud Shell script unchanged on a laptop.

    .EXAMPLE
    Start-AzManagedIdentityEndpoint -Issuer Chain -WhatIf

    Shows what would be started without starting it.

    .OUTPUTS
    Azmi.ManagedIdentityEndpoint: Id, Url, Port, HostName, Dialect, Environment (the dialect's variables), Dialects
    (all dialects' variables), Issuer, IssuerUrl, JwksUri, TenantId, SystemClientId, EnvironmentSet.

    .LINK
    Stop-AzManagedIdentityEndpoint

    .LINK
    about_Azmi
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType('Azmi.ManagedIdentityEndpoint')]
    param(
        [ValidateRange(0, 65535)]
        [int] $Port = 0,

        [ValidateNotNullOrEmpty()]
        [string] $HostName = '127.0.0.1',

        [ValidateSet('Local', 'Chain')]
        [string] $Issuer = 'Local',

        [string] $TenantId,

        [switch] $AcceptAnyIdentity,

        [ValidateSet('AppService', 'Imds', 'CloudShell', 'MachineLearning', 'AzureArc')]
        [string] $Dialect = 'AppService',

        [switch] $SetEnvironment,

        [switch] $StateFile
    )
    $command = $MyInvocation.MyCommand.Name
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
