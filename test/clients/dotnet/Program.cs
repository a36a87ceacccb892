// Reference client: asks the real Azure.Identity (NuGet) for one token and
// prints the outcome as one JSON line, so the mocha specs in test/clients can
// check that `azmi serve` works with .NET unchanged.
//
// Usage: dotnet AzmiClient.dll <kind> <resource> [id]
//   kind: mi              ManagedIdentityCredential, system-assigned
//         mi-client-id    ManagedIdentityCredential, user-assigned by client id ([id])
//         mi-object-id    ManagedIdentityCredential, user-assigned by object id ([id])
//         mi-resource-id  ManagedIdentityCredential, user-assigned by ARM resource id ([id])
//         dac             DefaultAzureCredential (honours AZURE_TOKEN_CREDENTIALS etc.)
//         dac-client-id   DefaultAzureCredential with ManagedIdentityClientId = [id]
//   resource: e.g. https://management.azure.com (sent as the scope "<resource>/.default")
// Output: {"token":"…","expiresOn":"…"} and exit 0, or {"error":"…","type":"…","detail":"inner exceptions"} and exit 1.
// Usage errors exit 2.
using System.Text.Json;
using Azure.Core;
using Azure.Identity;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: AzmiClient <mi|mi-client-id|mi-object-id|mi-resource-id|dac|dac-client-id> <resource> [id]");
    return 2;
}

string kind = args[0];
string resource = args[1];
string? id = args.Length > 2 ? args[2] : null;

TokenCredential credential;
try
{
    credential = kind switch
    {
        "mi" => new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned),
        "mi-client-id" => new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(Need(id, kind))),
        "mi-object-id" => new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedObjectId(Need(id, kind))),
        "mi-resource-id" => new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedResourceId(new ResourceIdentifier(Need(id, kind)))),
        "dac" => new DefaultAzureCredential(),
        "dac-client-id" => new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = Need(id, kind) }),
        _ => throw new ArgumentException($"unknown credential kind '{kind}'"),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

// One bound for the whole call: a client that hangs must not hang the test suite.
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
try
{
    AccessToken token = await credential.GetTokenAsync(new TokenRequestContext(new[] { resource + "/.default" }), cts.Token);
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["token"] = token.Token,
        ["expiresOn"] = token.ExpiresOn.ToUnixTimeSeconds().ToString(),
    }));
    return 0;
}
catch (Exception e)
{
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["error"] = e.Message,
        ["type"] = e.GetType().FullName ?? e.GetType().Name,
        ["detail"] = Inner(e),
    }));
    return 1;
}

// Azure.Identity often says only "authentication failed"; MSAL's reason is in the inner exceptions.
static string Inner(Exception e)
{
    var parts = new List<string>();
    for (Exception? x = e.InnerException; x != null; x = x.InnerException)
        parts.Add($"{x.GetType().Name}: {x.Message}");
    return string.Join(" | ", parts);
}

static string Need(string? id, string kind) =>
    string.IsNullOrEmpty(id) ? throw new ArgumentException($"kind '{kind}' needs an id as the third argument") : id;
