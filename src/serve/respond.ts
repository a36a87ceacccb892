/**
 * Writing answers in each dialect's exact shape: token bodies (strings for
 * every number, `expires_in` before `expires_on`) and error bodies (IMDS
 * `{error,error_description}`, App Service `{statusCode,message,correlationId}`,
 * Cloud Shell `{error:{code,message}}`, Service Fabric `{error:{correlationId,code,message}}`).
 *
 * Serialized token bodies are cached per (shape, identity, resource) and
 * rebuilt once a second (when `expires_in` changes) or when the token does.
 *
 * @example
 * ```ts
 * writeJson(res, 400, imdsError("bad_request_102", "Required metadata header not specified"));
 * bodies.write(res, "imds", identity, token);
 * ```
 */
import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import type { ServerResponse } from "node:http";
import type { ServedIdentity } from "./identities";
import type { IssuedToken } from "./issuer/types";

/** Every token response shape the server writes. */
export type TokenShape =
  | "imds"
  | "cloudShell"
  | "appService"
  | "msi2017"
  | "msi2017-legacy"
  | "msi2017-legacy-windows"
  | "arc"
  | "arc-object"
  | "arc-resource";

/** Error-body families. */
export type ErrorStyle = "imds" | "appService" | "cloudShell" | "serviceFabric";

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * Write a JSON (or pre-serialized) body with an exact status.
 *
 * @example
 * ```ts
 * writeJson(res, 404, imdsError("not_found", "No such endpoint"));
 * ```
 */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "Content-Type": JSON_TYPE, "Content-Length": buf.length, Server: "azmi", ...headers });
  res.end(buf);
}

/** IMDS / Arc error body. */
export function imdsError(error: string, description: string): { error: string; error_description: string } {
  return { error, error_description: description };
}

/** App Service / 2017 / ML error body. */
export function appServiceError(statusCode: number, message: string): { statusCode: number; message: string; correlationId: string } {
  return { statusCode, message, correlationId: randomUUID() };
}

/** Cloud Shell error body. */
export function cloudShellError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** Service Fabric error body. */
export function serviceFabricError(code: string, message: string): { error: { correlationId: string; code: string; message: string } } {
  return { error: { correlationId: randomUUID(), code, message } };
}

/**
 * Write an error in a dialect's family. `code` is the IMDS `error` / Cloud
 * Shell / SF `code`; App Service bodies carry only `statusCode` and `message`.
 *
 * @example
 * ```ts
 * writeError(res, "appService", 401, "unauthorized", "Missing X-IDENTITY-HEADER header.");
 * ```
 */
export function writeError(
  res: ServerResponse,
  style: ErrorStyle,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): void {
  const body =
    style === "imds"
      ? imdsError(code, message)
      : style === "appService"
        ? appServiceError(status, message)
        : style === "cloudShell"
          ? cloudShellError(code, message)
          : serviceFabricError(code, message);
  writeJson(res, status, body, headers);
}

/**
 * The App Service 2017 `expires_on` date forms: Linux `MM/DD/YYYY HH:MM:SS +00:00`,
 * Windows `M/D/YYYY h:MM:SS AM +00:00`.
 *
 * @example
 * ```ts
 * legacyDate(1561000678);            // "06/20/2019 03:17:58 +00:00"
 * legacyDate(1579152252, "windows"); // "1/16/2020 5:24:12 AM +00:00"
 * ```
 */
export function legacyDate(epochSec: number, form: "linux" | "windows" = "linux"): string {
  const d = new Date(epochSec * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  const time = `${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  if (form === "windows") {
    const h = d.getUTCHours();
    return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 === 0 ? 12 : h % 12}:${time} ${h < 12 ? "AM" : "PM"} +00:00`;
  }
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${time} +00:00`;
}

/**
 * The JSON object for one token in one shape, at `nowSec`.
 *
 * @example
 * ```ts
 * tokenBody("imds", token, identity, Math.floor(Date.now() / 1000));
 * ```
 */
export function tokenBody(shape: TokenShape, token: IssuedToken, identity: ServedIdentity, nowSec: number): Record<string, string> {
  const expiresOn = Math.floor(token.expiresOnTimestamp / 1000);
  const expiresIn = String(Math.max(0, expiresOn - nowSec));
  const notBefore = String(Math.floor(token.notBeforeTimestamp / 1000));
  switch (shape) {
    case "imds":
    case "cloudShell":
    case "arc":
    case "arc-object":
    case "arc-resource": {
      const body: Record<string, string> = {
        access_token: token.accessToken,
        refresh_token: "",
        expires_in: expiresIn,
        expires_on: String(expiresOn),
        not_before: notBefore,
        resource: token.resource,
        token_type: "Bearer",
      };
      // Cloud Shell's body is IMDS's without client_id.
      if (shape !== "cloudShell" && token.clientId !== undefined) body.client_id = token.clientId;
      // MSAL JS checks that Arc echoes the user-assigned selector it sent.
      if (shape === "arc-object") body.object_id = identity.objectId;
      if (shape === "arc-resource") body.msi_res_id = identity.resourceId;
      return body;
    }
    case "appService":
    case "msi2017":
    case "msi2017-legacy":
    case "msi2017-legacy-windows": {
      const body: Record<string, string> = {
        access_token: token.accessToken,
        expires_in: expiresIn,
        expires_on:
          shape === "msi2017-legacy" ? legacyDate(expiresOn) : shape === "msi2017-legacy-windows" ? legacyDate(expiresOn, "windows") : String(expiresOn),
        not_before: notBefore,
        resource: token.resource,
        token_type: "Bearer",
      };
      if (token.clientId !== undefined) body.client_id = token.clientId;
      return body;
    }
  }
}

/** Distinct (shape, identity, resource) bodies kept; beyond this the cache starts over (bounds memory under junk resources). */
const MAX_CACHED_BODIES = 10_000;

interface CachedBody {
  token: IssuedToken;
  sec: number;
  buf: Buffer;
  /** Reused for every answer with this body (Node reads, never mutates, the object). */
  headers: http.OutgoingHttpHeaders;
}

/**
 * Serialized token bodies, rebuilt at most once a second per key.
 *
 * Keyed by shape, then identity key, then resource: strings that are the same
 * objects on every request (their hashes are cached), so the hot path builds
 * and hashes no joined key.
 */
export class BodyCache {
  private readonly bodies = new Map<TokenShape, Map<string, Map<string, CachedBody>>>();
  private count = 0;

  /** Write `token` in `shape` as a 200 response. */
  write(res: ServerResponse, shape: TokenShape, identity: ServedIdentity, token: IssuedToken): void {
    const sec = Math.floor(Date.now() / 1000);
    let byIdentity = this.bodies.get(shape);
    let byResource = byIdentity?.get(identity.key);
    let cached = byResource?.get(token.resource);
    if (cached === undefined || cached.token !== token || cached.sec !== sec) {
      const buf = Buffer.from(JSON.stringify(tokenBody(shape, token, identity, sec)));
      const fresh: CachedBody = { token, sec, buf, headers: { "Content-Type": JSON_TYPE, "Content-Length": buf.length, Server: "azmi" } };
      if (cached === undefined) {
        if (this.count >= MAX_CACHED_BODIES) {
          this.clear();
          byIdentity = byResource = undefined;
        }
        this.count++;
      }
      if (byIdentity === undefined) this.bodies.set(shape, (byIdentity = new Map()));
      if (byResource === undefined) byIdentity.set(identity.key, (byResource = new Map()));
      byResource.set(token.resource, fresh);
      cached = fresh;
    }
    if (res.headersSent) return;
    res.writeHead(200, cached.headers);
    res.end(cached.buf);
  }

  clear(): void {
    this.bodies.clear();
    this.count = 0;
  }
}
