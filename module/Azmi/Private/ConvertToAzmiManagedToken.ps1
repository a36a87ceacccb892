function ConvertTo-AzmiManagedToken {
    # The MSI JSON object, as Invoke-RestMethod would return it (same names,
    # same string values), plus a typed ExpiresOn.
    param([Parameter(Mandatory)] $Result, [bool] $AsSecureString)
    $token = [ordered]@{
        access_token = $Result.access_token
        expires_in   = $Result.expires_in
        expires_on   = $Result.expires_on
        not_before   = $Result.not_before
        resource     = $Result.resource
        token_type   = $Result.token_type
    }
    if ($AsSecureString) { $token.access_token = [System.Net.NetworkCredential]::new('', $Result.access_token).SecurePassword }
    if ($Result.client_id) { $token.client_id = $Result.client_id }
    $seconds = 0L
    $token.ExpiresOn = if ([long]::TryParse([string]$Result.expires_on, [ref]$seconds)) { [System.DateTimeOffset]::FromUnixTimeSeconds($seconds) } else { $null }
    $object = [pscustomobject]$token
    $object.PSObject.TypeNames.Insert(0, 'Azmi.ManagedToken')
    $object
}
