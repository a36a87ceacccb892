# Azmi: managed identity, anywhere. The cmdlets own PowerShell conventions
# (parameter sets, objects, ErrorRecords, help); every token decision is made
# by azmi's TypeScript core, reached through one persistent Node process per
# session (the bridge, see Private/InvokeAzmiBridge.ps1).

# The compiled bridge of the azmi package this module ships in; $env:AZMI_BRIDGE overrides it.
$script:DefaultBridgePath = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($PSScriptRoot, '..', '..', 'dist', 'src', 'bridge', 'main.js'))
$script:Bridge = $null
# A new bridge must say hello within BridgeStartSec (Node's start-up); then a
# call waits its own timeout plus BridgeSlackSec for the answer.
$script:BridgeStartSec = 10
$script:BridgeSlackSec = 2
# Token answers the bridge said may be reused (request params -> response and
# until when); ordinal keys, since resources are case-sensitive strings.
$script:Leases = [hashtable]::new([System.StringComparer]::Ordinal)
# Local endpoints started in this session: id -> saved environment to restore.
$script:Endpoints = @{}

# Start the bridge first, without waiting for it: Node boots while
# PowerShell loads the rest of the module and binds the first call (the
# module is normally imported by that first call). A problem (no node, no
# bridge) is left for that call to report. $env:AZMI_BRIDGE_PRESTART = '0'
# turns this off.
. ([System.IO.Path]::Combine($PSScriptRoot, 'Private/StartAzmiBridge.ps1'))
if ($env:AZMI_BRIDGE_PRESTART -ne '0') {
    $prestart = Start-AzmiBridge -Launch (Get-AzmiBridgeLaunch)
    if ($null -ne $prestart.Process) { $script:Bridge = $prestart }
    # Not Remove-Variable: the first cmdlet call would load a module.
    $prestart = $null
}

foreach ($file in @(
        'Private/ConvertAzmiJson.ps1'
        'Private/InvokeAzmiBridge.ps1'
        'Private/NewAzmiErrorRecord.ps1'
        'Private/NewAzmiTokenRequest.ps1'
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
# Each object gets this member set (Update-TypeData would cost the import a
# few hundred milliseconds on a busy machine; this costs microseconds).
function New-AzmiDisplaySet([string[]] $Properties) {
    $set = [System.Management.Automation.PSPropertySet]::new('DefaultDisplayPropertySet', $Properties)
    [System.Management.Automation.PSMemberSet]::new('PSStandardMembers', [System.Management.Automation.PSMemberInfo[]]@($set))
}
$script:TokenDisplay = New-AzmiDisplaySet 'resource', 'token_type', 'ExpiresOn', 'client_id'
$script:ChainLinkDisplay = New-AzmiDisplaySet 'Link', 'Outcome', 'Milliseconds', 'Reason'

# Removing the module stops the bridge (and with it any local endpoint) and
# puts back environment variables that -SetEnvironment changed. When the
# session itself ends, the bridge sees its stdin close and exits on its own.
$ExecutionContext.SessionState.Module.OnRemove = {
    foreach ($id in @($script:Endpoints.Keys)) { Restore-AzmiEndpointEnvironment -Id $id }
    Stop-AzmiBridge
}
