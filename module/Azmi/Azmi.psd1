@{
    RootModule           = 'Azmi.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f0c3f5e-3b0e-4a55-9d8e-2f4a1d7c9b21'
    Author               = 'azmi contributors'
    Copyright            = '(c) azmi contributors. MIT License.'
    Description          = 'Managed identity, anywhere: Azure access tokens in the managed-identity endpoint''s shape from any machine (Cloud Shell, Azure VMs, App Service, AKS, a laptop), the credential chain''s diagnostics, and a local managed-identity endpoint. Needs Node.js 20+.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FunctionsToExport    = @(
        'Get-AzManagedToken'
        'Get-AzManagedIdentityChain'
        'Invoke-AzManagedRestMethod'
        'Start-AzManagedIdentityEndpoint'
        'Stop-AzManagedIdentityEndpoint'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Azure', 'ManagedIdentity', 'MSI', 'Token', 'CloudShell', 'Identity')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
