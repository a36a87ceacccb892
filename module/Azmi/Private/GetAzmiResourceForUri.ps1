# Which resource (audience) a request URL needs a token for. Azure data-plane
# hosts share one audience per service; anything else gets its own origin,
# which is what a local API validating azmi-serve tokens expects.
$script:AzmiAudiences = @(
    @{ Pattern = '(^|\.)vault\.azure\.net$'; Resource = 'https://vault.azure.net' }
    @{ Pattern = '(^|\.)managedhsm\.azure\.net$'; Resource = 'https://managedhsm.azure.net' }
    @{ Pattern = '^management\.azure\.com$'; Resource = 'https://management.azure.com' }
    @{ Pattern = '\.(blob|queue|table|file|dfs)\.core\.windows\.net$'; Resource = 'https://storage.azure.com' }
    @{ Pattern = '^graph\.microsoft\.com$'; Resource = 'https://graph.microsoft.com' }
    @{ Pattern = '\.database\.windows\.net$'; Resource = 'https://database.windows.net' }
    @{ Pattern = '\.servicebus\.windows\.net$'; Resource = 'https://servicebus.azure.net' }
    @{ Pattern = '\.azconfig\.io$'; Resource = 'https://azconfig.io' }
    @{ Pattern = '\.documents\.azure\.com$'; Resource = 'https://cosmos.azure.com' }
    @{ Pattern = '^api\.loganalytics\.io$'; Resource = 'https://api.loganalytics.io' }
)

function Get-AzmiResourceForUri {
    param([Parameter(Mandatory)] [uri] $Uri)
    $hostName = $Uri.Host.ToLowerInvariant()
    foreach ($entry in $script:AzmiAudiences) {
        if ($hostName -match $entry.Pattern) { return $entry.Resource }
    }
    $Uri.GetLeftPart([System.UriPartial]::Authority)
}
