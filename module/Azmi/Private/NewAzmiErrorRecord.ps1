# Error codes and names from the core become ErrorRecords with stable ids
# '<Cmdlet><Condition>' (e.g. GetAzManagedTokenUnavailable) and the category
# a PowerShell user filters on.

$script:AzmiConditions = @{
    Unavailable         = @{ Category = 'ResourceUnavailable'; Exception = 'System.InvalidOperationException' }
    AuthenticationFailed = @{ Category = 'AuthenticationError'; Exception = 'System.Security.Authentication.AuthenticationException' }
    InvalidArgument     = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    InvalidResource     = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    InvalidScope        = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    IdentityConflict    = @{ Category = 'InvalidArgument'; Exception = 'System.ArgumentException' }
    Timeout             = @{ Category = 'OperationTimeout'; Exception = 'System.TimeoutException' }
    ConnectionFailed    = @{ Category = 'ConnectionError'; Exception = 'System.Net.Http.HttpRequestException' }
    InvalidResponse     = @{ Category = 'InvalidResult'; Exception = 'System.IO.InvalidDataException' }
    StartFailed         = @{ Category = 'ResourceUnavailable'; Exception = 'System.InvalidOperationException' }
    KeyFileInvalid      = @{ Category = 'InvalidData'; Exception = 'System.IO.InvalidDataException' }
    NodeNotFound        = @{ Category = 'NotInstalled'; Exception = 'System.IO.FileNotFoundException' }
    BridgeNotFound      = @{ Category = 'NotInstalled'; Exception = 'System.IO.FileNotFoundException' }
    BridgeFailed        = @{ Category = 'ProtocolError'; Exception = 'System.InvalidOperationException' }
    BridgeProtocolError = @{ Category = 'ProtocolError'; Exception = 'System.IO.InvalidDataException' }
    NotFound            = @{ Category = 'ObjectNotFound'; Exception = 'System.Management.Automation.ItemNotFoundException' }
    Failed              = @{ Category = 'NotSpecified'; Exception = 'System.InvalidOperationException' }
}

function Get-AzmiErrorCondition {
    # The condition part of an error id, from the core's code and name.
    param([string] $Code, [string] $Name)
    switch -Regex ($Code) {
        '^ERR_INVALID_(ARGUMENT|ENVIRONMENT)$|^ERR_MI_MULTIPLE_SCOPES$|^ERR_MI_UNSUPPORTED_SELECTOR$' { return 'InvalidArgument' }
        '^ERR_AUTHENTICATION_FAILED$' { return 'AuthenticationFailed' }
        '^(ETIMEDOUT|ERR_BUDGET_EXCEEDED)$' { return 'Timeout' }
        '^ERR_(CREDENTIAL_UNAVAILABLE|ALL_CREDENTIALS_UNAVAILABLE)$|^ERR_MI_' { return 'Unavailable' }
        '^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|ECONNRESET|ERR_DNS_LOOKUP|ERR_TLS.*)$' { return 'ConnectionFailed' }
        '^ERR_(INVALID_RESPONSE|HTTP_PARSE|HEADERS_TOO_LARGE|BODY_TOO_LARGE)$' { return 'InvalidResponse' }
        '^ERR_SERVER_START$' { return 'StartFailed' }
        '^ERR_KEY_FILE$' { return 'KeyFileInvalid' }
    }
    switch ($Name) {
        'AuthenticationError' { return 'AuthenticationFailed' }
        { $_ -in 'CredentialUnavailableError', 'AggregateAuthenticationError', 'AuthenticationRequiredError' } { return 'Unavailable' }
    }
    'Failed'
}

function New-AzmiErrorRecord {
    # CommandName: the public cmdlet (its name without '-' starts the id).
    # Fault: an object with code/name/message (and, for bridge faults,
    # condition and recommendedAction), or use -Condition/-Message directly.
    param(
        [Parameter(Mandatory)] [string] $CommandName,
        $Fault,
        [string] $Condition,
        [string] $Message,
        [string] $RecommendedAction,
        $Target
    )
    $code = 'ERR_INVALID_ARGUMENT'
    $name = 'ArgumentError'
    if ($null -ne $Fault) {
        $code = [string]$Fault.code
        $name = [string]$Fault.name
        if (-not $Message) { $Message = [string]$Fault.message }
        if (-not $Condition -and $Fault.condition) { $Condition = $Fault.condition }
        if (-not $RecommendedAction -and $Fault.recommendedAction) { $RecommendedAction = $Fault.recommendedAction }
    }
    if (-not $Condition) { $Condition = Get-AzmiErrorCondition -Code $code -Name $name }
    $kind = $script:AzmiConditions[$Condition]
    if ($null -eq $kind) { $kind = $script:AzmiConditions.Failed }
    # Type names, not literals, in the table: resolving them all at import
    # would cost every session; only an error pays for its own.
    $exceptionType = $kind.Exception -as [type]
    $exception = $exceptionType::new([string]$Message)
    $exception.Data['AzmiCode'] = $code
    $exception.Data['AzmiName'] = $name
    $record = [System.Management.Automation.ErrorRecord]::new($exception, ($CommandName -replace '-', '') + $Condition, $kind.Category, $Target)
    if ($RecommendedAction) {
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($Message)
        $record.ErrorDetails.RecommendedAction = $RecommendedAction
    }
    $record
}
