/**
 * Azure Instance Metadata Service (spec §4.3): `GET
 * http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
 * with `Metadata: true`. The base URL is overridable with
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST` (as in every official SDK); we append
 * the path without the trailing `/` MSAL JS adds (both are accepted by IMDS).
 * User-assigned identities: `client_id`, `object_id`, `msi_res_id`.
 *
 * @example
 * ```ts
 * const imds = createImds(new URL("http://127.0.0.1:4000"));
 * imds.buildRequest("https://vault.azure.net", { clientId }).url;
 * // http://127.0.0.1:4000/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=…
 * ```
 */
import type { IdentitySelector } from "../credentials/types";
import { parseHttpUrl, type HttpUrl } from "../transport/http";
import { endpointOf, query, selectedId, withQuery, type HttpSource } from "./types";

export const IMDS_DEFAULT_BASE = "http://169.254.169.254";
export const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";
export const IMDS_API_VERSION = "2018-02-01";

/**
 * IMDS's own base and token URLs, written out as `parseHttpUrl` gives them
 * (a test holds them equal): where no variable names another endpoint, as in
 * a container started without a network, parsing them cost the whole
 * "no managed identity here" answer ~0.1 ms of its < 1 ms in a fresh process.
 */
export const IMDS_DEFAULT_BASE_URL: HttpUrl = Object.freeze({
  href: `${IMDS_DEFAULT_BASE}/`, protocol: "http:", hostname: "169.254.169.254", host: "169.254.169.254", port: "", pathname: "/", search: "",
});
export const IMDS_DEFAULT_TOKEN_URL: HttpUrl = Object.freeze({
  ...IMDS_DEFAULT_BASE_URL, href: `${IMDS_DEFAULT_BASE}${IMDS_TOKEN_PATH}`, pathname: IMDS_TOKEN_PATH,
});

const PARAM = { clientId: "client_id", objectId: "object_id", resourceId: "msi_res_id" } as const;

/** The IMDS source for a base URL (scheme://host[:port][/prefix]). */
export function createImds(base: HttpUrl): HttpSource {
  // The token path goes after the base's own path, never into its query or
  // fragment. (Setters only for such a base: their first use costs a fresh process ~0.2 ms.)
  let url: HttpUrl;
  if (base === IMDS_DEFAULT_BASE_URL) {
    url = IMDS_DEFAULT_TOKEN_URL;
  } else if (!base.href.includes("?") && !base.href.includes("#")) {
    let end = base.href.length; // the base without its trailing slashes (a loop, not /\/+$/: see parseHttpUrl)
    while (end > 0 && base.href.charCodeAt(end - 1) === 0x2f) end--;
    const href = base.href.slice(0, end) + IMDS_TOKEN_PATH;
    // A base parseHttpUrl read as plain (not a URL) stays plain with the
    // constant path after it, so its parts are known without a second parse.
    url = base instanceof URL ? parseHttpUrl(href) : { ...base, href, pathname: href.slice(base.protocol.length + 2 + base.host.length) };
  } else {
    const edited = new URL(base.href);
    edited.hash = "";
    edited.pathname = edited.pathname.replace(/\/+$/, "") + IMDS_TOKEN_PATH;
    url = edited;
  }
  return {
    kind: "imds",
    name: "IMDS",
    url,
    endpoint: endpointOf(url),
    checkSelector() {},
    buildRequest(resource: string, selector: IdentitySelector) {
      const id = selectedId(selector);
      const q = query([
        ["api-version", IMDS_API_VERSION],
        ["resource", resource],
        id ? [PARAM[id[0]], id[1]] : ["", undefined],
      ]);
      return { url: withQuery(url, q), method: "GET", headers: { Metadata: "true" } };
    },
  };
}
