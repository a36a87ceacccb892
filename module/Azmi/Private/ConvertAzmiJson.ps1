# JSON for the bridge protocol with System.Text.Json, which pwsh has loaded
# already. ConvertTo-Json/ConvertFrom-Json go through Newtonsoft.Json, whose
# first use costs a fresh session 50-150 ms: most of the budget of the first
# Get-AzManagedToken.

function ConvertTo-AzmiJsonObject {
    # A dictionary whose values are $null, bool, numbers, strings, arrays of
    # those, or dictionaries like it, as one line of JSON (requests and
    # environments are never more than that).
    param([System.Collections.IDictionary] $Dictionary, [System.Text.StringBuilder] $Builder)
    $own = $null -eq $Builder
    if ($own) { $Builder = [System.Text.StringBuilder]::new(512) }
    $null = $Builder.Append('{')
    $first = $true
    foreach ($entry in $Dictionary.GetEnumerator()) {
        if (-not $first) { $null = $Builder.Append(',') }
        $first = $false
        $null = $Builder.Append('"').Append([System.Text.Json.JsonEncodedText]::Encode([string]$entry.Key).ToString()).Append('":')
        $value = $entry.Value
        if ($value -is [System.Collections.IDictionary]) {
            $null = ConvertTo-AzmiJsonObject $value $Builder
            continue
        }
        $isList = $value -is [array] -or $value -is [System.Collections.IList]
        if ($isList) { $null = $Builder.Append('[') } else { $value = @(, $value) }
        $firstItem = $true
        foreach ($item in $value) {
            if (-not $firstItem) { $null = $Builder.Append(',') }
            $firstItem = $false
            if ($null -eq $item) { $null = $Builder.Append('null') }
            elseif ($item -is [bool]) { $null = $Builder.Append($(if ($item) { 'true' } else { 'false' })) }
            elseif ($item -is [int] -or $item -is [long] -or $item -is [double]) { $null = $Builder.Append($item.ToString([cultureinfo]::InvariantCulture)) }
            else { $null = $Builder.Append('"').Append([System.Text.Json.JsonEncodedText]::Encode([string]$item).ToString()).Append('"') }
        }
        if ($isList) { $null = $Builder.Append(']') }
    }
    $null = $Builder.Append('}')
    if ($own) { $Builder.ToString() }
}

function ConvertFrom-AzmiJsonElement {
    # A System.Text.Json element as PowerShell values, as ConvertFrom-Json
    # makes them: objects become PSCustomObjects, arrays object[], numbers
    # long or double; strings stay strings (no date guessing).
    param([System.Text.Json.JsonElement] $Element)
    $kind = $Element.ValueKind
    if ($kind -eq [System.Text.Json.JsonValueKind]::Object) {
        $properties = [ordered]@{}
        foreach ($property in $Element.EnumerateObject()) {
            $value = $property.Value
            $valueKind = $value.ValueKind
            $properties[$property.Name] =
                if ($valueKind -eq [System.Text.Json.JsonValueKind]::String) { $value.GetString() }
                elseif ($valueKind -eq [System.Text.Json.JsonValueKind]::True) { $true }
                elseif ($valueKind -eq [System.Text.Json.JsonValueKind]::False) { $false }
                elseif ($valueKind -eq [System.Text.Json.JsonValueKind]::Null) { $null }
                else { ConvertFrom-AzmiJsonElement $value }
        }
        return [pscustomobject]$properties
    }
    if ($kind -eq [System.Text.Json.JsonValueKind]::Array) { return , @(foreach ($item in $Element.EnumerateArray()) { ConvertFrom-AzmiJsonElement $item }) }
    if ($kind -eq [System.Text.Json.JsonValueKind]::String) { return $Element.GetString() }
    if ($kind -eq [System.Text.Json.JsonValueKind]::Number) {
        $whole = 0L
        if ($Element.TryGetInt64([ref]$whole)) { return $whole }
        return $Element.GetDouble()
    }
    if ($kind -eq [System.Text.Json.JsonValueKind]::True) { return $true }
    if ($kind -eq [System.Text.Json.JsonValueKind]::False) { return $false }
    $null
}
