function New-AzmiTokenRequest {
    # Wire params for 'token'/'chain' from a cmdlet's bound parameters, or
    # an ErrorRecord when the input is unusable (checked here, once, so the
    # message names the parameter and the fix). Runs per pipeline item, so
    # it calls nothing else on the good path.
    # A simple function (no [Parameter()] attributes): binding an advanced
    # function costs more than everything this one does.
    param([string] $CommandName, [System.Collections.IDictionary] $Bound, $Resource, [string] $Scope, [int] $TimeoutSec)
    $params = [ordered]@{}
    if ($null -ne $Resource) {
        # An absolute http(s) URI with a host, sent as the user wrote it
        # (Uri.ToString() would add a '/').
        $uri = if ($Resource -is [uri]) { $Resource } else { $Resource -as [uri] }
        if ($null -eq $uri -or -not $uri.IsAbsoluteUri -or ($uri.Scheme -ne 'https' -and $uri.Scheme -ne 'http') -or -not $uri.Host) {
            return New-AzmiErrorRecord -CommandName $CommandName -Condition 'InvalidResource' -Target $(if ($null -ne $uri) { $uri.OriginalString } else { "$Resource" }) `
                -Message "-Resource '$Resource' is not an absolute http(s) URI. Pass the resource (audience) like https://vault.azure.net, or use -Scope for a scope." `
                -RecommendedAction 'Use an absolute URI such as https://management.azure.com, or -Scope https://management.azure.com/.default.'
        }
        $params.resource = $uri.OriginalString
    } elseif ($Scope) {
        if ($Scope -match '\s') {
            return New-AzmiErrorRecord -CommandName $CommandName -Condition 'InvalidScope' -Target $Scope `
                -Message "-Scope '$Scope' holds more than one scope; managed identity takes exactly one, e.g. https://vault.azure.net/.default."
        }
        $params.scope = $Scope
    }
    $clientId = $Bound['ClientId']; $objectId = $Bound['ObjectId']; $resourceId = $Bound['ResourceId']
    if (([int][bool]$clientId + [int][bool]$objectId + [int][bool]$resourceId) -gt 1) {
        $given = @(foreach ($name in 'ClientId', 'ObjectId', 'ResourceId') { if ($Bound[$name]) { $name } })
        return New-AzmiErrorRecord -CommandName $CommandName -Condition 'IdentityConflict' -Target ($given -join ',') `
            -Message "-$($given -join ' and -') were both given; a user-assigned identity is selected by exactly one of -ClientId, -ObjectId or -ResourceId." `
            -RecommendedAction 'Keep one of -ClientId, -ObjectId, -ResourceId (or none for the system-assigned identity).'
    }
    if ($clientId) { $params.clientId = [string]$clientId }
    if ($objectId) { $params.objectId = [string]$objectId }
    if ($resourceId) { $params.resourceId = [string]$resourceId }
    if ($Bound['TenantId']) { $params.tenantId = [string]$Bound['TenantId'] }
    if ($Bound['Source']) { $params.only = [string]$Bound['Source'] }
    if ($Bound['Exclude']) { $params.exclude = [string[]]$Bound['Exclude'] }
    if ($TimeoutSec) { $params.timeoutMs = [long]$TimeoutSec * 1000 }
    if ($Bound['Force']) { $params.forceRefresh = $true }
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
