/**
 * The Azure Arc dialect: `GET {IDENTITY_ENDPOINT}?api-version=2020-06-01|2019-11-01&resource=…`
 * with `Metadata: true`. The first request is answered 401 with
 * `WWW-Authenticate: Basic realm=<dir>/<random>.key`; the client reads that
 * file and repeats the request with `Authorization: Basic <file contents>`.
 * Each key file is single-use, expires after a minute, and is removed then
 * (and when the server closes).
 *
 * MSAL JS and MSAL.NET accept only key files in `/var/opt/azcmagent/tokens`
 * (the default folder, used when it exists and is writable); other folders
 * work for clients that read whatever file the realm names (Python).
 *
 * @example
 * ```ts
 * const arc = new ArcChallenges("/var/opt/azcmagent/tokens");
 * handleAzureArc({ ...ctx, arc }, req, res, search);
 * arc.close();
 * ```
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import fs = require("node:fs");
import type { IncomingMessage, ServerResponse } from "node:http";
import path = require("node:path");
import { registerSecret, unregisterSecret } from "../log";
import { serveToken, validResource, type ServeContext } from "./context";
import { IDENTITY_NOT_FOUND, imdsSelector, METADATA_MISSING, MULTIPLE_SELECTORS } from "./imds";
import { parseQuery } from "./request";
import { writeError, writeJson, type TokenShape } from "./respond";

export const ARC_PATH = "/arc/metadata/identity/oauth2/token";
/** The folder MSAL JS/.NET insist on. */
export const DEFAULT_ARC_KEY_DIR = "/var/opt/azcmagent/tokens";
/** MSAL (2020-06-01) and Python azure-identity 1.13 (2019-11-01). */
export const ARC_API_VERSIONS = ["2020-06-01", "2019-11-01"];
const CHALLENGE_TTL_MS = 60_000;
/** Unanswered challenges kept at once; beyond this new ones are refused (429) to bound disk use. */
const MAX_PENDING_CHALLENGES = 256;

interface Challenge {
  file: string;
  secret: Buffer;
  expiresAt: number;
}

/**
 * Whether `dir` can hold Arc key files: it must exist and be writable.
 * Returns `undefined` when usable, else the reason.
 *
 * @example
 * ```ts
 * arcKeyDirProblem("/var/opt/azcmagent/tokens"); // "… does not exist" on most machines
 * ```
 */
export function arcKeyDirProblem(dir: string): string | undefined {
  try {
    const st = fs.statSync(dir);
    if (!st.isDirectory()) return `${dir} is not a folder`;
    fs.accessSync(dir, fs.constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `${dir} does not exist` : `${dir} is not writable (${code})`;
  }
}

/** The outstanding Arc challenges and their key files. */
export class ArcChallenges {
  readonly dir: string;
  private readonly pending: Challenge[] = [];

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Create a key file; returns its path, or `undefined` when too many are pending. */
  issue(now = Date.now()): string | undefined {
    this.expire(now);
    if (this.pending.length >= MAX_PENDING_CHALLENGES) return undefined;
    const secret = randomBytes(32).toString("hex");
    registerSecret(secret);
    const file = path.join(this.dir, `azmi-${randomBytes(8).toString("hex")}.key`);
    fs.writeFileSync(file, secret, { mode: 0o600, flag: "wx" });
    this.pending.push({ file, secret: Buffer.from(secret), expiresAt: now + CHALLENGE_TTL_MS });
    return file;
  }

  /** Whole seconds until the oldest pending challenge expires (and a new one can be issued), at least 1. */
  retryAfterSec(now = Date.now()): number {
    const oldest = this.pending[0];
    return Math.max(1, Math.ceil(((oldest?.expiresAt ?? now) - now) / 1000));
  }

  /** Check an `Authorization` header; a matching challenge is consumed. */
  verify(authorization: string, now = Date.now()): boolean {
    this.expire(now);
    if (!authorization.startsWith("Basic ")) return false;
    const given = Buffer.from(authorization.slice(6).trim());
    let match = -1;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i]!;
      if (c.secret.length === given.length && timingSafeEqual(c.secret, given)) match = i;
    }
    if (match < 0) return false;
    const [used] = this.pending.splice(match, 1);
    retire(used!);
    return true;
  }

  /** Remove every key file still on disk. */
  close(): void {
    for (const c of this.pending.splice(0)) retire(c);
  }

  private expire(now: number): void {
    while (this.pending.length > 0 && this.pending[0]!.expiresAt <= now) retire(this.pending.shift()!);
  }
}

/** A challenge is over (answered, expired, or the server closes): its key file goes, and its secret with it from the redaction set. */
function retire(challenge: Challenge): void {
  unregisterSecret(challenge.secret.toString());
  try {
    fs.unlinkSync(challenge.file);
  } catch {
    // Already gone (a client or an admin removed it): nothing to clean.
  }
}

/** Handle one request to the Arc token path. */
export function handleAzureArc(ctx: ServeContext, req: IncomingMessage, res: ServerResponse, search: string): void {
  const arc = ctx.arc;
  if (arc === undefined) {
    writeError(res, "imds", 404, "not_found", `The Azure Arc dialect is disabled: ${ctx.arcDisabledReason ?? "no key folder"}.`);
    return;
  }
  if (req.method !== "GET") {
    writeError(res, "imds", 405, "method_not_allowed", `The request method '${req.method}' is not supported; use GET.`, { Allow: "GET" });
    return;
  }
  if (req.headers["metadata"] !== "true") {
    writeError(res, "imds", 400, "bad_request_102", METADATA_MISSING);
    return;
  }
  const query = parseQuery(search);
  if (!query.ok) {
    writeError(res, "imds", 400, "invalid_request", `${query.reason === "duplicate" ? "Duplicate" : "Malformed"} query parameter '${query.key}'`);
    return;
  }
  const params = query.params;
  const apiVersion = params["api-version"];
  if (apiVersion === undefined || !ARC_API_VERSIONS.includes(apiVersion)) {
    writeError(res, "imds", 400, "invalid_request", `Unsupported or missing api-version; use ${ARC_API_VERSIONS.join(" or ")}`);
    return;
  }
  const resource = params["resource"];
  if (!validResource(resource)) {
    writeError(res, "imds", 400, "invalid_request", "Required audience parameter not specified");
    return;
  }
  const selector = imdsSelector(params);
  if (selector === "multiple") {
    writeError(res, "imds", 400, "invalid_request", MULTIPLE_SELECTORS);
    return;
  }
  const authorization = req.headers["authorization"];
  if (authorization === undefined) {
    let file: string | undefined;
    try {
      file = arc.issue();
    } catch (error) {
      writeError(res, "imds", 500, "unknown", `Cannot write the Arc key file in ${arc.dir} (${(error as NodeJS.ErrnoException).code}).`);
      return;
    }
    if (file === undefined) {
      // Retry-After: clients retry a 429 only when told when (spec §6.2); the oldest challenge frees a place then.
      const wait = arc.retryAfterSec();
      writeError(res, "imds", 429, "too_many_requests", `Too many unanswered Azure Arc challenges; retry in ${wait} s.`, { "Retry-After": String(wait) });
      return;
    }
    writeJson(res, 401, { error: "unauthorized", error_description: "Read the key file named in WWW-Authenticate and retry with Authorization: Basic <contents>." }, {
      "WWW-Authenticate": `Basic realm=${file}`,
    });
    return;
  }
  if (!arc.verify(authorization)) {
    writeError(res, "imds", 401, "unauthorized", "The Authorization header does not match a current Azure Arc challenge; retry without it to get a new one.");
    return;
  }
  const found = ctx.identities.resolve(selector);
  if (!found.ok) {
    writeError(res, "imds", 400, "invalid_request", IDENTITY_NOT_FOUND);
    return;
  }
  const shape: TokenShape = selector.objectId !== undefined ? "arc-object" : selector.resourceId !== undefined ? "arc-resource" : "arc";
  serveToken(ctx, res, "imds", shape, found.identity, resource);
}
