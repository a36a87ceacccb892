/**
 * `azmi serve`: a local managed-identity endpoint that speaks every dialect
 * the Azure SDKs use, on one port — IMDS, App Service 2019, App Service
 * 2017 / Machine Learning, Cloud Shell and Azure Arc — over a token source
 * that is either an offline RS256 issuer (default; with OIDC discovery and
 * JWKS so local APIs can validate the tokens) or this host's credential
 * chain (forwarding, cached, single-flight).
 *
 * Each dialect has its own path; `RunningServer.dialects` holds the minimal
 * variables per dialect (pick one set: clients choose a dialect by which
 * variables are set, SF > App Service > ML > Cloud Shell > Arc > IMDS), and
 * `RunningServer.env` the flat union (which App Service wins).
 *
 * Security: loopback by default (a warning otherwise); random secrets per
 * start for the header dialects, compared in constant time; IMDS's
 * `Metadata: true` rule; `X-Forwarded-For`, duplicate query keys, path
 * tricks and oversized requests refused; slow clients time out; secrets
 * and tokens never logged.
 *
 * @example
 * ```ts
 * const server = await startServer({ identities: [{ clientId: "11111111-2222-3333-4444-555555555555" }] });
 * Object.assign(process.env, server.dialects.appService);
 * const token = await new ManagedIdentityCredential().getToken("https://vault.azure.net/.default");
 * await server.close();
 * ```
 */
import { randomBytes } from "node:crypto";
import http = require("node:http");
import { isIP, type AddressInfo, type Socket } from "node:net";
import { AzmiError, ErrorCode } from "../errors";
import { credentialLogger, registerSecret } from "../log";
import { arcTokensDir } from "../managed-identity/azureArc";
import { azmiHome, ensureAzmiHome } from "../paths";
import { APP_SERVICE_PATH, handleAppService } from "./appService";
import { listenHostProblem } from "./listenHost";
import { ARC_PATH, ArcChallenges, arcKeyDirProblem, DEFAULT_ARC_KEY_DIR, handleAzureArc } from "./azureArc";
import { CLOUD_SHELL_PATH, handleCloudShell } from "./cloudShell";
import type { ServeContext } from "./context";
import { addAcceptors, type Acceptors } from "./acceptors";
import { attachFastPath, type FastPath } from "./fastPath";
import { canTellPeerUser, gateConnections, ownUserOnly } from "./peerUser";
import { FaultInjector, validateFaults, type FaultOptions } from "./faults";
import { IdentityRegistry, type IdentityConfig } from "./identities";
import { handleImds, IMDS_TOKEN_PATH } from "./imds";
import { ChainIssuer, type UpstreamTokenFunction } from "./issuer/chainIssuer";
import { isLoopbackHost } from "../transport/http";
import { DEFAULT_TOKEN_LIFETIME_SEC, LocalIssuer, loadOrCreateSigningKey } from "./issuer/localIssuer";
import { handleMsi2017, MSI2017_PATH } from "./msi2017";
import { RateLimiter, type RateLimitOptions } from "./rateLimit";
import { isAllowedHostHeader, isDirectHostHeader, isLoopbackHostHeader, isSuspiciousPath, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_TARGET_BYTES } from "./request";
import { BodyCache, writeError, writeJson } from "./respond";
import { handleServiceFabric, SERVICE_FABRIC_PATH } from "./serviceFabric";
import { claimServerState, readServerState, removeServerState, serverStatePath, writeServerState, type ServerState } from "./state";

export type { FaultOptions } from "./faults";
export type { IdentityConfig } from "./identities";

/** Default tenant of the offline issuer: obviously fake, fixed so tokens and ids are stable. */
export const DEFAULT_LOCAL_TENANT_ID = "a2a1a2a1-0000-4000-8000-00000000a2a1";
/** A client has this long to send its request headers. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A client has this long to send its whole request. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Idle keep-alive connections close after this long. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** What a loopback client of another user gets from a chain server (IMDS's error shape). */
const OTHER_USER_REFUSAL = (() => {
  const body = JSON.stringify({
    error: "forbidden",
    error_description: "azmi serve --issuer chain forwards its user's own tokens: it answers only that user's processes on this machine",
  });
  return `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nServer: azmi\r\nConnection: close\r\n\r\n${body}`;
})();
/** How often Node checks the two timeouts above. */
const CONNECTION_CHECK_INTERVAL_MS = 1_000;

export interface ServeOptions {
  /** Address to bind. Default `127.0.0.1`; anything not loopback triggers `onWarning`. */
  host?: string;
  /**
   * More host names the `Host` header may carry (DNS-rebinding protection
   * otherwise takes only addresses, localhost, this machine's name and names
   * under `.internal`/`.localhost`): e.g. a compose file's own `extra_hosts`
   * name, or a name mapped to 127.0.0.1 in /etc/hosts. Exact names, any case.
   */
  allowHosts?: string[];
  /** Port; default 0 (ephemeral). */
  port?: number;
  /** Token source: `local` (offline RS256 issuer, default) or `chain` (forward to this host's credential chain). */
  issuer?: "local" | "chain";
  /** Tenant id in local tokens and the issuer URL. Default {@link DEFAULT_LOCAL_TENANT_ID}. */
  tenantId?: string;
  /** Unknown `client_id`/`object_id`/`msi_res_id` get a new, distinct identity instead of 400 Identity not found. Always on for `issuer: "chain"`. */
  acceptAnyIdentity?: boolean;
  /** Known user-assigned identities (the system-assigned one always exists). */
  identities?: IdentityConfig[];
  /** Fault mode for resilience tests. */
  faults?: FaultOptions;
  /** IMDS's request limits (20/s, 5 concurrent ⇒ 429) on the IMDS path; `true` for the documented values. Off by default. */
  rateLimit?: boolean | RateLimitOptions;
  /**
   * Folder for Arc challenge key files. Default: `AZMI_ARC_TOKENS_DIR` from `env` (the folder azmi's
   * own client accepts key files from) or `/var/opt/azcmagent/tokens` (MSAL's), when it exists and is
   * writable; else Arc is disabled (see `RunningServer.arcDisabledReason`). An explicit folder that
   * cannot be used is an error instead.
   */
  arcKeyDir?: string;
  /** Write `azmiHome()/serve.json` for `azmi env`. Default false here (the CLI passes true). */
  stateFile?: boolean;
  /** 2017 / ML dialect writes `expires_on` as a date string, to test clients: `true`/`"linux"` ⇒ `MM/DD/YYYY HH:MM:SS +00:00`, `"windows"` ⇒ `M/D/YYYY h:MM:SS AM +00:00`. */
  legacyDates?: boolean | "linux" | "windows";
  /** Lifetime of local tokens in seconds (default 86400, like real MI tokens; 60..604800). */
  tokenLifetimeSec?: number;
  /** For `issuer: "chain"`: the function that asks the chain (default `getManagedToken` from `src/msi.ts`). */
  upstream?: UpstreamTokenFunction;
  /** Receives warnings (non-loopback host, self-forwarding guard). Default: the azmi logger. */
  onWarning?: (msg: string) => void;
  /** Environment to read (`AZMI_HOME`, chain variables). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:4000` (loopback URL when bound to all interfaces). */
  url: string;
  port: number;
  host: string;
  /** Flat union of the variables of every dialect (App Service wins when all are set). */
  env: Record<string, string>;
  /** Minimal variable set per dialect; set exactly one of them in a client's environment. */
  dialects: {
    imds: Record<string, string>;
    appService: Record<string, string>;
    machineLearning: Record<string, string>;
    cloudShell: Record<string, string>;
    azureArc?: Record<string, string>;
  };
  /** Why the Arc dialect is off, when it is. */
  arcDisabledReason?: string;
  /** OIDC issuer URL (`${url}/${tenant}/v2.0`); empty for `issuer: "chain"`. */
  issuer: string;
  /** JWKS URL; empty for `issuer: "chain"`. */
  jwksUri: string;
  /** OIDC discovery URL; empty for `issuer: "chain"`. */
  discoveryUrl: string;
  /** Tenant id of local tokens. */
  tenantId: string;
  /** Client id of the system-assigned identity (also `DEFAULT_IDENTITY_CLIENT_ID`). */
  systemClientId: string;
  /** Path of the state file, when written. */
  stateFile?: string;
  /** Stop listening, drop connections, remove Arc key files and the state file. */
  close(): Promise<void>;
}

const log = credentialLogger("AzmiServe");
const GUID_OR_DOMAIN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

function validate(options: ServeOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError("startServer(options): options must be an object.");
  const { host, port, issuer, tenantId, identities, tokenLifetimeSec, arcKeyDir, onWarning, upstream } = options;
  if (host !== undefined && (typeof host !== "string" || host.length === 0)) {
    throw new TypeError(`host must be a non-empty string such as "127.0.0.1"; got ${JSON.stringify(host)}.`);
  }
  const hostProblem = host === undefined ? undefined : listenHostProblem(host);
  if (hostProblem !== undefined) {
    throw new TypeError(`host must be an IP address to listen on (such as "127.0.0.1", "::1" or "0.0.0.0") or "localhost"; got ${JSON.stringify(host)}: ${hostProblem}.`);
  }
  const allowHosts = options.allowHosts;
  if (allowHosts !== undefined) {
    if (!Array.isArray(allowHosts)) throw new TypeError('allowHosts must be an array of host names, e.g. ["myapp.test"].');
    for (const name of allowHosts) {
      const problem = allowedHostProblem(name);
      if (problem) throw new TypeError(`allowHosts: ${JSON.stringify(typeof name === "string" ? name.slice(0, 80) : name)} ${problem}.`);
    }
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new RangeError(`port must be an integer from 0 to 65535 (0 picks a free port); got ${String(port)}.`);
  }
  if (issuer !== undefined && issuer !== "local" && issuer !== "chain") {
    throw new TypeError(`issuer must be "local" or "chain"; got ${JSON.stringify(issuer)}.`);
  }
  if (tenantId !== undefined && (typeof tenantId !== "string" || !GUID_OR_DOMAIN.test(tenantId))) {
    throw new TypeError(`tenantId must be a GUID or a domain name (letters, digits, '.', '-'); got ${JSON.stringify(tenantId)}.`);
  }
  if (identities !== undefined) {
    if (!Array.isArray(identities)) throw new TypeError("identities must be an array of { clientId, objectId?, resourceId?, name? }.");
    identities.forEach((id, i) => {
      if (typeof id !== "object" || id === null || typeof id.clientId !== "string" || !/^[A-Za-z0-9-]{1,64}$/.test(id.clientId)) {
        throw new TypeError(`identities[${i}].clientId must be a client id (GUID); got ${JSON.stringify(id?.clientId)}.`);
      }
      for (const k of ["objectId", "resourceId", "name"] as const) {
        if (id[k] !== undefined && (typeof id[k] !== "string" || id[k]!.length === 0)) {
          throw new TypeError(`identities[${i}].${k} must be a non-empty string when given.`);
        }
      }
    });
  }
  if (tokenLifetimeSec !== undefined && (!Number.isInteger(tokenLifetimeSec) || tokenLifetimeSec < 60 || tokenLifetimeSec > 604800)) {
    throw new RangeError(`tokenLifetimeSec must be an integer from 60 to 604800 seconds; got ${String(tokenLifetimeSec)}.`);
  }
  if (arcKeyDir !== undefined && (typeof arcKeyDir !== "string" || arcKeyDir.length === 0)) {
    throw new TypeError("arcKeyDir must be a folder path.");
  }
  if (onWarning !== undefined && typeof onWarning !== "function") throw new TypeError("onWarning must be a function (msg) => void.");
  if (upstream !== undefined && typeof upstream !== "function") throw new TypeError("upstream must be a function like getManagedToken.");
  if (options.faults !== undefined) validateFaults(options.faults);
  const ld = options.legacyDates;
  if (ld !== undefined && typeof ld !== "boolean" && ld !== "linux" && ld !== "windows") {
    throw new TypeError(`legacyDates must be true, false, "linux" or "windows"; got ${JSON.stringify(ld)}.`);
  }
  const rl = options.rateLimit;
  if (rl !== undefined && typeof rl !== "boolean") {
    if (typeof rl !== "object" || rl === null) throw new TypeError("rateLimit must be true or { perSecond, concurrent }.");
    for (const k of ["perSecond", "concurrent"] as const) {
      if (rl[k] !== undefined && (!Number.isInteger(rl[k]) || rl[k]! < 1)) throw new RangeError(`rateLimit.${k} must be a positive integer; got ${String(rl[k])}.`);
    }
  }
}

/**
 * Why `name` cannot be an allowed `Host` name, or `undefined`: a DNS name
 * (labels of letters, digits and `-`, up to 253 characters). Addresses need
 * no allowing where names are checked; a wildcard would give DNS rebinding
 * back.
 */
function allowedHostProblem(name: unknown): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "is not a host name";
  if (name.includes("*")) return "has a wildcard; list each name (a wildcard would let a web page re-bind a name of its own to this server)";
  if (name.length > 253 || !name.split(".").every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label))) {
    return "is not a host name (labels of letters, digits and '-', separated by dots)";
  }
  if (isIP(name) !== 0) return "is an address; addresses need no allowing (a server bound beyond loopback takes any)";
  return undefined;
}

/** A Host header that is a DNS name, IPv4 address or bracketed IPv6 address, with an optional port. */
const PLAIN_HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Start the local managed-identity endpoint.
 *
 * Throws `ERR_SERVER_START` (port in use, address not available, permission
 * denied) naming `host:port` and the fix, `ERR_KEY_FILE` for an unusable
 * signing key, `TypeError`/`RangeError` for bad options.
 *
 * @example
 * ```ts
 * const server = await startServer({ port: 0 });
 * console.log(server.env.IDENTITY_ENDPOINT, server.jwksUri);
 * await server.close();
 * ```
 */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  validate(options);
  const env = options.env ?? process.env;
  if (options.stateFile === true) await refuseSecondServer(env);
  const host = options.host ?? "127.0.0.1";
  const warn = options.onWarning ?? ((msg: string) => log.warning("startServer", msg));
  const tenantId = options.tenantId ?? DEFAULT_LOCAL_TENANT_ID;
  const issuerKind = options.issuer ?? "local";

  const identities = new IdentityRegistry({
    tenantId,
    identities: options.identities,
    acceptAnyIdentity: issuerKind === "chain" || options.acceptAnyIdentity === true,
  });
  let local: LocalIssuer | undefined;
  let chain: ChainIssuer | undefined;
  if (issuerKind === "local") {
    const key = await loadOrCreateSigningKey(ensureAzmiHome(env));
    if (key.warning !== undefined) warn(key.warning);
    local = new LocalIssuer({ key, tenantId, lifetimeSec: options.tokenLifetimeSec ?? DEFAULT_TOKEN_LIFETIME_SEC });
  } else {
    chain = new ChainIssuer({ env, upstream: options.upstream });
  }

  let arc: ArcChallenges | undefined;
  let arcDisabledReason: string | undefined;
  // Without arcKeyDir: AZMI_ARC_TOKENS_DIR when set, resolved as azmi's own
  // client resolves it (the folder it accepts key files from), else MSAL's.
  const fromEnv = options.arcKeyDir === undefined && Boolean(env.AZMI_ARC_TOKENS_DIR);
  const arcDir = options.arcKeyDir ?? (fromEnv ? arcTokensDir(env)! : DEFAULT_ARC_KEY_DIR);
  const arcProblem = arcKeyDirProblem(arcDir);
  if (arcProblem === undefined) arc = new ArcChallenges(arcDir);
  else if (options.arcKeyDir !== undefined) {
    throw new AzmiError(ErrorCode.InvalidArgument, `arcKeyDir: ${arcProblem}. Create it (owner-only) or omit arcKeyDir to disable the Azure Arc dialect.`);
  } else if (fromEnv) {
    arcDisabledReason = `the Azure Arc key folder ${arcProblem} (AZMI_ARC_TOKENS_DIR); create it (owner-only) or unset AZMI_ARC_TOKENS_DIR to enable the Arc dialect`;
  } else arcDisabledReason = `the Azure Arc key folder ${arcProblem}; create it (as root) to enable the Arc dialect`;

  const identityHeaderText = randomBytes(32).toString("hex");
  const msiSecretText = randomBytes(32).toString("hex");
  registerSecret(identityHeaderText);
  registerSecret(msiSecretText);

  const ctx: ServeContext = {
    identities,
    tokens: (local ?? chain)!,
    bodies: new BodyCache(),
    faults: options.faults !== undefined ? new FaultInjector(options.faults) : undefined,
    identityHeader: Buffer.from(identityHeaderText),
    msiSecret: Buffer.from(msiSecretText),
    legacyDates: options.legacyDates === true ? "linux" : options.legacyDates === false || options.legacyDates === undefined ? false : options.legacyDates,
    arc,
    arcDisabledReason,
    limiter: options.rateLimit ? new RateLimiter(options.rateLimit === true ? {} : options.rateLimit) : undefined,
    imdsQueries: new Map(),
  };

  // DNS-rebinding protection. Bound to loopback ⇒ only loopback Host names.
  // Bound beyond it (--host, for containers and other machines) ⇒ addresses,
  // localhost, this machine's name and names under .internal or .localhost:
  // never a name a web page could have re-bound to this machine.
  // Names the user allowed (--allow-host) are taken in both modes.
  const loopbackOnly = isLoopbackHost(host);
  const allowedNames = new Set((options.allowHosts ?? []).map((name) => name.toLowerCase()));
  const ownNames = loopbackOnly ? allowedNames : new Set([...ownHostNames(), ...allowedNames]);
  const hostNameAllowed = loopbackOnly
    ? (value: string | undefined) => isLoopbackHostHeader(value) || isAllowedHostHeader(value, allowedNames)
    : (value: string | undefined) => isDirectHostHeader(value, ownNames);
  // Host values already found good (clients repeat the same one), so the check is one lookup.
  const goodHosts = new Set<string>();
  const hostAllowed = (value: string | undefined): boolean => {
    if (value === undefined) return false;
    if (goodHosts.has(value)) return true;
    if (!hostNameAllowed(value)) return false;
    if (goodHosts.size >= 256) goodHosts.clear();
    goodHosts.add(value);
    return true;
  };
  let discovery: Buffer | undefined;
  let jwks: Buffer | undefined;
  // The discovery document per Host a client used (already checked by hostAllowed): its
  // jwks_uri must be reachable by that client (a container reaches host.docker.internal, not 127.0.0.1).
  const discoveryByHost = new Map<string, Buffer>();
  const discoveryFor = (hostHeader: string): Buffer => {
    const reachedAt = `http://${hostHeader.toLowerCase()}`;
    // Only a plain host[:port] makes a URL (hostAllowed takes any text under .internal or .localhost,
    // e.g. "a/#.internal"): anything else gets the server's own address, as before.
    if (reachedAt === url || local === undefined || !PLAIN_HOST_HEADER.test(hostHeader)) return discovery!;
    let doc = discoveryByHost.get(reachedAt);
    if (doc === undefined) {
      if (discoveryByHost.size >= 64) discoveryByHost.clear();
      doc = Buffer.from(JSON.stringify(local.discoveryDocument(reachedAt)));
      discoveryByHost.set(reachedAt, doc);
    }
    return doc;
  };
  let discoveryPath = "";
  let jwksPath = "";

  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    try {
      dispatch(req, res);
    } catch (error) {
      log.error("request", `unexpected failure: ${(error as Error).message}`);
      if (!res.headersSent) writeError(res, "imds", 500, "unknown", "Internal error in azmi serve.");
      else res.destroy();
    }
  };
  const server = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: CONNECTION_CHECK_INTERVAL_MS,
      // Repeated headers are joined (never silently dropped), so a doubled secret or Metadata header never matches.
      joinDuplicateHeaders: true,
      // node:http's own refusal of an HTTP/1.1 request without Host is an empty 400; dispatch gives it a reason.
      requireHostHeader: false,
    },
    answer,
  );
  // Plain token GETs are answered from the socket by the same `answer`; the
  // rest (and every request while faults or rate limits hook responses) by node:http.
  const fast =
    ctx.faults === undefined && ctx.limiter === undefined && env.AZMI_SERVE_FAST_PATH !== "0"
      ? attachFastPath(server, answer, { maxHeaderBytes: MAX_HEADER_BYTES, idleTimeoutMs: KEEP_ALIVE_TIMEOUT_MS, firstByteTimeoutMs: HEADERS_TIMEOUT_MS })
      : undefined;
  // A chain server hands out its user's real tokens, and two dialects have no
  // secret: on loopback, only that user's processes (and root's) get them.
  if (chain !== undefined && canTellPeerUser()) gateConnections(server, ownUserOnly, OTHER_USER_REFUSAL);
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    // Garbage, oversized headers or timeouts on one connection: answer if we can, then drop only that socket.
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = JSON.stringify({ error: "invalid_request", error_description: status === 431 ? "Request headers too large" : status === 408 ? "Request timeout" : "Malformed HTTP request" });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });

  function dispatch(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = req.url ?? "/";
    if (target.length > MAX_TARGET_BYTES) {
      writeError(res, "imds", 414, "invalid_request", `Request target longer than ${MAX_TARGET_BYTES} bytes`, { Connection: "close" });
      return;
    }
    const cl = req.headers["content-length"];
    if ((cl !== undefined && !(Number(cl) <= MAX_BODY_BYTES)) || (req.headers["transfer-encoding"] !== undefined && req.method !== "POST")) {
      writeError(res, "imds", 413, "invalid_request", `Request body larger than ${MAX_BODY_BYTES} bytes or not allowed here`, { Connection: "close" });
      return;
    }
    if (req.headers["x-forwarded-for"] !== undefined) {
      writeError(res, "imds", 400, "invalid_request", "Requests with an X-Forwarded-For header are not accepted");
      return;
    }
    if (req.headers.host === undefined && req.httpVersion !== "1.0") {
      writeError(res, "imds", 400, "invalid_request", "An HTTP/1.1 request must carry a Host header", { Connection: "close" });
      return;
    }
    if (!hostAllowed(req.headers.host)) {
      writeError(
        res,
        "imds",
        400,
        "invalid_request",
        loopbackOnly
          ? "The Host header must name this machine (127.0.0.1 or localhost); azmi serve bound to loopback refuses other names (DNS-rebinding protection) unless started with --allow-host NAME"
          : "The Host header must name this machine by an IP address, localhost, its host name or a name under .internal (host.docker.internal) or .localhost; azmi serve refuses other names (DNS-rebinding protection) unless started with --allow-host NAME",
      );
      return;
    }
    const q = target.indexOf("?");
    const path = q < 0 ? target : target.slice(0, q);
    const search = q < 0 ? "" : target.slice(q + 1);
    switch (path) {
      case IMDS_TOKEN_PATH:
      case `${IMDS_TOKEN_PATH}/`:
        handleImds(ctx, req, res, search);
        return;
      case APP_SERVICE_PATH:
        handleAppService(ctx, req, res, search);
        return;
      case MSI2017_PATH:
      case `${MSI2017_PATH}/`: // az 2.45 requests `${MSI_ENDPOINT}/?resource=…`
        handleMsi2017(ctx, req, res, search);
        return;
      case CLOUD_SHELL_PATH:
        handleCloudShell(ctx, req, res, search);
        return;
      case ARC_PATH:
        handleAzureArc(ctx, req, res, search);
        return;
      case SERVICE_FABRIC_PATH:
        handleServiceFabric(ctx, req, res, search);
        return;
    }
    if (discovery !== undefined && (path === discoveryPath || path === jwksPath)) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        writeError(res, "imds", 405, "method_not_allowed", `The request method '${req.method}' is not supported; use GET.`, { Allow: "GET, HEAD" });
        return;
      }
      writeJson(res, 200, path === discoveryPath ? discoveryFor(req.headers.host!) : jwks);
      return;
    }
    if (isSuspiciousPath(path)) {
      writeError(res, "imds", 400, "invalid_request", "Invalid request path");
      return;
    }
    writeError(res, "imds", 404, "not_found", "No such endpoint on azmi serve");
  }

  const port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.removeListener("listening", onListening);
      reject(startError(error, host, port));
    };
    const onListening = () => {
      server.removeListener("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ host, port, exclusive: true });
  });
  server.on("error", (error) => log.error("listen", `server error: ${error.message}`));
  // More than one new connection per loop turn (acceptors.ts says why).
  const acceptors = addAcceptors(server);
  if (acceptors.why !== undefined) log.info("startServer", `one accept per loop turn: ${acceptors.why}`);

  const bound = (server.address() as AddressInfo).port;
  const anyHost = host === "0.0.0.0" || host === "::";
  const urlHost = anyHost ? (host === "::" ? "[::1]" : "127.0.0.1") : host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const url = `http://${urlHost}:${bound}`;
  if (!isLoopbackHost(host)) {
    // With --issuer chain those tokens are the user's own (their az login, their service principal): say so.
    const whose = chain !== undefined ? "real tokens of your own credentials (--issuer chain)" : "tokens";
    warn(`azmi serve is listening on ${host.includes(":") ? `[${host}]` : host}:${bound}: it is reachable from other machines/containers on that network. Anyone who can reach it can get ${whose} from the IMDS and Cloud Shell dialects (they have no secret); bind 127.0.0.1 unless you need this.`);
  }

  if (local !== undefined) {
    local.setBaseUrl(url);
    discovery = Buffer.from(JSON.stringify(local.discoveryDocument()));
    jwks = Buffer.from(JSON.stringify(local.jwks()));
    discoveryPath = local.discoveryPath;
    jwksPath = local.jwksPath;
  }
  if (chain !== undefined) {
    const loop = chain.setSelf(bound, host);
    if (loop !== undefined) warn(loop);
  }

  const system = identities.system;
  const dialects: RunningServer["dialects"] = {
    imds: { AZURE_POD_IDENTITY_AUTHORITY_HOST: url },
    appService: { IDENTITY_ENDPOINT: `${url}${APP_SERVICE_PATH}`, IDENTITY_HEADER: identityHeaderText },
    machineLearning: { MSI_ENDPOINT: `${url}${MSI2017_PATH}`, MSI_SECRET: msiSecretText, DEFAULT_IDENTITY_CLIENT_ID: system.clientId },
    cloudShell: { MSI_ENDPOINT: `${url}${CLOUD_SHELL_PATH}` },
  };
  if (arc !== undefined) {
    dialects.azureArc = { IDENTITY_ENDPOINT: `${url}${ARC_PATH}`, IMDS_ENDPOINT: url };
    // Key files in another folder than the agent's: azmi's client reads them only
    // from the folder AZMI_ARC_TOKENS_DIR names, so the dialect's variables carry it
    // (MSAL-based clients accept only the agent's folder and cannot use this one).
    if (arcDir !== DEFAULT_ARC_KEY_DIR) dialects.azureArc.AZMI_ARC_TOKENS_DIR = arcDir;
  }
  const flat: Record<string, string> = {
    ...dialects.imds,
    ...dialects.machineLearning,
    ...(arc !== undefined ? { IMDS_ENDPOINT: url } : {}),
    ...dialects.appService,
  };

  let stateFile: string | undefined;
  if (options.stateFile === true) {
    const state: ServerState = {
      url,
      port: bound,
      host,
      pid: process.pid,
      issuer: issuerKind,
      oidcIssuer: local?.issuer,
      env: flat,
      dialects: dialects as unknown as Record<string, Record<string, string>>,
      startedAt: new Date().toISOString(),
    };
    try {
      const claimed = claimServerState(state, env);
      if (claimed === "taken") {
        // A state file appeared since the check at the start: left by a server
        // that is gone (replace it), or written by one started at the same
        // moment with this azmi folder (then this one refuses, as it would have).
        await refuseSecondServer(env);
        stateFile = writeServerState(state, env);
      } else {
        stateFile = claimed;
      }
    } catch (error) {
      await closeServer(server, fast, acceptors);
      arc?.close();
      throw error;
    }
  }

  log.info("startServer", `listening on ${url} (issuer ${issuerKind}${arc ? `, Arc keys in ${arc.dir}` : ""})`);
  let closed: Promise<void> | undefined;
  return {
    url,
    port: bound,
    host,
    env: flat,
    dialects,
    arcDisabledReason,
    issuer: local?.issuer ?? "",
    jwksUri: local?.jwksUri ?? "",
    discoveryUrl: local !== undefined ? `${url}${local.discoveryPath}` : "",
    tenantId,
    systemClientId: system.clientId,
    stateFile,
    close() {
      closed ??= (async () => {
        if (stateFile !== undefined) removeServerState(process.pid, url, env);
        arc?.close();
        ctx.bodies.clear();
        await closeServer(server, fast, acceptors);
      })();
      return closed;
    },
  };
}

function closeServer(server: http.Server, fast: FastPath | undefined, acceptors: Acceptors): Promise<void> {
  return new Promise((resolve) => {
    // The duplicates first: each keeps the port open until it is closed.
    acceptors.close();
    server.close(() => resolve());
    server.closeAllConnections();
    fast?.closeAll();
  });
}

/** How long the check for a server already running waits for its port (loopback or this machine's own address). */
const RUNNING_SERVER_CONNECT_MS = 1000;

/**
 * One state-file server per azmi folder. A second one used to take over
 * `serve.json` and `docker.env`, and when it stopped it removed the state of
 * the first, still running: `azmi env` then said no server ran, and
 * `docker.env` named a dead port. The state file names a live process whose
 * port still accepts connections (a reused pid alone is not enough).
 */
async function refuseSecondServer(env: NodeJS.ProcessEnv): Promise<void> {
  let running: ServerState | undefined;
  try {
    running = readServerState(env);
  } catch (error) {
    // A state file azmi does not trust (a symlink, opened up, another user's)
    // names no server of ours: this one's own state file replaces it (a
    // rename, which never follows a link). `azmi env` still refuses to read it.
    if (error instanceof AzmiError && error.code === ErrorCode.StateFile) return;
    throw error;
  }
  if (running === undefined || !(await acceptsConnections(running.url))) return;
  if (running.pid === process.pid) {
    // Two startServer({ stateFile: true }) in one program (or one PowerShell session's bridge): not "another" server.
    throw new AzmiError(
      ErrorCode.ServerStart,
      `azmi serve cannot start: this process already runs an azmi server at ${running.url} with the same state file (${serverStatePath(env)}). Close that one first, or start this one without the state file.`,
    );
  }
  const other: OtherServer = { pid: running.pid, url: running.url, stateFile: serverStatePath(env) };
  // The facts travel with the error, so a face other than the CLI (the
  // PowerShell module) can give its own advice instead of shell syntax.
  throw Object.assign(
    new AzmiError(
      ErrorCode.ServerStart,
      `azmi serve cannot start: another azmi server (pid ${other.pid}) is running at ${other.url} with the same state file (${other.stateFile}). Stop it first, or give this one its own folder: AZMI_HOME=DIR azmi serve (then azmi env --home DIR finds it).`,
    ),
    { otherServer: other },
  );
}

/**
 * The server that holds the state file, on the error that refuses a second
 * one (`otherServer`): no secrets, only where it is.
 *
 * @example
 * ```ts
 * catch (e) { const other = (e as { otherServer?: OtherServer }).otherServer; if (other) stop(other.pid); }
 * ```
 */
export interface OtherServer {
  pid: number;
  url: string;
  /** The state file both would write. */
  stateFile: string;
}

async function acceptsConnections(url: string): Promise<boolean> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  // Loaded here only: a server without a state file never pays for it (nor for node:net).
  const { netProbe } = require("../managed-identity/probe") as typeof import("../managed-identity/probe");
  const probe = await netProbe(target.hostname.replace(/^\[|\]$/g, ""), Number(target.port), RUNNING_SERVER_CONNECT_MS);
  return probe.outcome === "connected";
}

function startError(error: NodeJS.ErrnoException, host: string, port: number): AzmiError {
  const where = `${host}:${port}`;
  const fix =
    error.code === "EADDRINUSE"
      ? `the port is already in use. Stop the other process or choose another port (port 0 picks a free one).`
      : error.code === "EACCES"
        ? `permission denied (ports below 1024 need privileges). Choose a port above 1024.`
        : error.code === "EADDRNOTAVAIL"
          ? `the address is not available on this machine. Use 127.0.0.1, or an address of one of its interfaces.`
          : `${error.code ?? "error"}: ${error.message}.`;
  return new AzmiError(ErrorCode.ServerStart, `azmi serve cannot listen on ${where}: ${fix}`, { cause: error });
}

export { readServerState, serverStatePath, type ServerState } from "./state";

/** This machine's own names, as clients on the network write them in `Host` (lower case): its host name, and with `.local` (mDNS). */
function ownHostNames(): Set<string> {
  const name = (require("node:os") as typeof import("node:os")).hostname().toLowerCase();
  return new Set(name ? [name, `${name}.local`] : []);
}
