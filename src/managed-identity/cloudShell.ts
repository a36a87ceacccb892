/**
 * Azure Cloud Shell (spec §7): `POST {MSI_ENDPOINT}` with form body
 * `resource=…`, headers `Metadata: true` and
 * `Content-Type: application/x-www-form-urlencoded`, no query. The token is
 * the signed-in portal user's; user-assigned identities are rejected before
 * any request (the endpoint would silently ignore them).
 *
 * @example
 * ```ts
 * const source = createCloudShell(new URL("http://localhost:50342/oauth2/token"));
 * ```
 */
import type { IdentitySelector } from "../credentials/types";
import { endpointOf, selectedId, unsupportedSelector, type HttpSource } from "./types";
import type { HttpUrl } from "../transport/http";

export function createCloudShell(url: HttpUrl): HttpSource {
  return {
    kind: "cloud-shell",
    name: "Cloud Shell",
    url,
    endpoint: endpointOf(url),
    checkSelector(selector: IdentitySelector) {
      if (selectedId(selector)) {
        // @azure/identity's exact words.
        throw unsupportedSelector(
          "Specifying a user-assigned managed identity is not supported for CloudShell at runtime. When using Managed Identity in CloudShell, omit the clientId, resourceId, and objectId parameters.",
        );
      }
    },
    buildRequest(resource: string) {
      return {
        url: url.href,
        method: "POST",
        headers: { Metadata: "true", "Content-Type": "application/x-www-form-urlencoded" },
        body: `resource=${encodeURIComponent(resource)}`,
      };
    },
  };
}
