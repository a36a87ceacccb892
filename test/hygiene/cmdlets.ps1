# Runs every Azmi cmdlet with -Verbose -Debug (AZURE_LOG_LEVEL=verbose, set by
# the caller) for each scenario in a JSON file, and writes EVERYTHING the
# cmdlets produced on every stream - output objects in full (JSON and default
# display), verbose, warning, information, debug, error records with their
# exception chains, and $Error at the end - to stdout, for the mocha spec to
# scan for secrets. The requested products (token objects and the endpoint
# object, which carries the local header by design) go to $ProductFile only,
# as JSON lines, so they can be checked without being mistaken for leaks.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $ScenarioFile,
    [Parameter(Mandatory)] [string] $ProductFile,
    [Parameter(Mandatory)] [string] $ApiUrl
)
$ErrorActionPreference = 'Continue'
# `dotnet tool run` puts pwsh's own folder on PATH; drop it so the chain's
# azure-powershell link finds no pwsh (as on a machine without PowerShell).
$env:PATH = (($env:PATH -split [System.IO.Path]::PathSeparator) | Where-Object { $_ -and -not (Test-Path -LiteralPath (Join-Path $_ 'pwsh')) }) -join [System.IO.Path]::PathSeparator
$InformationPreference = 'Continue'
Import-Module $ModulePath -Force

$identityVariables = @(
    'MSI_ENDPOINT', 'MSI_SECRET', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT',
    'AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH',
    'AZURE_CLIENT_CERTIFICATE_PASSWORD', 'AZURE_AUTHORITY_HOST', 'AZURE_FEDERATED_TOKEN_FILE'
)

function Write-Product([string] $Scenario, [string] $Cmdlet, $Value) {
    $line = [ordered]@{ scenario = $Scenario; cmdlet = $Cmdlet; value = $Value } | ConvertTo-Json -Compress -Depth 8
    Add-Content -LiteralPath $ProductFile -Value $line
}

function Format-Everything([string] $Label, $Item) {
    $p = "[$Label]"
    switch ($Item) {
        { $_ -is [System.Management.Automation.ErrorRecord] } {
            "$p ERROR $($_.ToString())"
            "$p   id=$($_.FullyQualifiedErrorId) category=$($_.CategoryInfo) target=$($_.TargetObject | Out-String)"
            "$p   details=$($_.ErrorDetails) action=$($_.ErrorDetails.RecommendedAction)"
            "$p   exception=$($_.Exception.ToString())"
            if ($_.Exception.InnerException) { "$p   inner=$($_.Exception.InnerException.ToString())" }
            "$p   data=$($_.Exception.Data | Out-String)"
            "$p   stack=$($_.ScriptStackTrace)"
            "$p   invocation=$($_.InvocationInfo.Line)"
            break
        }
        { $_ -is [System.Management.Automation.VerboseRecord] } { "$p VERBOSE $($_.Message)"; break }
        { $_ -is [System.Management.Automation.WarningRecord] } { "$p WARNING $($_.Message)"; break }
        { $_ -is [System.Management.Automation.DebugRecord] } { "$p DEBUG $($_.Message)"; break }
        { $_ -is [System.Management.Automation.InformationRecord] } { "$p INFORMATION $($_.MessageData)"; break }
        default {
            "$p OUTPUT (default display) $($_ | Out-String)"
            "$p OUTPUT (json) $($_ | ConvertTo-Json -Depth 8 -Compress -WarningAction SilentlyContinue)"
        }
    }
}

# Runs a script block capturing all six streams and terminating errors. Each
# cmdlet call's lines sit between "<<<SECTION label" and ">>>SECTION" markers
# so the spec can tell which call printed what.
function Invoke-Captured([string] $Label, [scriptblock] $Block) {
    $items = @()
    try {
        $items = @(& $Block *>&1)
    } catch {
        $items += $_
    }
    $items
}

function End-Section { '>>>SECTION' }

$scenarios = Get-Content -LiteralPath $ScenarioFile -Raw | ConvertFrom-Json
foreach ($s in $scenarios) {
    foreach ($name in $identityVariables) { [System.Environment]::SetEnvironmentVariable($name, $null) }
    foreach ($p in $s.env.PSObject.Properties) { [System.Environment]::SetEnvironmentVariable($p.Name, [string]$p.Value) }
    "=== scenario $($s.name)"

    $label = "$($s.name) / Get-AzManagedToken"
    "<<<SECTION $label"
    foreach ($item in (Invoke-Captured $label { Get-AzManagedToken -Resource 'https://vault.azure.net' -TimeoutSec 20 -Verbose -Debug })) {
        if ($item.PSObject.TypeNames -contains 'Azmi.ManagedToken') {
            Write-Product $s.name 'Get-AzManagedToken' $item.access_token
            # What the console shows for a token object must not be the token.
            "[$label] OUTPUT (default display) $($item | Out-String)"
        } else { Format-Everything $label $item }
    }
    End-Section

    $label = "$($s.name) / Get-AzManagedToken -AsSecureString"
    "<<<SECTION $label"
    foreach ($item in (Invoke-Captured $label { Get-AzManagedToken -Resource 'https://storage.azure.com' -AsSecureString -TimeoutSec 20 -Verbose -Debug })) {
        $secure = if ($item -is [securestring]) { $item } elseif ($item.access_token -is [securestring]) { $item.access_token }
        if ($secure) {
            Write-Product $s.name 'Get-AzManagedToken -AsSecureString' ([System.Net.NetworkCredential]::new('', $secure).Password)
        }
        # The object itself (a SecureString token inside) is scanned like any output.
        if (-not ($item -is [securestring])) { Format-Everything $label $item }
    }
    End-Section

    $label = "$($s.name) / Get-AzManagedIdentityChain"
    "<<<SECTION $label"
    foreach ($item in (Invoke-Captured $label { Get-AzManagedIdentityChain -Resource 'https://vault.azure.net' -TimeoutSec 20 -Verbose -Debug })) { Format-Everything $label $item }
    End-Section

    $label = "$($s.name) / Invoke-AzManagedRestMethod"
    "<<<SECTION $label"
    foreach ($item in (Invoke-Captured $label { Invoke-AzManagedRestMethod -Uri $ApiUrl -Resource 'https://vault.azure.net' -TokenTimeoutSec 20 -Verbose })) { Format-Everything $label $item }
    End-Section
    # -Debug separately: Invoke-RestMethod's own debug lines once leaked the token (regression test in powershell.spec.ts).
    $label = "$($s.name) / Invoke-AzManagedRestMethod -Debug"
    "<<<SECTION $label"
    foreach ($item in (Invoke-Captured $label { Invoke-AzManagedRestMethod -Uri $ApiUrl -Resource 'https://vault.azure.net' -TokenTimeoutSec 20 -Verbose -Debug })) { Format-Everything $label $item }
    End-Section
}

# The local endpoint: start (its object carries the local header: a product), use, stop.
foreach ($name in $identityVariables) { [System.Environment]::SetEnvironmentVariable($name, $null) }
"=== scenario local endpoint"
$label = 'Start-AzManagedIdentityEndpoint'
$endpoint = $null
"<<<SECTION $label"
foreach ($item in (Invoke-Captured $label { Start-AzManagedIdentityEndpoint -SetEnvironment -StateFile -Verbose -Debug })) {
    if ($item.PSObject.TypeNames -contains 'Azmi.ManagedIdentityEndpoint') {
        $endpoint = $item
        Write-Product 'local endpoint' 'Start-AzManagedIdentityEndpoint' $item
    } else { Format-Everything $label $item }
}
End-Section
# Owner-only files written by the bridge: the state file (-StateFile) and the issuer key.
foreach ($f in @(@('STATEFILE', 'serve.json'), @('KEYDIR', 'issuer'), @('KEYFILE', 'issuer/signing-key.pem'))) {
    $p = Join-Path $env:AZMI_HOME $f[1]
    if (Test-Path -LiteralPath $p) { "$($f[0]) $((Get-Item -LiteralPath $p -Force).UnixFileMode)" } else { "$($f[0]) missing" }
}
$label = 'local endpoint / Get-AzManagedToken'
"<<<SECTION $label"
foreach ($item in (Invoke-Captured $label { Get-AzManagedToken -Resource 'https://vault.azure.net' -Verbose -Debug })) {
    if ($item.PSObject.TypeNames -contains 'Azmi.ManagedToken') {
        Write-Product 'local endpoint' 'Get-AzManagedToken' $item.access_token
        "[$label] OUTPUT (default display) $($item | Out-String)"
    } else { Format-Everything $label $item }
}
End-Section
$label = 'local endpoint / Invoke-AzManagedRestMethod'
"<<<SECTION $label"
foreach ($item in (Invoke-Captured $label { Invoke-AzManagedRestMethod -Uri $ApiUrl -Resource 'https://vault.azure.net' -Verbose })) { Format-Everything $label $item }
End-Section
$label = 'local endpoint / Invoke-AzManagedRestMethod -Debug'
"<<<SECTION $label"
foreach ($item in (Invoke-Captured $label { Invoke-AzManagedRestMethod -Uri $ApiUrl -Resource 'https://vault.azure.net' -Verbose -Debug })) { Format-Everything $label $item }
End-Section
$label = 'local endpoint / Get-AzManagedIdentityChain'
"<<<SECTION $label"
foreach ($item in (Invoke-Captured $label { Get-AzManagedIdentityChain -Resource 'https://vault.azure.net' -Verbose -Debug })) { Format-Everything $label $item }
End-Section
$label = 'Stop-AzManagedIdentityEndpoint'
if ($endpoint) {
    "<<<SECTION $label"
    foreach ($item in (Invoke-Captured $label { $endpoint | Stop-AzManagedIdentityEndpoint -Verbose -Debug })) { Format-Everything $label $item }
    End-Section
}

"<<<SECTION `$Error ($($Error.Count) entries)"
foreach ($e in $Error) { Format-Everything '$Error' $e }
End-Section
"=== done"
Remove-Module Azmi
