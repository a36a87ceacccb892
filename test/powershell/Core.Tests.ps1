# The module's precompiled core (module/src -> module/Azmi/lib/Azmi.Core.dll as shipped,
# module/Azmi/bin/Azmi.Core.dll when built on this machine): loaded when present, and doing exactly what the script functions it stands in
# for do, so a machine without the .NET SDK (script path) behaves the same.

BeforeDiscovery {
    # -Skip is decided at discovery: the core-only tests need the built DLL.
    $built = (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/bin/Azmi.Core.dll')) -or (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/lib/Azmi.Core.dll'))
    $useCore = $built -and $env:AZMI_NO_CORE -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    $script:modulePath = Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1'
    Import-Module $modulePath -Force
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $env:MSI_ENDPOINT = $fake.MsiEndpoint
    $script:built = (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/bin/Azmi.Core.dll')) -or (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/lib/Azmi.Core.dll'))
    $script:coreLoaded = & (Get-Module Azmi) { $script:Core }

    # Runs $Command in a fresh pwsh (the same pwsh as this one; a dotnet tool
    # runs as 'dotnet pwsh.dll'), with the core or, with -NoCore, without it
    # (AZMI_NO_CORE=1); returns its output lines (with -MergeErrors, its
    # error stream too). This session's AZMI_NO_CORE is left as it was.
    function Invoke-FreshSession([string] $Command, [switch] $NoCore, [switch] $MergeErrors) {
        $pwsh = [System.Environment]::ProcessPath
        [string[]] $prefix = if ((Split-Path $pwsh -Leaf) -like 'dotnet*') { Join-Path $PSHOME 'pwsh.dll' } else { @() }
        $saved = $env:AZMI_NO_CORE
        try {
            $env:AZMI_NO_CORE = if ($NoCore) { '1' } else { $null }
            if ($MergeErrors) { & $pwsh @prefix -NoProfile -NonInteractive -Command $Command 2>&1 }
            else { & $pwsh @prefix -NoProfile -NonInteractive -Command $Command }
        } finally {
            $env:AZMI_NO_CORE = $saved
        }
    }
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe 'The precompiled core' {
    It 'is used when it is built, unless AZMI_NO_CORE=1' {
        $coreLoaded | Should -Be ($built -and $env:AZMI_NO_CORE -ne '1')
    }

    It 'writes request JSON exactly as the script path does (WriteJsonObject)' -Skip:(-not $useCore) {
        $cases = @(
            [ordered]@{ resource = 'https://vault.azure.net'; timeoutMs = 30000L; forceRefresh = $true }
            [ordered]@{ scope = 'https://x/.default'; exclude = [string[]]('azure-cli', 'environment'); n = 3; d = 1.5; none = $null; f = $false }
            [ordered]@{ 'we"ird' = "line`nbreak \ quote `" tab`t"; nested = [ordered]@{ a = @(1, 'two', $null) }; empty = @() }
            @{ PATH = '/usr/bin'; HOME = '/root'; uni = 'é ü 中' }
            # Half a surrogate pair (JsonEncodedText throws on it; both escape it by hand), a whole one, a quote before one.
            [ordered]@{ clientId = "x`"$([char]0xDC00)"; pair = "$([char]0xD83D)$([char]0xDE00)"; high = "$([char]0xD800)" }
        )
        foreach ($case in $cases) {
            $expected = & (Get-Module Azmi) { param($d) if (-not $script:AzmiScriptBridge) { Import-AzmiScriptBridge }; $script:WriteJsonObject.InvokeReturnAsIs($d, $null) } $case
            [Azmi.AzmiCore]::ToJson($case) | Should -BeExactly $expected
        }
    }

    It 'reads protocol lines into the same values as the script path (ReadBridgeLine)' -Skip:(-not $useCore) {
        $lines = @(
            '{"id":1,"ok":true,"result":{"access_token":"a.b.c","expires_in":"3599","expires_on":"1700000000"},"leaseMs":5000}'
            '  {"id":2,"n":-12,"big":12345678901234567890,"f":1.25,"e":1e3,"t":true,"u":false,"z":null,"arr":[1,"x",[2],{"k":"v"}],"empty":[],"o":{}}  '
            '{"id":3,"dup":1,"dup":2}'
            'not json'
            '{"broken":'
            '[1,2]'
        )
        foreach ($line in $lines) {
            $expected = & (Get-Module Azmi) { param($t) if (-not $script:AzmiScriptBridge) { Import-AzmiScriptBridge }; $script:ReadBridgeLine.InvokeReturnAsIs($t) } $line
            $actual = [Azmi.AzmiCore]::FromJsonLine($line)
            if ($null -eq $expected) { $actual | Should -BeNullOrEmpty; continue }
            $actual | Should -BeOfType ([System.Management.Automation.PSCustomObject])
            # Same names, order, values and types, all the way down.
            ($actual | ConvertTo-Json -Depth 10 -Compress) | Should -BeExactly ($expected | ConvertTo-Json -Depth 10 -Compress)
            foreach ($name in $expected.PSObject.Properties.Name) {
                if ($null -ne $expected.$name) { $actual.$name.GetType() | Should -Be $expected.$name.GetType() -Because $name }
            }
        }
    }

    It 'takes and refuses the same resources as New-AzmiTokenRequest, and sends them the same' -Skip:(-not $useCore) {
        $values = @(
            'api://my-api', '11111111-2222-3333-4444-555555555555', 'https://vault.azure.net', 'https://vault.azure.net/', 'api://my:api',
            ('a' * 2048), ('a' * 2049), '', ' ', 'not a uri', "api://my`tapi", "x`n", "x`0", "x`u{7f}", 'https://vaulté.example', "x`u{a0}",
            [uri]'https://vault.azure.net', [uri]'api://my-api', [uri]'11111111-2222-3333-4444-555555555555'
        )
        $accepted = 0
        foreach ($value in $values) {
            $core = [Azmi.AzmiCore]::TokenRequest(@{}, $value, $null, 30)
            $script = & (Get-Module Azmi) { param($v) if (-not $script:AzmiRequestHelpers) { Import-AzmiRequestHelpers }; New-AzmiTokenRequest -CommandName Get-AzManagedToken -Bound @{} -Resource $v -TimeoutSec 30 } $value
            if ($script -is [System.Management.Automation.ErrorRecord]) {
                $core | Should -BeNullOrEmpty -Because "the script path refuses '$value'"
                [Azmi.AzmiCore]::IsValidResource([string]$value) | Should -BeFalse
            } else {
                $accepted++
                $core | Should -Not -BeNullOrEmpty -Because "the script path takes '$value'"
                [Azmi.AzmiCore]::ToJson($core) | Should -BeExactly ([Azmi.AzmiCore]::ToJson($script))
            }
        }
        $accepted | Should -Be 9
    }

    It 'returns the same token object as the script path: properties, order, types, type name, display' -Skip:(-not $built) {
        $command = "Import-Module '$modulePath'; `$t = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop; " +
            "(@(`$t.PSObject.Properties | ForEach-Object { `$_.Name + ':' + `$(if (`$null -eq `$_.Value) { 'null' } else { `$_.Value.GetType().Name }) }) + " +
            "`$t.PSObject.TypeNames[0] + (`$t.PSStandardMembers.DefaultDisplayPropertySet.ReferencedPropertyNames -join ',') + " +
            "(& (Get-Module Azmi) { [string]`$script:Core })) -join '|'"
        $withCore = Invoke-FreshSession $command
        $withScript = Invoke-FreshSession $command -NoCore
        $withCore | Should -Match '\|True$'
        $withScript | Should -Match '\|False$'
        ($withCore -replace '\|True$') | Should -BeExactly ($withScript -replace '\|False$')
        $withCore | Should -Match '^access_token:String\|refresh_token:String\|expires_in:String\|expires_on:String\|not_before:String\|resource:String\|token_type:String\|.*ExpiresOn:DateTimeOffset\|Azmi\.ManagedToken'
    }

    It 'sets up the same module state at import as the script path (Initialize)' -Skip:(-not $built) {
        # Everything Azmi.psm1's script path sets at import, as one line; the
        # bridge started at import is compared by its path only.
        $state = {
            $leases = $script:Leases; $before = $leases.ContainsKey('A'); $leases['a'] = 1; $leasesIgnoreCase = $leases.ContainsKey('A'); $leases.Clear()
            $endpoints = $script:Endpoints; $endpoints['x'] = 1; $endpointsIgnoreCase = $endpoints.ContainsKey('X'); $endpoints.Clear()
            @(
                $script:DefaultBridgePath
                "$($script:BridgeStartSec.GetType().Name) $script:BridgeStartSec"
                "$($script:BridgeSlackSec.GetType().Name) $script:BridgeSlackSec"
                "$($leases.GetType().Name) $before $leasesIgnoreCase"
                "$($endpoints.GetType().Name) $endpointsIgnoreCase"
                "bridge $($null -eq $script:Bridge)"
                # (A member set's own properties read as its members: DefaultDisplayPropertySet.)
                "token $($script:TokenDisplay.DefaultDisplayPropertySet.ReferencedPropertyNames -join ',')"
                "chain $($script:ChainLinkDisplay.DefaultDisplayPropertySet.ReferencedPropertyNames -join ',')"
            ) -join '|'
        }
        $command = "`$env:AZMI_BRIDGE_PRESTART = '0'; Import-Module '$modulePath'; & (Get-Module Azmi) { $state }; " +
            "`$env:AZMI_BRIDGE_PRESTART = `$null; Import-Module '$modulePath' -Force; & (Get-Module Azmi) { `$script:Bridge.Path + '|' + [string]`$script:Core }"
        $withCore = Invoke-FreshSession $command
        $withScript = Invoke-FreshSession $command -NoCore
        $withCore.Count | Should -Be 2
        $withCore[0] | Should -BeExactly $withScript[0]
        $withCore[0] | Should -BeLike '*main.js|Int32 10|Int32 2|Hashtable False False|Hashtable True|bridge True|token resource,token_type,ExpiresOn,client_id|chain Link,Outcome,Milliseconds,Reason'
        # Started at import in both: the default bridge, next to the module.
        $withCore[1] | Should -BeExactly (($withScript[1] -replace '\|False$') + '|True')
        $withCore[1] | Should -BeLike '*dist?src?bridge?main.js|True'
    }

    It 'warms up a fresh session in the background at import, cleanly and once (not on one CPU)' -Skip:(-not $built) {
        # A fresh process: the warm-up runs once per process, and only with two or more CPUs.
        # It must not touch the session either: PSModulePath stays as the session set it.
        $command = "`$env:PSModulePath = '/azmi-test/only'; Import-Module '$modulePath'; `$clock = [Diagnostics.Stopwatch]::StartNew(); " +
            "while ([Environment]::ProcessorCount -gt 1 -and `$null -eq [Azmi.AzmiCore]::WarmUpOutcome -and `$clock.Elapsed.TotalSeconds -lt 20) { Start-Sleep -Milliseconds 20 }; " +
            "'first=' + [Azmi.AzmiCore]::WarmUpOutcome + ' path=' + `$env:PSModulePath; Import-Module '$modulePath' -Force; Start-Sleep -Milliseconds 300; " +
            "'second=' + [Azmi.AzmiCore]::WarmUpOutcome + ' runs=' + [Azmi.AzmiCore]::WarmUpRuns; 'cpus=' + [Environment]::ProcessorCount"
        $out = Invoke-FreshSession $command
        $out.Count | Should -Be 3
        $out[0] | Should -BeLike '* path=/azmi-test/only'
        $first = $out[0] -replace ' path=.*$'
        if ($out[2] -eq 'cpus=1') {
            $first | Should -BeExactly 'first=' -Because 'one CPU: no warm-up'
            $out[1] | Should -BeExactly 'second= runs=0'
        } else {
            $first | Should -Match '^first=done in \d+\.\d ms$'
            $out[1] | Should -BeExactly (($first -replace '^first=', 'second=') + ' runs=1') -Because 'a second import does not warm up again'
        }
    }

    It 'ships a build of the core made from module/src/AzmiCore.cs as it is now (scripts/build-pwsh-core.sh)' {
        # Users without the .NET SDK get lib/'s build: it must not lag behind its source.
        $lib = Join-Path $PSScriptRoot '../../module/Azmi/lib/Azmi.Core.dll'
        $lib | Should -Exist
        $built = Invoke-FreshSession ("[System.Reflection.Assembly]::LoadFile('$((Resolve-Path $lib).Path)').GetCustomAttributes([System.Reflection.AssemblyMetadataAttribute], `$false) | " +
            "Where-Object Key -EQ 'AzmiSourceSha256' | ForEach-Object Value")
        $source = (Get-FileHash -Algorithm SHA256 -LiteralPath (Join-Path $PSScriptRoot '../../module/src/AzmiCore.cs')).Hash
        $built | Should -Be $source -Because 'module/src/AzmiCore.cs changed since lib/Azmi.Core.dll was built: run scripts/build-pwsh-core.sh and commit the DLL'
    }

    It 'uses the shipped core where no local build exists, and answers as the local build does' {
        # A copy of the module as npm installs it: lib/ only, no bin/.
        $shipped = Join-Path $TestDrive 'shipped/Azmi'
        $null = New-Item -ItemType Directory -Force -Path $shipped
        Copy-Item -Recurse -Path (Join-Path $PSScriptRoot '../../module/Azmi/*') -Destination $shipped -Exclude 'bin'
        Join-Path $shipped 'bin' | Should -Not -Exist
        $bridge = (Resolve-Path (Join-Path $PSScriptRoot '../../dist/src/bridge/main.js')).Path
        $command = "`$env:AZMI_BRIDGE = '$bridge'; Import-Module '$shipped/Azmi.psd1'; `$t = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop; " +
            "[string](& (Get-Module Azmi) { `$script:Core }); [Azmi.AzmiCore].Assembly.Location; `$t.resource; (`$t.PSObject.Properties.Name -join ',')"
        $out = Invoke-FreshSession $command -MergeErrors
        $out.Count | Should -Be 4 -Because ($out -join "`n")
        $out[0] | Should -BeExactly 'True'
        $out[1] | Should -BeExactly ([System.IO.Path]::Combine($shipped, 'lib', 'Azmi.Core.dll'))
        $out[2] | Should -BeExactly 'https://vault.azure.net'
        $out[3] | Should -BeExactly ((Get-AzManagedToken https://vault.azure.net -ErrorAction Stop).PSObject.Properties.Name -join ',')
    }

    It 'skips a local build older than the shipped core (built from an older AzmiCore.cs), and uses one that is newer' -Skip:(-not (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/bin/Azmi.Core.dll'))) {
        # A checkout that moved on (or a lib/ rebuilt by scripts/build-pwsh-core.sh) without scripts/setup-pwsh.sh run again.
        $copy = Join-Path $TestDrive 'stale/Azmi'
        $null = New-Item -ItemType Directory -Force -Path $copy
        Copy-Item -Recurse -Path (Join-Path $PSScriptRoot '../../module/Azmi/*') -Destination $copy
        $bridge = (Resolve-Path (Join-Path $PSScriptRoot '../../dist/src/bridge/main.js')).Path
        $command = "`$env:AZMI_BRIDGE = '$bridge'; Import-Module '$copy/Azmi.psd1'; `$t = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop; " +
            "[Azmi.AzmiCore].Assembly.Location; `$t.resource"
        foreach ($case in @{ Bin = '2020-01-01'; Lib = '2021-01-01'; Used = 'lib' }, @{ Bin = '2022-01-01'; Lib = '2021-01-01'; Used = 'bin' }) {
            (Get-Item (Join-Path $copy 'bin/Azmi.Core.dll')).LastWriteTimeUtc = [datetime]$case.Bin
            (Get-Item (Join-Path $copy 'lib/Azmi.Core.dll')).LastWriteTimeUtc = [datetime]$case.Lib
            $out = Invoke-FreshSession $command -MergeErrors
            ($out -join "`n") | Should -BeExactly ("$([System.IO.Path]::Combine($copy, $case.Used, 'Azmi.Core.dll'))`nhttps://vault.azure.net") -Because "bin/ $($case.Bin), lib/ $($case.Lib)"
        }
    }

    It 'uses the script path when another copy of the core is already loaded in the process' -Skip:(-not $built) {
        # Another install's (or a pre-upgrade) Azmi.Core loaded first: LoadFrom
        # would hand it back, and its methods need not match this module's script.
        $copy = Join-Path $TestDrive 'other/Azmi.Core.dll'
        $null = New-Item -ItemType Directory -Force -Path (Split-Path $copy)
        Copy-Item (Join-Path $PSScriptRoot '../../module/Azmi/lib/Azmi.Core.dll') $copy
        $command = "`$null = [System.Reflection.Assembly]::LoadFrom('$copy'); Import-Module '$modulePath'; " +
            "[string](& (Get-Module Azmi) { `$script:Core }); (Get-AzManagedToken https://vault.azure.net -ErrorAction Stop).resource"
        $out = Invoke-FreshSession $command -MergeErrors
        ($out -join "`n") | Should -BeExactly "False`nhttps://vault.azure.net"
    }

    It 'stops the bridge of a runspace that closes (a disposed runspace, ForEach-Object -Parallel), without waiting for garbage collection' -Skip:(-not $useCore) {
        # A runspace is a session too: its bridge must not outlive it until a
        # finalizer happens to close the pipe (seen: 9 node processes left after
        # two ForEach-Object -Parallel rounds).
        $script = "Import-Module '$modulePath'; `$null = Get-AzManagedToken https://vault.azure.net -ErrorAction Stop; & (Get-Module Azmi) { `$script:Bridge.Process.Id }"
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        $null = $ps.AddScript($script)
        [int[]] $pids = @($ps.Invoke() | Select-Object -Last 1)
        $ps.Dispose()
        $pids += 1..2 | ForEach-Object -Parallel { Invoke-Expression $using:script } -ThrottleLimit 2
        $pids.Count | Should -Be 3
        Get-Process -Id $pids[0] -ErrorAction Ignore | Should -Not -BeNullOrEmpty -Because 'the first runspace is still open'
        $runspace.Dispose()
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ((Get-Process -Id $pids -ErrorAction Ignore) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        @(Get-Process -Id $pids -ErrorAction Ignore).Count | Should -Be 0
    }

    It 'returns a SecureString with -AsSecureString and never shows the token' -Skip:(-not $useCore) {
        $plain = Get-AzManagedToken https://securestring.example.com
        $secure = Get-AzManagedToken https://securestring.example.com -AsSecureString
        $secure.access_token | Should -BeOfType ([securestring])
        [System.Net.NetworkCredential]::new('', $secure.access_token).Password | Should -BeExactly $plain.access_token
        ($secure | Out-String) | Should -Not -Match ([regex]::Escape($plain.access_token))
    }
}
