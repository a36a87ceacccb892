$script:AzmiLinks = 'environment', 'workload-identity', 'managed-identity', 'azure-cli', 'azure-powershell', 'azure-developer-cli'

function Test-AzmiResource {
    # An absolute http(s) URI with a host, as identity endpoints expect.
    # Returns the text as the user wrote it (Uri.ToString would add a '/').
    param($Resource)
    $uri = $Resource -as [uri]
    if ($null -eq $uri -or -not $uri.IsAbsoluteUri -or $uri.Scheme -notin 'https', 'http' -or -not $uri.Host) { return $null }
    $uri.OriginalString
}

function New-AzmiTokenRequest {
    # Wire params for 'token'/'chain' from a cmdlet's bound parameters, or
    # an ErrorRecord when the input is unusable (checked here, once, so the
    # message names the parameter and the fix).
    param([Parameter(Mandatory)] [string] $CommandName, [Parameter(Mandatory)] [hashtable] $Bound, $Resource, [string] $Scope)
    $params = [ordered]@{}
    if ($PSBoundParameters.ContainsKey('Resource') -and $null -ne $Resource) {
        $text = Test-AzmiResource $Resource
        if (-not $text) {
            return New-AzmiErrorRecord -CommandName $CommandName -Condition 'InvalidResource' -Target $Resource `
                -Message "-Resource '$Resource' is not an absolute http(s) URI. Pass the resource (audience) like https://vault.azure.net, or use -Scope for a scope." `
                -RecommendedAction 'Use an absolute URI such as https://management.azure.com, or -Scope https://management.azure.com/.default.'
        }
        $params.resource = $text
    } elseif ($Scope) {
        if ($Scope -match '\s') {
            return New-AzmiErrorRecord -CommandName $CommandName -Condition 'InvalidScope' -Target $Scope `
                -Message "-Scope '$Scope' holds more than one scope; managed identity takes exactly one, e.g. https://vault.azure.net/.default."
        }
        $params.scope = $Scope
    }
    $selectors = @('ClientId', 'ObjectId', 'ResourceId').Where({ $Bound[$_] })
    if ($selectors.Count -gt 1) {
        return New-AzmiErrorRecord -CommandName $CommandName -Condition 'IdentityConflict' -Target ($selectors -join ',') `
            -Message "-$($selectors -join ' and -') were both given; a user-assigned identity is selected by exactly one of -ClientId, -ObjectId or -ResourceId." `
            -RecommendedAction 'Keep one of -ClientId, -ObjectId, -ResourceId (or none for the system-assigned identity).'
    }
    if ($Bound.ClientId) { $params.clientId = [string]$Bound.ClientId }
    if ($Bound.ObjectId) { $params.objectId = [string]$Bound.ObjectId }
    if ($Bound.ResourceId) { $params.resourceId = [string]$Bound.ResourceId }
    if ($Bound.TenantId) { $params.tenantId = [string]$Bound.TenantId }
    if ($Bound.Source) { $params.only = [string]$Bound.Source }
    if ($Bound.Exclude) { $params.exclude = [string[]]$Bound.Exclude }
    if ($Bound.TimeoutSec) { $params.timeoutMs = [long]($Bound.TimeoutSec * 1000) }
    if ($Bound.Force) { $params.forceRefresh = $true }
    $params
}

function Write-AzmiBridgeVerbose {
    # Chain decisions for -Verbose; the log lines behind them for -Debug.
    # Tokens never travel in these (the core redacts them).
    param($Response)
    $report = $Response.report
    if ($null -ne $report -and $null -ne $report.links) {
        foreach ($link in $report.links) {
            Write-Verbose ("chain: {0} ({1}) {2} in {3} ms: {4}" -f $link.link, $link.credential, $link.outcome, [math]::Round([double]$link.ms, 1), $link.reason)
        }
        $memo = if ($report.fromMemo) { ', remembered winner' } else { '' }
        Write-Verbose ("chain: winner {0} in {1} ms over the {2} transport{3}" -f $(if ($report.winner) { $report.winner } else { 'none' }), [math]::Round([double]$report.ms, 1), $report.transport, $memo)
    }
    foreach ($line in $Response.log) { Write-Debug $line }
}
