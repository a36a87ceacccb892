function Get-AzmiEnvironmentDelta {
    # The session's environment when it differs from what the bridge has,
    # else $null. The bridge runs as a separate process, so a script that sets
    # $env:MSI_ENDPOINT (or Start-AzManagedIdentityEndpoint -SetEnvironment)
    # after the bridge started must still be seen by the next call.
    param([Parameter(Mandatory)] $Bridge)
    $now = [System.Environment]::GetEnvironmentVariables()
    $sent = $Bridge.SentEnv
    if ($now.Count -eq $sent.Count) {
        $same = $true
        foreach ($entry in $now.GetEnumerator()) {
            if ($sent[$entry.Key] -cne $entry.Value) { $same = $false; break }
        }
        if ($same) { return $null }
    }
    $now
}
