# Every exported command has real comment-based help, and the module has
# an about topic.

BeforeDiscovery {
    $manifest = Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1')
    $commands = $manifest.FunctionsToExport | ForEach-Object { @{ Name = $_ } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -Force
    $script:common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
}

AfterAll {
    Remove-Module Azmi -Force -ErrorAction Ignore
}

Describe 'Module manifest' {
    It 'exports exactly the public commands, explicitly' {
        $manifest = Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1')
        $manifest.FunctionsToExport | Should -Not -Contain '*'
        (Get-Command -Module Azmi).Name | Sort-Object | Should -Be ($manifest.FunctionsToExport | Sort-Object)
        $manifest.CmdletsToExport | Should -BeNullOrEmpty
        $manifest.AliasesToExport | Should -BeNullOrEmpty
        $manifest.VariablesToExport | Should -BeNullOrEmpty
        { Test-ModuleManifest (Join-Path $PSScriptRoot '../../module/Azmi/Azmi.psd1') -ErrorAction Stop } | Should -Not -Throw
    }

    It 'keeps the layout: Azmi.psd1 and Azmi.psm1 at the root, exported commands declared in Public/, the rest in Private/' {
        $root = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../../module/Azmi'))
        $manifest = Import-PowerShellDataFile (Join-Path $root 'Azmi.psd1')
        $manifest.RootModule | Should -BeExactly 'Azmi.psm1'
        Test-Path (Join-Path $root 'Azmi.psm1') | Should -BeTrue
        # Every script file is in Public/ or Private/ (none at the root or elsewhere).
        $scripts = @(Get-ChildItem $root -Recurse -File -Filter *.ps1 | ForEach-Object { [System.IO.Path]::GetRelativePath($root, $_.FullName).Replace('\', '/') })
        $scripts | Should -Not -BeNullOrEmpty
        $scripts | Where-Object { $_ -notmatch '^(Public|Private)/[^/]+\.ps1$' } | Should -BeNullOrEmpty
        # Which file declares which top-level function, from the parsed files.
        $declared = foreach ($file in $scripts) {
            $ast = [System.Management.Automation.Language.Parser]::ParseFile((Join-Path $root $file), [ref]$null, [ref]$null)
            foreach ($function in $ast.FindAll({ $args[0] -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $false)) {
                [pscustomobject]@{ Name = $function.Name -replace '^script:'; Folder = $file.Split('/')[0] }
            }
        }
        foreach ($name in $manifest.FunctionsToExport) {
            @($declared | Where-Object Name -eq $name).Folder | Should -Be @('Public') -Because "$name is exported, so Public/ declares it (once)"
        }
        $private = @($declared | Where-Object Folder -eq 'Private').Name
        $private | Should -Not -BeNullOrEmpty
        $private | Where-Object { $_ -in $manifest.FunctionsToExport } | Should -BeNullOrEmpty
    }

    It 'declares -Resource as the issue''s syntax says: a [uri] on Get-AzManagedToken and Get-AzManagedIdentityChain' {
        (Get-Command Get-AzManagedToken).Parameters.Resource.ParameterType | Should -Be ([uri])
        (Get-Command Get-AzManagedIdentityChain).Parameters.Resource.ParameterType | Should -Be ([uri])
        (Get-Command Invoke-AzManagedRestMethod).Parameters.Resource.ParameterType | Should -Be ([string])
        (Get-Help Get-AzManagedToken).Syntax | Out-String -Width 500 | Should -Match '\[-Resource\] <Uri>'
    }

    It 'marks state changes with SupportsShouldProcess' -TestCases @(@{ Name = 'Start-AzManagedIdentityEndpoint' }, @{ Name = 'Stop-AzManagedIdentityEndpoint' }) {
        (Get-Command $Name).Parameters.Keys | Should -Contain 'WhatIf'
        (Get-Command $Name).Parameters.Keys | Should -Contain 'Confirm'
    }
}

Describe 'Help for <Name>' -ForEach $commands {
    BeforeAll {
        $help = Get-Help $Name -Full
        $command = Get-Command $Name
    }

    It 'has a synopsis' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        # Without comment-based help, Get-Help makes the synopsis from the syntax.
        $help.Synopsis | Should -Not -BeLike "*$Name *[<CommonParameters>]*"
        $help.Synopsis.Length | Should -BeGreaterThan 20
    }

    It 'has a description' {
        ($help.Description.Text -join "`n").Length | Should -BeGreaterThan 80
    }

    It 'has examples with code' {
        @($help.Examples.Example).Count | Should -BeGreaterOrEqual 1
        foreach ($example in $help.Examples.Example) { $example.Code | Should -Not -BeNullOrEmpty }
    }

    It 'describes every parameter' {
        $names = $command.Parameters.Keys | Where-Object { $_ -notin $common }
        $names | Should -Not -BeNullOrEmpty
        foreach ($parameter in $names) {
            $entry = $help.Parameters.Parameter | Where-Object Name -eq $parameter
            $entry | Should -Not -BeNullOrEmpty -Because "-$parameter needs help"
            ($entry.Description.Text -join ' ').Length | Should -BeGreaterThan 10 -Because "-$parameter needs a description"
        }
    }

    It 'says what it outputs' {
        ($help.returnValues.returnValue.type.name -join ' ') | Should -Not -BeNullOrEmpty
    }
}

Describe 'about_Azmi' {
    It 'ships as en-US/about_Azmi.help.txt with the standard sections' {
        $path = Join-Path $PSScriptRoot '../../module/Azmi/en-US/about_Azmi.help.txt'
        $text = Get-Content -Raw $path
        $text | Should -Match '(?m)^TOPIC\s+about_Azmi'
        foreach ($section in 'SHORT DESCRIPTION', 'LONG DESCRIPTION', 'EXAMPLES', 'SEE ALSO') { $text | Should -Match "(?m)^$section" }
        foreach ($name in (Get-Command -Module Azmi).Name) { $text | Should -Match $name }
    }

    It 'is found by Get-Help when the module is on PSModulePath' {
        $modules = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../../module'))
        $saved = $env:PSModulePath
        try {
            $env:PSModulePath = $modules + [System.IO.Path]::PathSeparator + $env:PSModulePath
            (Get-Help about_Azmi | Out-String) | Should -Match 'managed-identity endpoint'
        } finally {
            $env:PSModulePath = $saved
        }
    }
}
