# What Import-Module parses: only Get-AzManagedToken's good path (with the
# precompiled core). The other cmdlets' bodies, the script exchange and the
# request/error helpers load on the first call that needs them, and the
# cmdlets look the same to Get-Command before and after that load.

BeforeDiscovery {
    $built = (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/bin/Azmi.Core.dll')) -or (Test-Path (Join-Path $PSScriptRoot '../../module/Azmi/lib/Azmi.Core.dll'))
    $useCore = $built -and $env:AZMI_NO_CORE -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'support/Azmi.TestSupport.psm1') -Force
    $script:modulePath = Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1'
    Reset-AzmiTestEnvironment
    $script:fake = Start-CloudShellFake
    $env:MSI_ENDPOINT = $fake.MsiEndpoint
    function Get-AzmiLoaded {
        & (Get-Module Azmi) { [ordered]@{ Bodies = $null -ne $script:AzmiCmdletBodies; ScriptBridge = $script:AzmiScriptBridge; Requests = $script:AzmiRequestHelpers } }
    }
    # Name, parameter sets and their parameters, as Get-Command shows them.
    function Get-AzmiCommandShape([string] $Name) {
        $command = Get-Command $Name
        @(foreach ($set in $command.ParameterSets) {
            $parameters = foreach ($p in $set.Parameters) { '{0}:{1}:{2}:{3}:{4}:{5}' -f $p.Name, $p.ParameterType, $p.IsMandatory, $p.Position, $p.ValueFromPipeline, $p.ValueFromPipelineByPropertyName }
            "$($set.Name) default=$($set.IsDefault) $($parameters -join ' ')"
        }) -join "`n"
    }
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
    Stop-CloudShellFake $script:fake
}

Describe 'Loading on first use' {
    BeforeEach { Import-Module $modulePath -Force }

    It 'parses only the good path at import, and a good Get-AzManagedToken needs nothing more' -Skip:(-not $useCore) {
        $loaded = Get-AzmiLoaded
        $loaded.Values | Should -Be @($false, $false, $false)
        $null = Get-AzManagedToken -Resource https://vault.azure.net
        $loaded = Get-AzmiLoaded
        $loaded.Values | Should -Be @($false, $false, $false)
    }

    It 'loads the script exchange and the request helpers at import without the core (AZMI_NO_CORE=1, or no DLL)' {
        $saved = $env:AZMI_NO_CORE
        $env:AZMI_NO_CORE = '1'
        try {
            Import-Module $modulePath -Force
            $loaded = Get-AzmiLoaded
            $loaded.Bodies | Should -BeFalse
            $loaded.ScriptBridge | Should -BeTrue
            $loaded.Requests | Should -BeTrue
            (Get-AzManagedToken -Resource https://vault.azure.net).access_token | Should -Not -BeNullOrEmpty
        } finally {
            $env:AZMI_NO_CORE = $saved
            Import-Module $modulePath -Force
        }
    }

    It 'loads the request helpers for an input error, with the same message' {
        $null = Get-AzManagedToken -Resource 'not a uri' -ErrorVariable failure -ErrorAction SilentlyContinue
        $failure[0].FullyQualifiedErrorId | Should -BeExactly 'GetAzManagedTokenInvalidResource,Get-AzManagedToken'
        $failure[0].Exception.Message | Should -BeExactly "-Resource 'not a uri' contains a space at position 4. A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id; or use -Scope for a scope."
        (Get-AzmiLoaded).Requests | Should -BeTrue
    }

    It 'gives the other cmdlets the same Get-Command shape before and after their bodies load' {
        $names = 'Get-AzManagedIdentityChain', 'Invoke-AzManagedRestMethod', 'Start-AzManagedIdentityEndpoint', 'Stop-AzManagedIdentityEndpoint'
        $before = foreach ($name in $names) { Get-AzmiCommandShape $name }
        $links = @(Get-AzManagedIdentityChain -Resource https://vault.azure.net)
        $links.Count | Should -BeGreaterThan 0
        $loaded = Get-AzmiLoaded
        $loaded.Values | Should -Be @($true, $true, $true)
        $after = foreach ($name in $names) { Get-AzmiCommandShape $name }
        $after | Should -Be $before
        $before[0] | Should -Match 'ClientId'
    }

    It 'runs a body with the cmdlet''s own bound parameters and pipeline input' {
        $ids = @([pscustomobject]@{ Id = 424242 }, [pscustomobject]@{ Id = 434343 })
        $null = $ids | Stop-AzManagedIdentityEndpoint -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures.Count | Should -Be 2
        $failures[0].FullyQualifiedErrorId | Should -BeLike '*,Stop-AzManagedIdentityEndpoint'
        $failures[0].TargetObject | Should -Be 424242
        $failures[1].TargetObject | Should -Be 434343
    }
}
