/**
 * Scope ↔ resource mapping, the rule every Azure SDK uses (spec §10 items
 * 1–3): only a trailing `/.default` is stripped, so
 * `https://management.azure.com/.default` ↔ `https://management.azure.com`
 * and `https://management.azure.com//.default` ↔ `https://management.azure.com/`.
 *
 * @example
 * ```ts
 * scopeToResource("https://vault.azure.net/.default"); // "https://vault.azure.net"
 * resourceToScope("https://vault.azure.net");          // "https://vault.azure.net/.default"
 * ```
 */
const DEFAULT_SUFFIX = "/.default";

/** The resource a single scope names (suffix `/.default` removed, nothing else). */
export function scopeToResource(scope: string): string {
  return scope.endsWith(DEFAULT_SUFFIX) ? scope.slice(0, -DEFAULT_SUFFIX.length) : scope;
}

/** The `.default` scope of a resource; exact inverse of {@link scopeToResource} for `.default` scopes. */
export function resourceToScope(resource: string): string {
  return resource + DEFAULT_SUFFIX;
}

/** Scopes as one array (accepts the `string | string[]` every `getToken` takes). */
export function scopeList(scopes: string | string[]): string[] {
  return typeof scopes === "string" ? [scopes] : scopes;
}

/**
 * The token cache key of a request: its scopes, tenant and CAE choice (CAE
 * tokens apart, as @azure/identity's two MSAL caches keep them; SDK clients
 * always ask with `enableCae`). One scope in an array (what SDK clients
 * pass) keys like the string, without allocating.
 *
 * @example
 * ```ts
 * tokenCacheKey(["https://vault.azure.net/.default"], { enableCae: true }); // "https://vault.azure.net/.default|cae"
 * ```
 */
export function tokenCacheKey(scopes: string | string[], options: { tenantId?: string; enableCae?: boolean }): string {
  const scopeKey = typeof scopes === "string" ? scopes : scopes.length === 1 ? scopes[0]! : scopes.join(" ");
  const tenantKey = options.tenantId ? `${scopeKey}|${options.tenantId}` : scopeKey;
  return options.enableCae ? `${tenantKey}|cae` : tenantKey;
}

/** The rule `resourceProblem` checks, as error messages state it. */
export const RESOURCE_RULE =
  "A resource (audience) is 1 to 2048 visible ASCII characters without spaces, e.g. https://vault.azure.net, api://my-api or an application id";

/**
 * The same rule for one scope (`resourceProblem` checks both): a scope is
 * a resource plus a suffix such as `/.default`, and a space would make it
 * a list of scopes, which managed identity cannot take.
 */
export const SCOPE_RULE =
  "A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default";

/**
 * What is wrong with `scope` as one scope: the resource's rule, with room
 * for the `/.default` a resource's scope adds (a 2048-character resource
 * has a 2057-character scope).
 *
 * @example
 * ```ts
 * scopeProblem("https://vault.azure.net/.default"); // undefined
 * scopeProblem("a/.default b/.default"); // { why: "contains a space at position 11", shown: … }
 * ```
 */
export function scopeProblem(scope: string): { why: string; shown: string } | undefined {
  if (scope === DEFAULT_SUFFIX) return { why: "names no resource before /.default", shown: scope };
  return resourceProblem(scope, MAX_RESOURCE_LENGTH + (scope.endsWith(DEFAULT_SUFFIX) ? DEFAULT_SUFFIX.length : 0));
}

/** Longest resource accepted (as `azmi serve` and the PowerShell module accept). */
export const MAX_RESOURCE_LENGTH = 2048;

/**
 * What is wrong with `resource` as an audience (1–2048 visible ASCII
 * characters, the rule of the CLI, the PowerShell module and `azmi serve`),
 * with the value as it can be shown, or `undefined` when it is fine.
 * Without this check, `a b` walked the whole chain and ended in "no
 * credential could get a token".
 *
 * @example
 * ```ts
 * resourceProblem("https://vault.azure.net"); // undefined
 * resourceProblem("a b"); // { why: "contains a space at position 2", shown: "a b" }
 * ```
 */
export function resourceProblem(resource: string, maxLength = MAX_RESOURCE_LENGTH): { why: string; shown: string } | undefined {
  const at = firstNotVisibleAscii(resource);
  if (at === -1 && resource.length > 0 && resource.length <= maxLength) return undefined;
  let why: string;
  if (resource.length === 0) why = "is empty";
  else if (at === -1) why = `is ${resource.length} characters long (at most ${maxLength})`;
  else {
    const c = resource.codePointAt(at)!;
    const ch = String.fromCodePoint(c);
    const u = `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
    const name =
      c === 0x20 ? "a space" : /\s/u.test(ch) ? `whitespace (${u})` : c < 0x20 || (c >= 0x7f && c < 0xa0) ? `a control character (${u})` : `'${ch}' (${u}, not ASCII)`;
    why = `contains ${name} at position ${at + 1}`;
  }
  let shown = escapeControlCharacters(resource);
  if (shown.length > 100) shown = `${shown.slice(0, 60)}...`;
  return { why, shown };
}

/**
 * Index of the first character of `text` outside visible ASCII (`!`–`~`),
 * or -1: `text.search(/[^!-~]/)` as a loop (a fresh process compiles a
 * regex on its first runs, and every `azmi token` checks its resource).
 */
function firstNotVisibleAscii(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return i;
  }
  return -1;
}

/**
 * `text` as an error quotes it: control characters (C0, DEL, C1) escaped as
 * `\u001b`, because a tab or an escape sequence printed as is would hide in,
 * or act on, the terminal the error is printed to.
 *
 * @example
 * ```ts
 * escapeControlCharacters("x\u001b[2J"); // "x\\u001b[2J"
 * ```
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
