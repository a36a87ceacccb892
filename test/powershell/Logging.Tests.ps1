# PowerShell's own logging never receives a token or a secret from this module.
# With module logging on (LogPipelineExecutionDetails, or a "ModuleLogging"
# policy), PowerShell logs every command a module runs, its private functions
# included, with the text of every value bound to their parameters; on Linux it
# writes them with syslog(3). A fresh pwsh runs each scenario with a small
# stand-in for syslog(3) preloaded (support/syslogShim.c, built here with the
# C compiler), which appends each message to a file instead of /dev/log, and
# with module logging on from its first command for Azmi and the built-in
# modules it calls. Each test first checks that the log holds what the session
# did (so it can fail), then that it holds no part of any token, nothing
# JWT-shaped and no endpoint secret; with the precompiled core and without it.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    Reset-AzmiTestEnvironment

    # Why this machine cannot run the tests, or $null.
    $script:Why = $null
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ("azmi-logging-{0}" -f [guid]::NewGuid())
    $script:Shim = Join-Path $script:Work 'syslogShim.so'
    if (-not $IsLinux) {
        $script:Why = 'PowerShell writes its log with syslog(3) only on Linux'
    } else {
        $cc = Get-Command cc, gcc, clang -CommandType Application -ErrorAction Ignore | Select-Object -First 1
        if (-not $cc) {
            $script:Why = 'no C compiler (cc, gcc or clang) to build the syslog stand-in'
        } else {
            $null = New-Item -ItemType Directory -Path $script:Work
            $out = & $cc.Source -shared -fPIC -O1 -o $script:Shim (Join-Path $PSScriptRoot 'support/syslogShim.c') 2>&1
            if ($LASTEXITCODE -ne 0) { $script:Why = "the syslog stand-in did not build: $out" }
        }
    }
    if (-not $script:Why) { $script:Endpoint = Start-AzManagedIdentityEndpoint -SetEnvironment }

    # Runs $Scenario in a fresh pwsh (the same pwsh as this one; a dotnet tool
    # runs as 'dotnet pwsh.dll') with the syslog stand-in and module logging
    # on for Azmi and the built-in modules it calls. The scenario writes what
    # the checks need (tokens, secrets: a .NET call is no command, so nothing
    # of it is logged) with `Out-Facts`, and ends with a marker command whose
    # line must be in the log. Returns the log's text and the facts.
    function Invoke-LoggedSession([string] $Scenario, [switch] $NoCore, [hashtable] $Environment = @{}) {
        $pwsh = [System.Environment]::ProcessPath
        [string[]] $prefix = if ((Split-Path $pwsh -Leaf) -like 'dotnet*') { Join-Path $PSHOME 'pwsh.dll' } else { @() }
        $id = [guid]::NewGuid().ToString('n')
        $logFile = Join-Path $script:Work "syslog-$id.txt"
        $factsFile = Join-Path $script:Work "facts-$id.txt"
        $module = Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1'
        $marker = "azmi-logging-end-$id"
        $session = @"
`$ErrorActionPreference = 'Stop'
function Out-Facts([string[]] `$Lines) { [System.IO.File]::AppendAllLines('$factsFile', `$Lines) }
Import-Module '$module'
Import-Module Microsoft.PowerShell.Utility, Microsoft.PowerShell.Management
foreach (`$m in Get-Module Azmi, Microsoft.PowerShell.Utility, Microsoft.PowerShell.Management) { `$m.LogPipelineExecutionDetails = `$true }
Out-Facts ('core=' + (& (Get-Module Azmi) { [bool]`$script:Core }))
$Scenario
Microsoft.PowerShell.Utility\Write-Output '$marker' | Out-Null
"@
        $saved = @{}
        $set = @{ LD_PRELOAD = $script:Shim; AZMI_SYSLOG_FILE = $logFile; AZMI_NO_CORE = $(if ($NoCore) { '1' } else { $null }) } + $Environment
        foreach ($name in $set.Keys) { $saved[$name] = [System.Environment]::GetEnvironmentVariable($name); [System.Environment]::SetEnvironmentVariable($name, $set[$name]) }
        try {
            $out = & $pwsh @prefix -NoProfile -NonInteractive -Command $session 2>&1
            if ($LASTEXITCODE -ne 0) { throw "the logged session failed: $out" }
        } finally {
            foreach ($name in $saved.Keys) { [System.Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        }
        $text = if (Test-Path -LiteralPath $logFile) { [System.IO.File]::ReadAllText($logFile) } else { '' }
        $facts = [System.IO.File]::ReadAllLines($factsFile)
        if ($env:AZMI_DUMP_SYSLOG) { [System.IO.File]::WriteAllText($env:AZMI_DUMP_SYSLOG, $text) }
        # The whole session was logged, to its last command.
        $text.Contains("value=`"$marker`"") | Should -BeTrue -Because 'the log should hold the session to its last command'
        @{ Text = $text; Facts = $facts }
    }

    # Booleans, not Should -Match on the log: a failure would print all of it.
    function Assert-Logged([string] $Text, [string[]] $Patterns) {
        foreach ($pattern in $Patterns) { $Text -match $pattern | Should -BeTrue -Because "the log should hold $pattern" }
    }

    function Assert-NoSecret([string] $Text, [string[]] $Tokens, [string[]] $Secrets) {
        foreach ($t in $Tokens) {
            $t.Length | Should -BeGreaterThan 20
            foreach ($part in $t.Split('.')) { $Text.Contains($part) | Should -BeFalse -Because 'no part of an access token may reach the log' }
        }
        foreach ($s in $Secrets) {
            $s.Length | Should -BeGreaterThan 16
            $Text.Contains($s) | Should -BeFalse -Because 'no endpoint secret may reach the log'
        }
        $jwt = [regex]::Match($Text, 'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}')
        $jwt.Success | Should -BeFalse -Because "nothing JWT-shaped may reach the log (found $(if ($jwt.Success) { $jwt.Value.Substring(0, 12) + '…' }))"
    }

    # Every cmdlet and path a token passes through: the bridge's start, -Verbose,
    # a pipe, -AsSecureString, Invoke-AzManagedRestMethod (a request that fails
    # too) and an endpoint of the session's own, whose secret the session's
    # changed environment carries to the bridge with the next request.
    $script:TokenScenario = @"
`$first = Get-AzManagedToken -Resource https://vault.azure.net -Verbose 4>`$null
`$piped = 'https://storage.azure.com' | Get-AzManagedToken
`$secure = Get-AzManagedToken -Resource https://management.azure.com -AsSecureString
`$keys = Invoke-AzManagedRestMethod -Uri '$(if ($script:Endpoint) { $script:Endpoint.JwksUri })' -Resource https://vault.azure.net -Verbose 4>`$null
if (`$keys.keys.Count -lt 1) { throw 'no keys' }
`$failed = `$false
try { Invoke-AzManagedRestMethod -Uri '$(if ($script:Endpoint) { $script:Endpoint.Url })/no-such-path' -Resource https://vault.azure.net } catch { `$failed = `$true }
if (-not `$failed) { throw 'the request to a missing path did not fail' }
`$own = Start-AzManagedIdentityEndpoint -SetEnvironment
`$fromOwn = Get-AzManagedToken -Resource https://graph.microsoft.com
Stop-AzManagedIdentityEndpoint
Out-Facts ('token=' + `$first.access_token), ('token=' + `$piped.access_token), ('token=' + [System.Net.NetworkCredential]::new('', `$secure.access_token).Password), ('token=' + `$fromOwn.access_token), ('secret=' + `$own.Environment.IDENTITY_HEADER)
"@

    $script:TokenPatterns = @(
        'CommandInvocation\(Get-AzManagedToken\)'
        'ParameterBinding\(Get-AzManagedToken\): name="Resource"; value="https://vault\.azure\.net/?"'
        'ParameterBinding\(Get-AzManagedToken\): name="AsSecureString"; value="True"'
        'CommandInvocation\(Invoke-RestMethod\)'
        'ParameterBinding\(Invoke-RestMethod\): name="Headers"'
        'CommandInvocation\(Start-AzManagedIdentityEndpoint\)'
    )

    # A program that says the bridge's hello, then answers with a line that is
    # not the protocol but holds a token: the module's protocol fault names
    # the line's length only.
    $script:LeakyToken = 'eyJ0eXAiOiJKV1QifQ.eyJsZWFreSI6InRlc3QifQ.' + [guid]::NewGuid().ToString('n')
    $script:ProtocolScenario = @"
`$caught = `$null
try { Get-AzManagedToken -Resource https://vault.azure.net } catch { `$caught = `$_ }
Out-Facts ('error=' + `$caught.FullyQualifiedErrorId), ('message=' + `$caught.Exception.Message)
"@
}

AfterAll {
    Stop-AzManagedIdentityEndpoint -ErrorAction Ignore
    Remove-Module Azmi -Force -ErrorAction Ignore
    if ($script:Work) { Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction Ignore }
}

Describe 'PowerShell module logging (LogPipelineExecutionDetails) and secrets' {
    It 'with the precompiled core: the log holds the commands and their parameters, never a token, anything JWT-shaped or an endpoint''s secret' {
        if ($script:Why) { Set-ItResult -Skipped -Because $script:Why; return }
        $run = Invoke-LoggedSession $script:TokenScenario
        $run.Facts[0] | Should -Be 'core=True'
        Assert-Logged $run.Text $script:TokenPatterns
        $tokens = @($run.Facts | Where-Object { $_ -like 'token=*' } | ForEach-Object { $_.Substring(6) })
        $tokens.Count | Should -Be 4
        Assert-NoSecret $run.Text $tokens @(($run.Facts | Where-Object { $_ -like 'secret=*' }).Substring(7), $script:Endpoint.Environment.IDENTITY_HEADER)
    }

    It 'on the script path (AZMI_NO_CORE=1): the same' {
        if ($script:Why) { Set-ItResult -Skipped -Because $script:Why; return }
        $run = Invoke-LoggedSession $script:TokenScenario -NoCore
        $run.Facts[0] | Should -Be 'core=False'
        Assert-Logged $run.Text $script:TokenPatterns
        $tokens = @($run.Facts | Where-Object { $_ -like 'token=*' } | ForEach-Object { $_.Substring(6) })
        $tokens.Count | Should -Be 4
        Assert-NoSecret $run.Text $tokens @(($run.Facts | Where-Object { $_ -like 'secret=*' }).Substring(7), $script:Endpoint.Environment.IDENTITY_HEADER)
    }

    It 'a bridge answer that is not the protocol (here: one holding a token) is a protocol fault, and its line is neither in the log nor in the error (<Name>)' -ForEach @(
        @{ Name = 'core'; NoCore = $false }
        @{ Name = 'script path'; NoCore = $true }
    ) {
        if ($script:Why) { Set-ItResult -Skipped -Because $script:Why; return }
        $environment = @{ AZMI_BRIDGE = (Join-Path $PSScriptRoot 'support/leakyBridge.js'); AZMI_TEST_LEAKY_TOKEN = $script:LeakyToken }
        $run = Invoke-LoggedSession $script:ProtocolScenario -NoCore:$NoCore -Environment $environment
        $run.Facts[0] | Should -Be "core=$(-not $NoCore)"
        ($run.Facts | Where-Object { $_ -like 'error=*' }) | Should -Be 'error=GetAzManagedTokenBridgeProtocolError,Get-AzManagedToken'
        $message = ($run.Facts | Where-Object { $_ -like 'message=*' })
        $message | Should -Match 'answered with a line \(\d+ characters\)'
        $message.Contains($script:LeakyToken) | Should -BeFalse
        Assert-Logged $run.Text @('CommandInvocation\(Get-AzManagedToken\)')
        Assert-NoSecret $run.Text @($script:LeakyToken) @()
    }
}
