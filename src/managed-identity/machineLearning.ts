/**
 * Azure Machine Learning, which is also what the legacy App Service
 * 2017-09-01 pair (`MSI_ENDPOINT` + `MSI_SECRET`) maps to in today's SDKs
 * (spec §4.4.2, §4.8): `GET {MSI_ENDPOINT}?api-version=2017-09-01&resource=…&clientid=…`
 * with headers `Metadata: true` and `secret: {MSI_SECRET}`. A system-assigned
 * request sends `clientid={DEFAULT_IDENTITY_CLIENT_ID}` when that is set
 * (omitted otherwise, as MSAL JS does). User-assigned: client id only.
 * The 2017 responses' date-string `expires_on` is parsed in `response.ts`.
 *
 * @example
 * ```ts
 * const source = createMachineLearning(new URL(env.MSI_ENDPOINT!), env.MSI_SECRET!, env.DEFAULT_IDENTITY_CLIENT_ID);
 * ```
 */
import type { IdentitySelector } from "../credentials/types";
import { registerSecret } from "../log";
import { endpointOf, query, unsupportedSelector, withQuery, type HttpSource } from "./types";
import type { HttpUrl } from "../transport/http";

export const MACHINE_LEARNING_API_VERSION = "2017-09-01";

export function createMachineLearning(url: HttpUrl, secret: string, defaultClientId?: string): HttpSource {
  registerSecret(secret);
  const name = "Machine Learning / App Service 2017";
  return {
    kind: "machine-learning",
    name,
    url,
    endpoint: endpointOf(url),
    checkSelector(selector: IdentitySelector) {
      if (selector.objectId || selector.resourceId) {
        throw unsupportedSelector(
          "Only client id is supported for user-assigned managed identity in Machine Learning; pass clientId instead of objectId/resourceId.",
        );
      }
    },
    buildRequest(resource: string, selector: IdentitySelector) {
      const q = query([
        ["api-version", MACHINE_LEARNING_API_VERSION],
        ["resource", resource],
        ["clientid", selector.clientId || defaultClientId],
      ]);
      return { url: withQuery(url, q), method: "GET", headers: { Metadata: "true", secret } };
    },
  };
}
