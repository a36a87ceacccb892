# Helpers for the Azmi Pester suite: a clean, loopback-only environment and
# the fake Cloud Shell endpoint (a Node process; see cloudShellFake.ts).

$script:RepoRoot = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../../..'))
$script:FakeScript = Join-Path $script:RepoRoot 'dist/test/powershell/support/cloudShellFake.js'

# Identity variables a test may set; cleared before each scenario so one
# test's endpoint can never leak into another.
$script:IdentityVariables = @(
    'MSI_ENDPOINT', 'MSI_SECRET', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT',
    'DEFAULT_IDENTITY_CLIENT_ID', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH',
    'AZURE_USERNAME', 'AZURE_PASSWORD', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_TOKEN_CREDENTIALS', 'AZMI_BRIDGE', 'AZMI_NODE'
)

function Get-AzmiRepoRoot { $script:RepoRoot }

function Reset-AzmiTestEnvironment {
    <#
    .SYNOPSIS
    Clears identity variables, points IMDS at a dead loopback port (the chain can never reach
    169.254.169.254) and gives azmi a throwaway AZMI_HOME.
    #>
    foreach ($name in $script:IdentityVariables) { [System.Environment]::SetEnvironmentVariable($name, $null) }
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:9'
    if (-not $env:AZMI_HOME -or -not (Test-Path $env:AZMI_HOME)) {
        $env:AZMI_HOME = Join-Path ([System.IO.Path]::GetTempPath()) "azmi-pester-$PID"
        $null = New-Item -ItemType Directory -Force -Path $env:AZMI_HOME
    }
}

function Start-CloudShellFake {
    <#
    .SYNOPSIS
    Starts the fake Cloud Shell endpoint on 127.0.0.1 and returns Url, Port, MsiEndpoint, AppId (the appid claim of
    its JWTs), Process and LogFile.
    #>
    if (-not (Test-Path $script:FakeScript)) { throw "Build first (npx tsc -p .): $script:FakeScript is missing." }
    $log = Join-Path ([System.IO.Path]::GetTempPath()) ("azmi-cloudshell-{0}.log" -f [guid]::NewGuid())
    $null = New-Item -ItemType File -Path $log
    $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-Command node -CommandType Application | Select-Object -First 1).Source)
    $psi.ArgumentList.Add($script:FakeScript)
    $psi.ArgumentList.Add($log)
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($psi)
    $read = $process.StandardOutput.ReadLineAsync()
    if (-not $read.Wait(10000)) { $process.Kill(); throw 'The Cloud Shell fake did not start within 10 s.' }
    $info = $read.Result | ConvertFrom-Json
    [pscustomobject]@{ Url = $info.url; Port = $info.port; MsiEndpoint = $info.msiEndpoint; AppId = $info.appId; Process = $process; LogFile = $log }
}

function Stop-CloudShellFake {
    param([Parameter(Mandatory)] $Fake)
    try { $Fake.Process.StandardInput.Close() } catch { }
    if (-not $Fake.Process.WaitForExit(5000)) { $Fake.Process.Kill() }
    Remove-Item -LiteralPath $Fake.LogFile -Force -ErrorAction Ignore
}

function Get-CloudShellFakeRequests {
    <# .SYNOPSIS The requests the fake has received so far, oldest first. #>
    param([Parameter(Mandatory)] $Fake)
    @(Get-Content -LiteralPath $Fake.LogFile | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json })
}

function Compare-AzmiTokenWithRestMethod {
    <#
    .SYNOPSIS
    How Get-AzManagedToken's object differs from Invoke-RestMethod's answer from an MSI endpoint, one line per
    difference (nothing when they agree), in both directions: every property of the Invoke-RestMethod object is on the
    token with the same value, as a string (expires_in counts down, so a few seconds apart is the same), and the token
    has no property Invoke-RestMethod's lacks except the typed ExpiresOn, which must be expires_on as a DateTimeOffset.
    #>
    param([Parameter(Mandatory)] $Rest, [Parameter(Mandatory)] $Token, [int] $ExpiresInSlackSec = 5)
    $restNames = @($Rest.PSObject.Properties.Name)
    $tokenNames = @($Token.PSObject.Properties.Name)
    foreach ($property in $Rest.PSObject.Properties) {
        $name = $property.Name
        if ($name -cnotin $tokenNames) { "missing on the token: $name (Invoke-RestMethod: '$($property.Value)')"; continue }
        $value = $Token.$name
        if ($value -isnot [string]) { "$name is a $(if ($null -eq $value) { 'null' } else { $value.GetType().Name }), not a string" }
        if ($name -eq 'expires_in') {
            if ([math]::Abs([long]$value - [long]$property.Value) -gt $ExpiresInSlackSec) { "expires_in: Invoke-RestMethod '$($property.Value)', token '$value'" }
        } elseif ("$value" -cne "$($property.Value)") {
            "${name}: Invoke-RestMethod '$($property.Value)', token '$value'"
        }
    }
    foreach ($name in $tokenNames) {
        if ($name -cin $restNames) { continue }
        if ($name -ceq 'ExpiresOn') {
            if ($Token.ExpiresOn -isnot [System.DateTimeOffset] -or $Token.ExpiresOn -ne [System.DateTimeOffset]::FromUnixTimeSeconds([long]$Rest.expires_on)) {
                "ExpiresOn is '$($Token.ExpiresOn)', not expires_on as a DateTimeOffset"
            }
            continue
        }
        "extra on the token: $name ('$($Token.$name)'), which Invoke-RestMethod's answer does not have"
    }
    if ('ExpiresOn' -cnotin $tokenNames) { 'missing on the token: ExpiresOn' }
}

function Get-AzmiBridgeProcessId {
    <# .SYNOPSIS Pid of the session's bridge, or $null when none is running. #>
    & (Get-Module Azmi) { if ($script:Bridge -and -not $script:Bridge.Process.HasExited) { $script:Bridge.Process.Id } }
}

function Stop-AzmiTestBridge {
    <# .SYNOPSIS Stops the session's bridge the way the module does (for tests that need a fresh start). #>
    & (Get-Module Azmi) { Stop-AzmiBridge -GraceMs 2000 }
}

function ConvertFrom-AzmiSecureString {
    param([Parameter(Mandatory)] [securestring] $Value)
    [System.Net.NetworkCredential]::new('', $Value).Password
}

Export-ModuleMember -Function *
