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
