# Azmi: managed identity, anywhere. The cmdlets own PowerShell conventions
# (parameter sets, objects, ErrorRecords, help); every token decision is made
# by azmi's TypeScript core, reached through one persistent Node process per
# session (the bridge, see Private/InvokeAzmiBridge.ps1).

# The compiled bridge of the azmi package this module ships in; $env:AZMI_BRIDGE overrides it.
$script:DefaultBridgePath = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($PSScriptRoot, '..', '..', 'dist', 'src', 'bridge', 'main.js'))
$script:Bridge = $null
# Seconds a call waits beyond -TimeoutSec: Node's start-up on the first call.
$script:BridgeSlackSec = 10
# Local endpoints started in this session: id -> saved environment to restore.
$script:Endpoints = @{}
# Keep date-looking strings (e.g. in messages) as strings where pwsh can.
$script:JsonReadOptions = if ($PSVersionTable.PSVersion -ge [version]'7.5') { @{ DateKind = 'String' } } else { @{} }

foreach ($file in @(
        'Private/StartAzmiBridge.ps1'
        'Private/GetAzmiEnvironmentDelta.ps1'
        'Private/InvokeAzmiBridge.ps1'
        'Private/NewAzmiErrorRecord.ps1'
        'Private/NewAzmiTokenRequest.ps1'
        'Private/ConvertToAzmiManagedToken.ps1'
        'Private/GetAzmiResourceForUri.ps1'
        'Private/SetAzmiEndpointEnvironment.ps1'
        'Public/Get-AzManagedToken.ps1'
        'Public/Get-AzManagedIdentityChain.ps1'
        'Public/Invoke-AzManagedRestMethod.ps1'
        'Public/Start-AzManagedIdentityEndpoint.ps1'
        'Public/Stop-AzManagedIdentityEndpoint.ps1'
    )) {
    . ([System.IO.Path]::Combine($PSScriptRoot, $file))
}

# A token object printed at the console shows what it is for, not the token.
Update-TypeData -TypeName Azmi.ManagedToken -DefaultDisplayPropertySet resource, token_type, ExpiresOn, client_id -Force
Update-TypeData -TypeName Azmi.ChainLink -DefaultDisplayPropertySet Link, Outcome, Milliseconds, Reason -Force

# Removing the module stops the bridge (and with it any local endpoint) and
# puts back environment variables that -SetEnvironment changed. When the
# session itself ends, the bridge sees its stdin close and exits on its own.
$ExecutionContext.SessionState.Module.OnRemove = {
    foreach ($id in @($script:Endpoints.Keys)) { Restore-AzmiEndpointEnvironment -Id $id }
    Stop-AzmiBridge
}
