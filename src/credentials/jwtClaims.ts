/**
 * Reads the claims of a JWT access token WITHOUT verifying it: only to fill
 * MSI fields (`not_before`, `client_id`) that Entra responses don't carry.
 * Never use the result for an access decision.
 *
 * @example
 * ```ts
 * const claims = decodeJwtClaims(token.token); // { nbf: 1700000000, appid: "..." } or undefined
 * ```
 */
export interface JwtClaims {
  nbf?: number;
  exp?: number;
  iat?: number;
  aud?: string;
  /** v1 tokens: client id of the application. */
  appid?: string;
  /** v2 tokens: client id of the application. */
  azp?: string;
  tid?: string;
  oid?: string;
  [claim: string]: unknown;
}

/** The payload of a compact JWS, or `undefined` when the value isn't one. */
export function decodeJwtClaims(token: string): JwtClaims | undefined {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (first <= 0 || second < 0) return undefined;
  try {
    const json = Buffer.from(token.slice(first + 1, second), "base64url").toString("utf8");
    const claims = JSON.parse(json) as unknown;
    return claims !== null && typeof claims === "object" && !Array.isArray(claims) ? (claims as JwtClaims) : undefined;
  } catch {
    return undefined;
  }
}

/** The application (client) id a token was issued to, from `appid` (v1) or `azp` (v2). */
export function clientIdFromClaims(claims: JwtClaims | undefined): string | undefined {
  const id = claims?.appid ?? claims?.azp;
  return typeof id === "string" && id.length > 0 ? id : undefined;
}
