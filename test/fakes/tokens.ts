/**
 * Token values and MSI response bodies for fakes. Tokens are random and NOT
 * JWT-shaped on purpose: the log redactor's JWT pattern would hide a JWT even
 * if we forgot to register it, so tests that assert "the token never appears"
 * would prove nothing.
 *
 * @example
 * ```ts
 * const body = tokenBody({ resource: "https://vault.azure.net", expiresOnFormat: "linux" });
 * ```
 */
import { randomBytes } from "node:crypto";

/** A random opaque token, e.g. `tok_3f2a…`. */
export function fakeToken(prefix = "tok"): string {
  return `${prefix}_${randomBytes(20).toString("hex")}`;
}

/** A random secret (identity header, MSI secret, Arc key). */
export function fakeSecret(prefix = "sec"): string {
  return `${prefix}_${randomBytes(16).toString("hex")}`;
}

export type ExpiresOnFormat = "epoch-string" | "epoch-number" | "linux" | "windows" | "iso" | "none";

const pad = (n: number) => String(n).padStart(2, "0");

/** `expires_on` as each endpoint family writes it (spec §4.4.2, §5.2). */
export function formatExpiresOn(epochSec: number, format: ExpiresOnFormat): string | number | undefined {
  const d = new Date(epochSec * 1000);
  switch (format) {
    case "epoch-string":
      return String(epochSec);
    case "epoch-number":
      return epochSec;
    case "linux":
      return `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +00:00`;
    case "windows": {
      const h = d.getUTCHours();
      const h12 = h % 12 === 0 ? 12 : h % 12;
      return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? "AM" : "PM"} +00:00`;
    }
    case "iso":
      return d.toISOString();
    case "none":
      return undefined;
  }
}

export interface TokenBodyOptions {
  token?: string;
  resource: string;
  lifetimeSec?: number;
  expiresOnFormat?: ExpiresOnFormat;
  includeExpiresIn?: boolean;
  clientId?: string;
  extra?: Record<string, unknown>;
}

/** An IMDS-shaped success body (numbers as strings, `expires_in` before `expires_on`). */
export function tokenBody(o: TokenBodyOptions): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const life = o.lifetimeSec ?? 3600;
  const body: Record<string, unknown> = { access_token: o.token ?? fakeToken(), refresh_token: "" };
  if (o.includeExpiresIn !== false) body.expires_in = String(life);
  const on = formatExpiresOn(now + life, o.expiresOnFormat ?? "epoch-string");
  if (on !== undefined) body.expires_on = on;
  body.not_before = String(now);
  body.resource = o.resource;
  body.token_type = "Bearer";
  if (o.clientId) body.client_id = o.clientId;
  return { ...body, ...(o.extra ?? {}) };
}

export const JSON_HEADERS = { "Content-Type": "application/json; charset=utf-8" };
