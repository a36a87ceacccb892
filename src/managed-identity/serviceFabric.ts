/**
 * Service Fabric (spec §4.7): `GET {IDENTITY_ENDPOINT}?api-version=2019-07-01-preview&resource=…`
 * over HTTPS with header `secret: {IDENTITY_HEADER}`. The server certificate
 * is not publicly trusted; like MSAL.NET we accept it iff its SHA-1
 * thumbprint equals `IDENTITY_SERVER_THUMBPRINT` (the transport's
 * `pinnedThumbprint`). @azure/identity JS does not pin and fails on such
 * endpoints (checklist 42). User-assigned identities are rejected before any
 * request (JS and Azure.Identity .NET do the same).
 *
 * @example
 * ```ts
 * const source = createServiceFabric(new URL(env.IDENTITY_ENDPOINT!), env.IDENTITY_HEADER!, env.IDENTITY_SERVER_THUMBPRINT!);
 * ```
 */
import type { IdentitySelector } from "../credentials/types";
import { registerSecret } from "../log";
import { endpointOf, query, selectedId, unsupportedSelector, withQuery, type HttpSource } from "./types";
import type { HttpUrl } from "../transport/http";

export const SERVICE_FABRIC_API_VERSION = "2019-07-01-preview";

export function createServiceFabric(url: HttpUrl, secret: string, thumbprint: string): HttpSource {
  registerSecret(secret);
  return {
    kind: "service-fabric",
    name: "Service Fabric",
    url,
    endpoint: endpointOf(url),
    pinnedThumbprint: thumbprint.replace(/[\s:]/g, "").toLowerCase(),
    checkSelector(selector: IdentitySelector) {
      if (selectedId(selector)) {
        throw unsupportedSelector(
          "Specifying a `clientId`, `objectId` or `resourceId` is not supported by the Service Fabric managed identity environment. The managed identity configuration is determined by the Service Fabric cluster resource configuration; omit the selector.",
        );
      }
    },
    buildRequest(resource: string) {
      const q = query([
        ["api-version", SERVICE_FABRIC_API_VERSION],
        ["resource", resource],
      ]);
      return { url: withQuery(url, q), method: "GET", headers: { secret } };
    },
  };
}
