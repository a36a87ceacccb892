/**
 * App Service / Functions, 2019-08-01 protocol (spec §4.4.1):
 * `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with header
 * `X-IDENTITY-HEADER: {IDENTITY_HEADER}`. User-assigned identities:
 * `client_id`, `principal_id` (the documented name; MSAL JS sends the alias
 * `object_id`, which App Service also accepts), `mi_res_id`.
 *
 * @example
 * ```ts
 * const source = createAppService(new URL(env.IDENTITY_ENDPOINT!), env.IDENTITY_HEADER!);
 * ```
 */
import type { IdentitySelector } from "../credentials/types";
import { registerSecret } from "../log";
import { endpointOf, query, selectedId, withQuery, type HttpSource } from "./types";
import type { HttpUrl } from "../transport/http";

export const APP_SERVICE_API_VERSION = "2019-08-01";

const PARAM = { clientId: "client_id", objectId: "principal_id", resourceId: "mi_res_id" } as const;

export function createAppService(url: HttpUrl, identityHeader: string): HttpSource {
  registerSecret(identityHeader);
  return {
    kind: "app-service",
    name: "App Service",
    url,
    endpoint: endpointOf(url),
    checkSelector() {},
    buildRequest(resource: string, selector: IdentitySelector) {
      const id = selectedId(selector);
      const q = query([
        ["api-version", APP_SERVICE_API_VERSION],
        ["resource", resource],
        id ? [PARAM[id[0]], id[1]] : ["", undefined],
      ]);
      return { url: withQuery(url, q), method: "GET", headers: { "X-IDENTITY-HEADER": identityHeader } };
    },
  };
}
