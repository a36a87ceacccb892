function Stop-AzManagedIdentityEndpoint {
    <#
    .SYNOPSIS
    Stops local managed-identity endpoints started with Start-AzManagedIdentityEndpoint in this session.

    .DESCRIPTION
    Stop-AzManagedIdentityEndpoint closes the endpoint and, if it was started with -SetEnvironment, puts back the
    identity-endpoint environment variables the session had before. Without -Id it stops every endpoint this session
    started. Endpoint objects can be piped in.

    .PARAMETER Id
    Id of the endpoint to stop (the Id property of Start-AzManagedIdentityEndpoint's result). Accepts pipeline input by
    property name.

    .EXAMPLE
    $ep = Start-AzManagedIdentityEndpoint -SetEnvironment
    Stop-AzManagedIdentityEndpoint -Id $ep.Id

    .EXAMPLE
    Start-AzManagedIdentityEndpoint | Stop-AzManagedIdentityEndpoint -WhatIf

    Shows which endpoint would be stopped.

    .EXAMPLE
    Stop-AzManagedIdentityEndpoint

    Stops every endpoint started in this session.

    .OUTPUTS
    None.

    .LINK
    Start-AzManagedIdentityEndpoint
    #>
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'All')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Id', ValueFromPipelineByPropertyName)]
        [int[]] $Id
    )
    process {
        $command = $MyInvocation.MyCommand.Name
        $ids = if ($PSCmdlet.ParameterSetName -eq 'Id') { $Id } else { @($script:Endpoints.Keys) }
        foreach ($one in $ids) {
            $record = $script:Endpoints[$one]
            if ($null -eq $record) {
                $PSCmdlet.WriteError((New-AzmiErrorRecord -CommandName $command -Condition 'NotFound' -Target $one `
                            -Message "No endpoint with id $one was started in this session (or it was already stopped)."))
                continue
            }
            if (-not $PSCmdlet.ShouldProcess("managed-identity endpoint $one at $($record.Url)", 'Stop')) { continue }
            # A bridge that has gone took its endpoints with it; only the
            # environment is left to restore.
            if ($null -ne $script:Bridge -and -not $script:Bridge.Process.HasExited) {
                $response = Invoke-AzmiBridge -Op serve.stop -Params @{ id = $one } -TimeoutSec 15
                if (-not $response.ok) {
                    $PSCmdlet.WriteError((New-AzmiErrorRecord -CommandName $command -Fault $response.error -Target $one))
                }
            }
            Restore-AzmiEndpointEnvironment -Id $one
        }
    }
}
