// The Azmi module's first-call hot path, precompiled. In a fresh pwsh session
// every PowerShell operation is compiled and JIT-compiled on first use; the
// same work in C# pays only the JIT of these few small methods (the .NET
// framework they call is ReadyToRun). Each method mirrors, exactly, a script
// function in module/Azmi/Public/Azmi.Functions.ps1, module/Azmi/Private/
// Azmi.Requests.ps1 or Azmi.ScriptBridge.ps1, or Azmi.psm1 (named on it),
// which stays the fallback when this assembly is not built; behaviour must
// stay identical, so change both together.
using System;
using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text;
using System.Text.Json;

namespace Azmi
{
    /// <summary>
    /// Static helpers the Azmi script module calls when this assembly is loaded.
    /// Example (PowerShell): <c>[Azmi.AzmiCore]::ToJson(@{ resource = 'https://vault.azure.net' })</c>
    /// </summary>
    public static class AzmiCore
    {
        /// <summary>
        /// The session's environment (or any dictionary) as one comparable
        /// string: keys NUL-joined, two NULs, values NUL-joined (Get-AzmiEnvironmentKey).
        /// Example: <c>[Azmi.AzmiCore]::EnvironmentKey([Environment]::GetEnvironmentVariables())</c>
        /// </summary>
        public static string EnvironmentKey(IDictionary variables)
        {
            var builder = new StringBuilder(4096);
            bool first = true;
            foreach (object key in variables.Keys)
            {
                if (!first) builder.Append('\0');
                first = false;
                builder.Append(AsString(key));
            }
            builder.Append("\0\0");
            first = true;
            foreach (object value in variables.Values)
            {
                if (!first) builder.Append('\0');
                first = false;
                builder.Append(AsString(value));
            }
            return builder.ToString();
        }

        /// <summary>
        /// The node executable on PATH, or null (Find-AzmiNode).
        /// Example: <c>[Azmi.AzmiCore]::FindNode()</c>
        /// </summary>
        public static string FindNode()
        {
            string name = OperatingSystem.IsWindows() ? "node.exe" : "node";
            string path = Environment.GetEnvironmentVariable("PATH");
            if (path == null) return null;
            foreach (string dir in path.Split(Path.PathSeparator))
            {
                if (dir.Length == 0) continue;
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
            return null;
        }

        /// <summary>
        /// Starts the bridge process and returns the module's bridge state
        /// hashtable (Process, Path, NextId, SentEnv, SentKey, Hello, ReadTask,
        /// ErrorTask), or, when the process cannot be started, the message
        /// PowerShell would have shown for the failed Process.Start call (a string).
        /// Example: <c>[Azmi.AzmiCore]::StartBridge('/usr/bin/node', 'dist/src/bridge/main.js', $true)</c>
        /// </summary>
        public static object StartBridge(string file, string path, bool usesNode)
        {
            var utf8 = new UTF8Encoding(false);
            var psi = new ProcessStartInfo
            {
                FileName = file,
                UseShellExecute = false,
                CreateNoWindow = true,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardInputEncoding = utf8,
                StandardOutputEncoding = utf8,
                StandardErrorEncoding = utf8,
            };
            if (usesNode) psi.ArgumentList.Add(path);
            IDictionary sentEnv = Environment.GetEnvironmentVariables();
            Process process;
            try
            {
                process = Process.Start(psi);
            }
            catch (Exception e)
            {
                // What $_.Exception.Message reads for the same failure in script.
                return "Exception calling \"Start\" with \"1\" argument(s): \"" + e.Message + "\"";
            }
            process.StandardInput.AutoFlush = false;
            StopWithRunspace(process);
            // @{} in PowerShell: case-insensitive keys.
            var bridge = new Hashtable(StringComparer.OrdinalIgnoreCase);
            bridge["Process"] = process;
            bridge["Path"] = path;
            bridge["NextId"] = 1;
            bridge["SentEnv"] = sentEnv;
            bridge["SentKey"] = EnvironmentKey(sentEnv);
            bridge["Hello"] = false;
            bridge["ReadTask"] = null;
            // Drained in the background so a chatty stderr never blocks the bridge.
            bridge["ErrorTask"] = process.StandardError.ReadToEndAsync();
            return bridge;
        }

        /// <summary>
        /// Ends <paramref name="process"/> (a bridge) when the runspace that
        /// started it closes, by closing its stdin, the cue on which the bridge
        /// exits (stopping any local endpoint it runs), as when a whole session
        /// ends. A runspace is a session too (ForEach-Object -Parallel, a
        /// hosted runspace): without this its bridge lived on until a
        /// finalizer happened to close the pipe.
        /// </summary>
        private static void StopWithRunspace(Process process)
        {
            Runspace runspace = Runspace.DefaultRunspace;
            if (runspace == null) return;
            EventHandler<RunspaceStateEventArgs> handler = null;
            handler = (sender, e) =>
            {
                RunspaceState state = e.RunspaceStateInfo.State;
                if (state != RunspaceState.Closing && state != RunspaceState.Closed && state != RunspaceState.Broken) return;
                runspace.StateChanged -= handler;
                try { process.StandardInput.Close(); } catch (Exception) { } // already stopped or restarted
            };
            runspace.StateChanged += handler;
            // A bridge that ends first (stopped, restarted, the module removed) lets go of the runspace.
            process.EnableRaisingEvents = true;
            process.Exited += (sender, e) => runspace.StateChanged -= handler;
            if (process.HasExited) runspace.StateChanged -= handler;
        }

        /// <summary>
        /// The module's state at import, set in one call (Azmi.psm1 does the
        /// same in script without the core): $script:DefaultBridgePath,
        /// Bridge (started now unless $env:AZMI_BRIDGE_PRESTART is '0', see
        /// <see cref="Prestart"/>), BridgeStartSec, BridgeSlackSec, Leases,
        /// Endpoints, TokenDisplay and ChainLinkDisplay. One call instead of
        /// a dozen script statements, each compiled on its first run in a
        /// fresh session.
        /// Example: <c>[Azmi.AzmiCore]::Initialize($ExecutionContext.SessionState, $PSScriptRoot)</c>
        /// </summary>
        public static void Initialize(SessionState module, string scriptRoot)
        {
            PSVariableIntrinsics variables = module.PSVariable;
            string defaultPath = Path.GetFullPath(Path.Combine(scriptRoot, "..", "..", "dist", "src", "bridge", "main.js"));
            variables.Set("script:DefaultBridgePath", defaultPath);
            variables.Set("script:BridgeStartSec", 10);
            variables.Set("script:BridgeSlackSec", 2);
            variables.Set("script:Leases", new Hashtable(StringComparer.Ordinal));
            // @{} in PowerShell: case-insensitive keys.
            variables.Set("script:Endpoints", new Hashtable(StringComparer.OrdinalIgnoreCase));
            variables.Set("script:TokenDisplay", DisplaySet(new[] { "resource", "token_type", "ExpiresOn", "client_id" }));
            variables.Set("script:ChainLinkDisplay", DisplaySet(new[] { "Link", "Outcome", "Milliseconds", "Reason" }));
            bool prestart = Environment.GetEnvironmentVariable("AZMI_BRIDGE_PRESTART") != "0";
            variables.Set("script:Bridge", prestart ? Prestart(defaultPath) : null);
        }

        /// <summary>
        /// The module's start-up prestart (Azmi.psm1: Get-AzmiBridgeLaunch, then
        /// Start-AzmiBridge): starts the bridge named by $env:AZMI_BRIDGE, else
        /// <paramref name="defaultPath"/>, under $env:AZMI_NODE or the node on
        /// PATH for a .js/.cjs/.mjs entry. Returns the bridge state hashtable,
        /// or null when anything is missing or fails (the first call reports it).
        /// Example: <c>$script:Bridge = [Azmi.AzmiCore]::Prestart($script:DefaultBridgePath)</c>
        /// </summary>
        public static Hashtable Prestart(string defaultPath)
        {
            string path = Environment.GetEnvironmentVariable("AZMI_BRIDGE");
            if (string.IsNullOrEmpty(path)) path = defaultPath;
            bool usesNode = path.EndsWith(".js", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".cjs", StringComparison.OrdinalIgnoreCase)
                || path.EndsWith(".mjs", StringComparison.OrdinalIgnoreCase);
            if (!File.Exists(path)) return null;
            string file = path;
            if (usesNode)
            {
                file = Environment.GetEnvironmentVariable("AZMI_NODE");
                if (string.IsNullOrEmpty(file)) file = FindNode();
                if (string.IsNullOrEmpty(file) || !File.Exists(file)) return null;
            }
            var bridge = StartBridge(file, path, usesNode) as Hashtable;
            // Once per process: what it warms (JIT-compiled code) stays warm.
            if (bridge != null && Environment.ProcessorCount > 1 && System.Threading.Interlocked.Exchange(ref warmUpStarted, 1) == 0)
            {
                new System.Threading.Thread(WarmUp) { IsBackground = true, Name = "azmi warm-up" }.Start();
            }
            return bridge;
        }

        /// <summary>
        /// Runs the first call's pure steps once, on a background thread while
        /// the session is still importing the module (and Node is booting), so
        /// their one-time costs land beside the import instead of in the first
        /// Get-AzManagedToken: System.Text.Json's first parse (~15 ms in a
        /// fresh session here), PowerShell's first conversions and PSObjects
        /// (~10 ms), the request's JSON (A/B: first call 117 -> 93 ms). Touches
        /// no state of the session. (Binding an advanced function in a private
        /// runspace as well warmed the engine's JIT further, import + first call
        /// -40 ms, but opening any runspace rewrites the process's
        /// PSModulePath, a change the user's session would see: not done.)
        /// Skipped on one CPU, where it would only compete. A failure only
        /// means the first call pays those costs itself (<see cref="WarmUpOutcome"/> says).
        /// Started by <see cref="Prestart"/> once the bridge process is up.
        /// </summary>
        private static void WarmUp()
        {
            System.Threading.Interlocked.Increment(ref warmUpRuns);
            var clock = Stopwatch.StartNew();
            string outcome = "done";
            try
            {
                var parameters = TokenRequest(new Hashtable(), new Uri("https://warm-up.invalid"), null, 30);
                EnvironmentKey(parameters);
                ToJson(parameters);
                var message = FromJsonLine(WarmUpLine) as PSObject;
                NewManagedToken(message?.Properties["result"]?.Value as PSObject, false, null);
            }
            catch (Exception e)
            {
                outcome = "failed: " + e.Message;
            }
            // One write, so a reader never sees half of it.
            WarmUpOutcome = outcome + " in " + clock.Elapsed.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture) + " ms";
        }

        /// <summary>
        /// How the import's warm-up ended ("done in 3.2 ms", "failed: … in …
        /// ms"), or null while it runs or when it did not run.
        /// Example: <c>[Azmi.AzmiCore]::WarmUpOutcome</c>
        /// </summary>
        public static string WarmUpOutcome { get; private set; }

        /// <summary>How many warm-ups this process ran (at most one). Example: <c>[Azmi.AzmiCore]::WarmUpRuns</c></summary>
        public static int WarmUpRuns => warmUpRuns;

        private static int warmUpStarted;
        private static int warmUpRuns;

        /// <summary>A token answer as the bridge writes it (fake values), for <see cref="WarmUp"/>.</summary>
        private const string WarmUpLine = "{\"id\":1,\"ok\":true,\"result\":{\"access_token\":\"warm-up\",\"expires_in\":\"3599\","
            + "\"expires_on\":\"1700000000\",\"not_before\":\"1699996400\",\"resource\":\"https://warm-up.invalid\",\"token_type\":\"Bearer\","
            + "\"client_id\":\"00000000-0000-0000-0000-000000000000\"},\"leaseMs\":5000}";

        /// <summary>
        /// The PSStandardMembers member set that makes the default display of
        /// an object show only <paramref name="properties"/> (New-AzmiDisplaySet).
        /// Example: <c>[Azmi.AzmiCore]::DisplaySet([string[]]('resource', 'ExpiresOn'))</c>
        /// </summary>
        public static PSMemberSet DisplaySet(string[] properties)
        {
            var set = new PSPropertySet("DefaultDisplayPropertySet", properties);
            return new PSMemberSet("PSStandardMembers", new PSMemberInfo[] { set });
        }

        /// <summary>
        /// Wire params for 'token' from Get-AzManagedToken's bound parameters
        /// (New-AzmiTokenRequest's good path): an ordered dictionary, or null
        /// when the input is unusable, so the script builds the ErrorRecord
        /// that names the parameter and the fix.
        /// Example: <c>[Azmi.AzmiCore]::TokenRequest($PSBoundParameters, $Resource, $Scope, $TimeoutSec)</c>
        /// </summary>
        public static System.Collections.Specialized.OrderedDictionary TokenRequest(IDictionary bound, object resource, string scope, int timeoutSec)
        {
            // [ordered]@{} in PowerShell: case-insensitive keys.
            var result = new System.Collections.Specialized.OrderedDictionary(StringComparer.OrdinalIgnoreCase);
            resource = Unwrap(resource);
            if (resource != null)
            {
                // Sent as the user wrote it: -Resource is a [uri], which keeps
                // that in OriginalString (ToString() would add a '/'). A string
                // (the tests, New-AzmiTokenRequest's twin) is taken as it is.
                string text = resource is Uri uri ? uri.OriginalString : AsString(resource);
                if (!IsValidResource(text)) return null;
                result["resource"] = text;
            }
            else if (!string.IsNullOrEmpty(scope))
            {
                // The resource's rule (a space would make it a list of scopes),
                // with room for the /.default a resource's scope adds.
                int max = scope.EndsWith("/.default", StringComparison.Ordinal) ? MaxResourceLength + 9 : MaxResourceLength;
                if (scope.Length > max || scope == "/.default") return null;
                foreach (char c in scope)
                {
                    if (c < '!' || c > '~') return null;
                }
                result["scope"] = scope;
            }
            object clientId = bound["ClientId"], objectId = bound["ObjectId"], resourceId = bound["ResourceId"];
            bool hasClient = LanguagePrimitives.IsTrue(clientId), hasObject = LanguagePrimitives.IsTrue(objectId), hasResourceId = LanguagePrimitives.IsTrue(resourceId);
            if ((hasClient && (hasObject || hasResourceId)) || (hasObject && hasResourceId)) return null;
            if (hasClient) result["clientId"] = AsString(clientId);
            if (hasObject) result["objectId"] = AsString(objectId);
            if (hasResourceId) result["resourceId"] = AsString(resourceId);
            if (LanguagePrimitives.IsTrue(bound["TenantId"])) result["tenantId"] = AsString(bound["TenantId"]);
            if (LanguagePrimitives.IsTrue(bound["Source"])) result["only"] = AsString(bound["Source"]);
            if (LanguagePrimitives.IsTrue(bound["Exclude"])) result["exclude"] = LanguagePrimitives.ConvertTo<string[]>(bound["Exclude"]);
            if (timeoutSec != 0) result["timeoutMs"] = 1000L * timeoutSec;
            if (LanguagePrimitives.IsTrue(bound["Force"])) result["forceRefresh"] = true;
            return result;
        }

        /// <summary>
        /// The longest resource azmi takes (MAX_RESOURCE_LENGTH in src/serve/context.ts).
        /// </summary>
        public const int MaxResourceLength = 2048;

        /// <summary>
        /// Whether <paramref name="resource"/> is one azmi takes, as the rest of
        /// azmi does (azmi serve's validResource, azmi token --resource): 1 to
        /// <see cref="MaxResourceLength"/> visible ASCII characters, no
        /// whitespace or control characters. http(s) URIs, api://my-api and an
        /// application id GUID all are (New-AzmiTokenRequest's check).
        /// Example: <c>[Azmi.AzmiCore]::IsValidResource('api://my-api')</c>
        /// </summary>
        public static bool IsValidResource(string resource)
        {
            if (string.IsNullOrEmpty(resource) || resource.Length > MaxResourceLength) return false;
            foreach (char c in resource)
            {
                if (c < '!' || c > '~') return false;
            }
            return true;
        }

        /// <summary>
        /// A dictionary of null, bool, numbers, strings, lists of those and
        /// nested dictionaries as one line of JSON (the script path's $script:WriteJsonObject).
        /// Example: <c>[Azmi.AzmiCore]::ToJson([ordered]@{ resource = 'https://vault.azure.net'; timeoutMs = 30000L })</c>
        /// </summary>
        public static string ToJson(IDictionary dictionary)
        {
            var builder = new StringBuilder(512);
            AppendObject(builder, dictionary);
            return builder.ToString();
        }

        private static void AppendObject(StringBuilder builder, IDictionary dictionary)
        {
            builder.Append('{');
            bool first = true;
            foreach (DictionaryEntry entry in dictionary)
            {
                if (!first) builder.Append(',');
                first = false;
                AppendString(builder, AsString(entry.Key));
                builder.Append(':');
                object value = Unwrap(entry.Value);
                if (value is IDictionary nested)
                {
                    AppendObject(builder, nested);
                    continue;
                }
                if (value is IList list)
                {
                    builder.Append('[');
                    bool firstItem = true;
                    foreach (object item in list)
                    {
                        if (!firstItem) builder.Append(',');
                        firstItem = false;
                        AppendScalar(builder, Unwrap(item));
                    }
                    builder.Append(']');
                }
                else
                {
                    AppendScalar(builder, value);
                }
            }
            builder.Append('}');
        }

        private static void AppendScalar(StringBuilder builder, object item)
        {
            if (item == null) builder.Append("null");
            else if (item is bool b) builder.Append(b ? "true" : "false");
            else if (item is int i) builder.Append(i.ToString(CultureInfo.InvariantCulture));
            else if (item is long l) builder.Append(l.ToString(CultureInfo.InvariantCulture));
            else if (item is double d) builder.Append(d.ToString(CultureInfo.InvariantCulture));
            else AppendString(builder, AsString(item));
        }

        private static void AppendString(StringBuilder builder, string text)
        {
            builder.Append('"');
            if (NeedsEscape(text)) AppendEscaped(builder, text);
            else builder.Append(text);
            builder.Append('"');
        }

        // Quotes, backslashes, control characters and surrogates: the rest is valid JSON as it is.
        private static bool NeedsEscape(string text)
        {
            foreach (char c in text)
            {
                if (c < 0x20 || c == '"' || c == '\\' || char.IsSurrogate(c)) return true;
            }
            return false;
        }

        // JsonEncodedText's escapes (the script path's too), except for half a
        // surrogate pair, on which it throws: that surfaced as a bare .NET
        // method-call error for a -ClientId typed with one. Escaped by hand
        // as \uXXXX (as the script path's EncodeJsonText does), it reaches the
        // bridge, whose checks name the parameter and what is wrong with it.
        private static void AppendEscaped(StringBuilder builder, string text)
        {
            try
            {
                builder.Append(JsonEncodedText.Encode(text).ToString());
                return;
            }
            catch (ArgumentException)
            {
            }
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c == '"') builder.Append("\\\"");
                else if (c == '\\') builder.Append("\\\\");
                else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    builder.Append(c).Append(text[i + 1]);
                    i++;
                }
                else if (c < 0x20 || char.IsSurrogate(c)) builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                else builder.Append(c);
            }
        }

        /// <summary>
        /// One protocol line as PowerShell values, as ConvertFrom-Json makes
        /// them (PSCustomObject, object[], long or double, string, bool), or
        /// null when the line is not a JSON object (the script path's $script:ReadBridgeLine).
        /// Example: <c>[Azmi.AzmiCore]::FromJsonLine('{"id":1,"ok":true}')</c>
        /// </summary>
        public static object FromJsonLine(string text)
        {
            if (text == null) return null;
            text = text.Trim();
            if (!(text.StartsWith('{') && text.EndsWith('}'))) return null;
            try
            {
                using JsonDocument document = JsonDocument.Parse(text);
                return Convert(document.RootElement);
            }
            catch (Exception)
            {
                return null;
            }
        }

        private static object Convert(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    var result = new PSObject();
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        object value = Convert(property.Value);
                        // A repeated name keeps the last value, as an ordered dictionary would.
                        PSPropertyInfo existing = result.Properties[property.Name];
                        if (existing != null) existing.Value = value;
                        else result.Properties.Add(new PSNoteProperty(property.Name, value));
                    }
                    return result;
                case JsonValueKind.String:
                    return element.GetString();
                case JsonValueKind.Number:
                    string raw = element.GetRawText();
                    if (raw.Length <= 18 && raw.IndexOfAny(NotWhole) < 0) return long.Parse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                    return element.GetDouble();
                case JsonValueKind.True:
                    return true;
                case JsonValueKind.False:
                    return false;
                case JsonValueKind.Array:
                    var items = new ArrayList();
                    foreach (JsonElement item in element.EnumerateArray()) items.Add(Convert(item));
                    return items.ToArray();
                default:
                    return null;
            }
        }

        private static readonly char[] NotWhole = { '.', 'e', 'E' };

        /// <summary>
        /// The Azmi.ManagedToken object Get-AzManagedToken returns, from the
        /// bridge's token result: access_token (or a SecureString),
        /// refresh_token (always ''), expires_in,
        /// expires_on, not_before, resource, token_type, client_id when known,
        /// ExpiresOn; with the module's default display set.
        /// Example: <c>[Azmi.AzmiCore]::NewManagedToken($response.result, $false, $script:TokenDisplay)</c>
        /// </summary>
        public static PSObject NewManagedToken(PSObject result, bool asSecureString, PSMemberInfo display)
        {
            var token = new PSObject();
            object accessToken = Get(result, "access_token");
            if (asSecureString) accessToken = new System.Net.NetworkCredential(string.Empty, AsString(accessToken)).SecurePassword;
            token.Properties.Add(new PSNoteProperty("access_token", accessToken));
            // Always '': managed identity issues no refresh tokens, and Cloud Shell and IMDS send the
            // property empty, so scripts that read it keep working (the bridge's result has none).
            token.Properties.Add(new PSNoteProperty("refresh_token", string.Empty));
            token.Properties.Add(new PSNoteProperty("expires_in", Get(result, "expires_in")));
            object expiresOn = Get(result, "expires_on");
            token.Properties.Add(new PSNoteProperty("expires_on", expiresOn));
            token.Properties.Add(new PSNoteProperty("not_before", Get(result, "not_before")));
            token.Properties.Add(new PSNoteProperty("resource", Get(result, "resource")));
            token.Properties.Add(new PSNoteProperty("token_type", Get(result, "token_type")));
            object clientId = Get(result, "client_id");
            if (LanguagePrimitives.IsTrue(clientId)) token.Properties.Add(new PSNoteProperty("client_id", clientId));
            object when = null;
            if (expiresOn != null && LanguagePrimitives.TryConvertTo(expiresOn, CultureInfo.InvariantCulture, out long seconds))
            {
                when = DateTimeOffset.FromUnixTimeSeconds(seconds);
            }
            token.Properties.Add(new PSNoteProperty("ExpiresOn", when));
            token.TypeNames.Insert(0, "Azmi.ManagedToken");
            if (display != null) token.Members.Add(LanguagePrimitives.IsTrue(clientId) ? display : WithoutClientId(display));
            return token;
        }

        // The display set for a token without client_id (Cloud Shell's): Format-List
        // must not show a client_id row the object does not have. Made once per set.
        private static Tuple<PSMemberInfo, PSMemberInfo> withoutClientId;

        private static PSMemberInfo WithoutClientId(PSMemberInfo display)
        {
            Tuple<PSMemberInfo, PSMemberInfo> known = withoutClientId;
            if (known != null && ReferenceEquals(known.Item1, display)) return known.Item2;
            PSMemberInfo result = display;
            if (display is PSMemberSet set && set.Members["DefaultDisplayPropertySet"] is PSPropertySet properties)
            {
                var names = new System.Collections.Generic.List<string>();
                foreach (string name in properties.ReferencedPropertyNames)
                {
                    if (name != "client_id") names.Add(name);
                }
                result = DisplaySet(names.ToArray());
            }
            withoutClientId = Tuple.Create(display, result);
            return result;
        }

        /// <summary>
        /// Get-AzManagedToken's whole good path in one call, so a fresh
        /// session compiles one script operation instead of the dozens the
        /// same steps cost in script (measured: the first call after import
        /// went from ~210 to ~100 ms). Steps, as the script does them: the
        /// wire params (TokenRequest), the lease or the running bridge
        /// (Request), the token object (NewManagedToken), written with
        /// <paramref name="cmdlet"/>.WriteObject. Returns null when the call
        /// is done (a token written, or Ctrl+C stopped the wait). Anything
        /// else is left to the script, which it tells where to go on:
        /// <list type="bullet">
        /// <item>an empty Hashtable: the input is unusable (the script builds the ErrorRecord);</item>
        /// <item>@{ Params }: nothing was sent (-Verbose or -Debug, no running
        /// bridge, or another $env:AZMI_BRIDGE): the script sends them;</item>
        /// <item>@{ Params; Response }: the bridge answered with an error;</item>
        /// <item>@{ Params; Outcome }: the exchange failed as Request's string says
        /// (the script's Invoke-AzmiBridgeCore -FirstOutcome turns it into a fault or a retry).</item>
        /// </list>
        /// The module's state ($script:Bridge, Leases, TokenDisplay,
        /// DefaultBridgePath, BridgeSlackSec, BridgeStartSec) is read from
        /// the session state of the module the calling function belongs to.
        /// <paramref name="resource"/> is -Resource as bound (a [uri]; its
        /// OriginalString is what is checked and sent, see <see cref="TokenRequest"/>).
        /// Example: <c>$rest = [Azmi.AzmiCore]::GetToken($PSCmdlet, $PSBoundParameters, $Resource, $Scope, $TimeoutSec, $AsSecureString.IsPresent)</c>
        /// </summary>
        public static Hashtable GetToken(PSCmdlet cmdlet, IDictionary bound, object resource, string scope, int timeoutSec, bool asSecureString)
        {
            var rest = new Hashtable(StringComparer.OrdinalIgnoreCase);
            PSVariableIntrinsics module = cmdlet.MyInvocation.MyCommand.Module?.SessionState?.PSVariable;
            var parameters = TokenRequest(module == null ? bound : ThisItem(bound, module), resource, scope, timeoutSec);
            if (parameters == null) return rest;
            rest["Params"] = parameters;
            if (module == null || WantsVerbose(module)) return rest;
            // Invoke-AzmiBridgeCore's check before Open-AzmiBridge (-eq: case-insensitive).
            string launchPath = Environment.GetEnvironmentVariable("AZMI_BRIDGE");
            if (string.IsNullOrEmpty(launchPath)) launchPath = Unwrap(module.GetValue("script:DefaultBridgePath")) as string;
            var bridge = Unwrap(module.GetValue("script:Bridge")) as Hashtable;
            var leases = Unwrap(module.GetValue("script:Leases")) as Hashtable;
            if (bridge == null || leases == null || !(bridge["Process"] is Process process) || process.HasExited
                || !string.Equals(bridge["Path"] as string, launchPath, StringComparison.OrdinalIgnoreCase))
            {
                return rest;
            }
            int waitSec = timeoutSec + LanguagePrimitives.ConvertTo<int>(Unwrap(module.GetValue("script:BridgeSlackSec")));
            int startSec = LanguagePrimitives.ConvertTo<int>(Unwrap(module.GetValue("script:BridgeStartSec")));
            object outcome = Request(bridge, leases, "token", parameters, waitSec, startSec, false, cmdlet);
            if (outcome == null) return null;
            if (outcome is string) rest["Outcome"] = outcome;
            else if (outcome is PSObject response && LanguagePrimitives.IsTrue(response.Properties["ok"]?.Value))
            {
                var result = response.Properties["result"]?.Value as PSObject;
                cmdlet.WriteObject(NewManagedToken(result, asSecureString, Unwrap(module.GetValue("script:TokenDisplay")) as PSMemberInfo));
                return null;
            }
            else rest["Response"] = outcome;
            return rest;
        }

        /// <summary>
        /// The bound parameters as they are for this pipeline item.
        /// $PSBoundParameters keeps a parameter bound from an earlier item's
        /// property (PowerShell never removes it), while the parameter's
        /// variable holds this item's value; so ClientId and ObjectId, the
        /// identity selectors taken by property name, are read from their
        /// variables (Invoke-AzmiTokenCall does the same in script).
        /// </summary>
        private static IDictionary ThisItem(IDictionary bound, PSVariableIntrinsics scope)
        {
            if (!bound.Contains("ClientId") && !bound.Contains("ObjectId")) return bound;
            var current = new Hashtable(bound, StringComparer.OrdinalIgnoreCase);
            foreach (string name in new[] { "ClientId", "ObjectId" })
            {
                object value = scope.GetValue(name);
                if (LanguagePrimitives.IsTrue(value)) current[name] = value;
                else current.Remove(name);
            }
            return current;
        }

        /// <summary>
        /// What the script's $wantVerbose says: verbose or debug output is on
        /// for this call. Read through the module's session state, whose
        /// current scope is the calling function's (where -Verbose sets
        /// $VerbosePreference); PSCmdlet.GetVariableValue reads the caller's.
        /// </summary>
        private static bool WantsVerbose(PSVariableIntrinsics module)
        {
            foreach (string name in new[] { "VerbosePreference", "DebugPreference" })
            {
                object value = Unwrap(module.GetValue(name));
                if (value == null) return true; // as in script: $null -ne 'SilentlyContinue'
                if (!(value is ActionPreference preference) && !LanguagePrimitives.TryConvertTo(value, out preference)) return true;
                if (preference != ActionPreference.SilentlyContinue) return true;
            }
            return false;
        }

        // The bridge's first line starts with exactly this (server.ts writes
        // the hello object in this key order); anything else is checked the slow way.
        private const string HelloPrefix = "{\"id\":0,\"ok\":true,\"result\":{\"hello\":\"azmi-bridge\",";

        /// <summary>
        /// One request to a running bridge and its answer, as Invoke-AzmiBridge
        /// does it from the lease check to the answer with the same id (the
        /// script keeps starting the bridge and building faults). Returns the
        /// response object, or a string saying what went wrong for the script
        /// to turn into its fault: "W" + why the write failed (nothing was
        /// sent), "T" (no answer within the limit), "E" (the bridge ended),
        /// "P" + the length of the line that is not the protocol (never its
        /// text: it may hold a token, and the script binds this string to a
        /// parameter, which module logging writes out); or null when
        /// <paramref name="cmdlet"/> is stopping (Ctrl+C; an unfinished read is
        /// left in the bridge state for the next call to pick up).
        /// Example: <c>[Azmi.AzmiCore]::Request($script:Bridge, $script:Leases, 'token', $params, 32, 10, $false, $PSCmdlet)</c>
        /// </summary>
        public static object Request(Hashtable bridge, Hashtable leases, string op, IDictionary parameters, int waitSec, int startSec, bool wantVerbose, Cmdlet cmdlet)
        {
            // A token answer may be reused for an identical request while the
            // environment is unchanged, for as long as the bridge said.
            string leaseKey = null;
            if (op == "token" && !wantVerbose && parameters != null && !LanguagePrimitives.IsTrue(parameters["forceRefresh"])
                && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("AZMI_NO_LEASE")))
            {
                leaseKey = EnvironmentKey(parameters);
            }
            IDictionary vars = Environment.GetEnvironmentVariables();
            string envKey = EnvironmentKey(vars);
            bool envChanged = !string.Equals(envKey, bridge["SentKey"] as string, StringComparison.Ordinal);
            if (envChanged)
            {
                leases.Clear();
            }
            else if (leaseKey != null && leases[leaseKey] is Hashtable lease
                     && LanguagePrimitives.ConvertTo<long>(lease["Until"]) > Environment.TickCount64)
            {
                // expires_in is "seconds left at return time", as the core computes it.
                var cached = (PSObject)lease["Response"];
                if (cached.Properties["result"]?.Value is PSObject result)
                {
                    long expiresOn = LanguagePrimitives.ConvertTo<long>(result.Properties["expires_on"]?.Value);
                    string left = (expiresOn - DateTimeOffset.UtcNow.ToUnixTimeSeconds()).ToString(CultureInfo.InvariantCulture);
                    PSPropertyInfo expiresIn = result.Properties["expires_in"];
                    if (expiresIn != null) expiresIn.Value = left;
                    else result.Properties.Add(new PSNoteProperty("expires_in", left));
                }
                return cached;
            }

            int id = LanguagePrimitives.ConvertTo<int>(bridge["NextId"]);
            bridge["NextId"] = id + 1;
            var line = new StringBuilder(256);
            line.Append("{\"id\":").Append(id.ToString(CultureInfo.InvariantCulture)).Append(",\"op\":\"").Append(op).Append('"');
            if (parameters != null) line.Append(",\"params\":").Append(ToJson(parameters));
            if (envChanged) line.Append(",\"env\":").Append(ToJson(vars));
            if (wantVerbose) line.Append(",\"verbose\":true");
            line.Append("}\n");
            var process = (Process)bridge["Process"];
            string step = "Write";
            try
            {
                process.StandardInput.Write(line.ToString());
                step = "Flush";
                process.StandardInput.Flush();
            }
            catch (Exception e)
            {
                // What $_.Exception.Message reads for the same failure in script.
                return "WException calling \"" + step + "\" with \"" + (step == "Write" ? "1" : "0") + "\" argument(s): \"" + e.Message + "\"";
            }
            if (envChanged)
            {
                bridge["SentEnv"] = vars;
                bridge["SentKey"] = envKey;
            }

            var clock = Stopwatch.StartNew();
            // A new bridge first gets startSec to say hello; the call's own
            // budget starts once it is up.
            long limitMs = LanguagePrimitives.IsTrue(bridge["Hello"]) ? waitSec * 1000L : startSec * 1000L;
            while (true)
            {
                var task = bridge["ReadTask"] as System.Threading.Tasks.Task<string>;
                if (task == null)
                {
                    task = process.StandardOutput.ReadLineAsync();
                    bridge["ReadTask"] = task;
                }
                string text;
                try
                {
                    // Short waits keep Ctrl+C working.
                    while (!task.Wait(100))
                    {
                        if (cmdlet != null && cmdlet.Stopping) return null;
                        if (clock.ElapsedMilliseconds >= limitMs) return "T";
                    }
                    text = task.Result;
                }
                catch (Exception)
                {
                    text = null;
                }
                bridge["ReadTask"] = null;
                if (text == null) return "E";
                if (!LanguagePrimitives.IsTrue(bridge["Hello"]))
                {
                    // The first line must be the bridge's hello.
                    if (!text.StartsWith(HelloPrefix, StringComparison.Ordinal))
                    {
                        var hello = FromJsonLine(text) as PSObject;
                        bool isHello = hello != null && hello.Properties["id"]?.Value is long helloId && helloId == 0
                            && LanguagePrimitives.IsTrue(hello.Properties["ok"]?.Value)
                            && hello.Properties["result"]?.Value is PSObject helloResult
                            && string.Equals(helloResult.Properties["hello"]?.Value as string, "azmi-bridge", StringComparison.OrdinalIgnoreCase);
                        if (!isHello) return "P" + text.Length.ToString(CultureInfo.InvariantCulture);
                    }
                    bridge["Hello"] = true;
                    limitMs = clock.ElapsedMilliseconds + waitSec * 1000L;
                    continue;
                }
                var message = FromJsonLine(text) as PSObject;
                if (message == null || !(message.Properties["id"]?.Value is long messageId)) return "P" + text.Length.ToString(CultureInfo.InvariantCulture);
                // A stale answer to an interrupted call is skipped by its id.
                if (messageId != id) continue;
                if (leaseKey != null && LanguagePrimitives.IsTrue(message.Properties["ok"]?.Value))
                {
                    object leaseMs = message.Properties["leaseMs"]?.Value;
                    if (leaseMs is long || leaseMs is double)
                    {
                        double ms = System.Convert.ToDouble(leaseMs, CultureInfo.InvariantCulture);
                        if (ms > 0)
                        {
                            if (leases.Count >= 256) leases.Clear();
                            var entry = new Hashtable(StringComparer.OrdinalIgnoreCase);
                            entry["Response"] = message;
                            entry["Until"] = Environment.TickCount64 + (long)ms;
                            leases[leaseKey] = entry;
                        }
                    }
                }
                return message;
            }
        }

        private static object Get(PSObject source, string name)
        {
            if (source == null) return null;
            PSPropertyInfo property = source.Properties[name];
            return property?.Value;
        }

        private static object Unwrap(object value) => value is PSObject wrapped && !(wrapped.BaseObject is PSCustomObject) ? wrapped.BaseObject : value;

        private static string AsString(object value)
        {
            if (value == null) return string.Empty;
            if (value is string s) return s;
            return LanguagePrimitives.ConvertTo<string>(value);
        }
    }
}
