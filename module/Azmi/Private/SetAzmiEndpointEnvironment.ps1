# -SetEnvironment points this session at a local endpoint. Clients pick a
# managed-identity source by which variables are set (App Service beats
# Cloud Shell, and so on), so every identity-endpoint variable is cleared
# first and the previous values are kept to put back on Stop.
$script:AzmiIdentityEnvNames = @(
    'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'MSI_ENDPOINT', 'MSI_SECRET',
    'IMDS_ENDPOINT', 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'DEFAULT_IDENTITY_CLIENT_ID'
)

function Set-AzmiEndpointEnvironment {
    param([Parameter(Mandatory)] [int] $Id, [Parameter(Mandatory)] [System.Collections.IDictionary] $Variables)
    $saved = @{}
    foreach ($name in @($script:AzmiIdentityEnvNames) + @($Variables.Keys)) {
        if (-not $saved.ContainsKey($name)) { $saved[$name] = [System.Environment]::GetEnvironmentVariable($name) }
    }
    foreach ($name in $script:AzmiIdentityEnvNames) { [System.Environment]::SetEnvironmentVariable($name, $null) }
    foreach ($entry in $Variables.GetEnumerator()) { [System.Environment]::SetEnvironmentVariable($entry.Key, [string]$entry.Value) }
    $script:Endpoints[$Id].Saved = $saved
}

function Restore-AzmiEndpointEnvironment {
    # Puts back what Set-AzmiEndpointEnvironment changed, and forgets the endpoint.
    param([Parameter(Mandatory)] [int] $Id)
    $record = $script:Endpoints[$Id]
    $script:Endpoints.Remove($Id)
    if ($null -eq $record -or $null -eq $record.Saved) { return }
    foreach ($entry in $record.Saved.GetEnumerator()) { [System.Environment]::SetEnvironmentVariable($entry.Key, $entry.Value) }
}
