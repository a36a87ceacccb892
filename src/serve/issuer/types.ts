/**
 * What the HTTP front of `azmi serve` needs from a token source (the local
 * offline issuer or the forwarding chain issuer).
 *
 * @example
 * ```ts
 * const token = source.peek(identity, resource) ?? (await source.fetch(identity, resource));
 * ```
 */
import type { ServedIdentity } from "../identities";

/** A token ready to be written in any dialect. Timestamps in ms since the epoch. */
export interface IssuedToken {
  accessToken: string;
  expiresOnTimestamp: number;
  notBeforeTimestamp: number;
  resource: string;
  /** Client id of the identity the token is for, when known. */
  clientId?: string;
}

export interface TokenSource {
  readonly kind: "local" | "chain";
  /** A valid token without waiting, or `undefined` (then call `fetch`). Must be cheap: it is the hot path. */
  peek(identity: ServedIdentity, resource: string): IssuedToken | undefined;
  /** A valid token, fetching (single-flight) when needed. */
  fetch(identity: ServedIdentity, resource: string): Promise<IssuedToken>;
}
