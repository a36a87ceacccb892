/**
 * Azure Arc (spec §4.6): `GET {IDENTITY_ENDPOINT}?api-version=2020-06-01&resource=…`
 * with `Metadata: true`; the agent answers 401 with
 * `WWW-Authenticate: Basic realm=<path of a .key file>`; we read that file and
 * repeat the request with `Authorization: Basic <file contents>`.
 *
 * The key file is only read when it is a regular file with a `.key`
 * extension, at most 4096 bytes, directly inside the agent's token folder
 * (`/var/opt/azcmagent/tokens/` on Linux,
 * `%ProgramData%\AzureConnectedMachineAgent\Tokens\` on Windows; tests
 * override it with `AZMI_ARC_TOKENS_DIR`) — also after resolving symlinks,
 * so a hostile listener on the Arc port cannot make us send an arbitrary
 * file. Violations are `AuthenticationError` `ERR_MI_ARC_CHALLENGE` (the
 * chain stops; JS maps them to "unavailable").
 *
 * User-assigned identities are forwarded as `client_id`/`object_id`/`msi_res_id`
 * and the response must echo the same value (case-insensitive), as MSAL JS 7.2
 * does; otherwise `ERR_MI_IDENTITY_NOT_CONFIRMED`.
 *
 * @example
 * ```ts
 * const arc = createAzureArc(new URL("http://127.0.0.1:40342/metadata/identity/oauth2/token"), process.env);
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");
import type { IdentitySelector } from "../credentials/types";
import { AuthenticationError, ErrorCode } from "../errors";
import { registerSecret } from "../log";
import type { RawResponse } from "../transport/types";
import { endpointOf, query, selectedId, withQuery, type HttpSource, type MiRequest } from "./types";
import { isLoopbackHost, type HttpUrl } from "../transport/http";

export const ARC_API_VERSION = "2020-06-01";
export const ARC_DEFAULT_ENDPOINT = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
export const ARC_LINUX_TOKENS_DIR = "/var/opt/azcmagent/tokens";
export const ARC_LINUX_HIMDS = "/opt/azcmagent/bin/himds";
/** Largest key file the agent writes (MSAL's `AZURE_ARC_SECRET_FILE_MAX_SIZE_BYTES`). */
export const ARC_MAX_KEY_BYTES = 4096;

const PARAM = { clientId: "client_id", objectId: "object_id", resourceId: "msi_res_id" } as const;

/**
 * The folder key files must live in, for this platform and environment.
 *
 * @example
 * ```ts
 * arcTokensDir({}, "linux"); // "/var/opt/azcmagent/tokens"
 * ```
 */
export function arcTokensDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string | undefined {
  if (env.AZMI_ARC_TOKENS_DIR) return path.resolve(env.AZMI_ARC_TOKENS_DIR);
  if (platform === "linux") return ARC_LINUX_TOKENS_DIR;
  if (platform === "win32") {
    return path.win32.join(env.ProgramData ?? "C:\\ProgramData", "AzureConnectedMachineAgent", "Tokens");
  }
  return undefined;
}

/**
 * Whether the Arc agent is installed here (the file test MSAL uses when the env pair is absent).
 *
 * @example
 * ```ts
 * arcAgentInstalled(process.env); // false off Arc machines
 * ```
 */
export function arcAgentInstalled(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): boolean {
  const himds =
    env.AZMI_ARC_HIMDS_PATH ||
    (platform === "linux"
      ? ARC_LINUX_HIMDS
      : platform === "win32"
        ? path.win32.join(env.ProgramFiles ?? "C:\\Program Files", "AzureConnectedMachineAgent", "himds.exe")
        : undefined);
  if (himds === undefined) return false;
  // statSync, which the start-up already ran (src/boot/bundle.ts), rather than
  // existsSync: the same answer (any error is "not installed") without
  // compiling another fs function on every first IMDS token.
  try {
    return fs.statSync(himds, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

function challengeError(endpoint: string, detail: string): AuthenticationError {
  return new AuthenticationError(`ManagedIdentityCredential: Azure Arc at ${endpoint} ${detail}.`, {
    code: ErrorCode.MiArcChallenge,
    statusCode: 401,
  });
}

/**
 * Read the key file a 401 challenge names, after every rule above.
 *
 * @example
 * ```ts
 * const key = readArcKey("/var/opt/azcmagent/tokens/abc.key", arcTokensDir(env), "127.0.0.1:40342");
 * ```
 */
export function readArcKey(realm: string, tokensDir: string | undefined, endpoint: string): string {
  if (!tokensDir) throw challengeError(endpoint, `asked for a key file, but Azure Arc is only supported on Linux and Windows (this is ${process.platform})`);
  const file = path.resolve(realm);
  if (path.extname(file).toLowerCase() !== ".key") {
    throw challengeError(endpoint, `named a key file without the .key extension (${JSON.stringify(file)}); refusing to read it`);
  }
  if (path.dirname(file) !== path.resolve(tokensDir)) {
    throw challengeError(
      endpoint,
      `named a key file outside ${tokensDir} (${JSON.stringify(file)}); refusing to read it${
        isLoopbackHost(endpoint.replace(/:\d+$/, "")) ? ". If it is azmi serve with AZMI_ARC_TOKENS_DIR set, set the same folder here (azmi env --dialect arc prints it)" : ""
      }`,
    );
  }
  const unreadable = (e: unknown) =>
    challengeError(endpoint, `named a key file that cannot be read (${JSON.stringify(file)}: ${(e as NodeJS.ErrnoException).code ?? "error"})`);
  let real: string;
  let realDir: string;
  try {
    real = fs.realpathSync(file);
    realDir = fs.realpathSync(tokensDir);
  } catch (e) {
    throw unreadable(e);
  }
  if (path.dirname(real) !== realDir) {
    throw challengeError(endpoint, `named a key file that links outside ${tokensDir} (${JSON.stringify(file)}); refusing to read it`);
  }
  // A folder anyone may write to, without the sticky bit, lets another user
  // rename, replace or remove the key files in it, and plant what they like
  // under a name the endpoint asks for: the agent's own folder is never like
  // that. (Links planted there are dealt with below: no symlink is followed,
  // and a file with more than one name is refused.)
  if (process.platform !== "win32") {
    let dirMode: number;
    try {
      dirMode = fs.statSync(realDir).mode;
    } catch (e) {
      throw unreadable(e);
    }
    if ((dirMode & 0o002) !== 0 && (dirMode & 0o1000) === 0) {
      throw challengeError(
        endpoint,
        `asked for a key file in ${tokensDir}${realDir !== path.resolve(tokensDir) ? ` (${realDir})` : ""}, a folder any user can write to (mode ${(dirMode & 0o7777).toString(8)}); refusing to read keys from it. Remove others' write access (chmod o-w), or point AZMI_ARC_TOKENS_DIR at the agent's own folder`,
      );
    }
  }
  // Read through one descriptor opened without following a link, so what is
  // checked (a regular file with one name, its size) is what is read. A hard
  // link planted in the folder to another file of ours would pass every path
  // check; the agent's key files have one name. (Windows has no O_NOFOLLOW;
  // there the folder's ACLs do this job.)
  let key: string;
  let fd: number;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw unreadable(e);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw challengeError(endpoint, `named a key path that is not a regular file (${JSON.stringify(file)})`);
    if (stat.nlink > 1) {
      throw challengeError(endpoint, `named a key file with ${stat.nlink} names (a hard link: ${JSON.stringify(file)}); an Arc key file has one, refusing to read it`);
    }
    // Never more than a key can be, even if the file grows after the check.
    const bytes = Buffer.alloc(ARC_MAX_KEY_BYTES + 1);
    const length = fs.readSync(fd, bytes, 0, bytes.length, 0);
    if (stat.size > ARC_MAX_KEY_BYTES || length > ARC_MAX_KEY_BYTES) {
      throw challengeError(endpoint, `named a key file of ${Math.max(stat.size, length)} bytes, more than the ${ARC_MAX_KEY_BYTES} an Arc key can be`);
    }
    // The agent writes the key without a line break; an editor may add one. Anything else must be header-safe.
    key = bytes.toString("utf8", 0, length).replace(/\r?\n$/, "");
  } finally {
    fs.closeSync(fd);
  }
  registerSecret(key);
  if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(key)) {
    throw challengeError(endpoint, `named a key file (${JSON.stringify(file)}) whose contents an HTTP header cannot carry`);
  }
  return key;
}

export function createAzureArc(url: HttpUrl, env: NodeJS.ProcessEnv): HttpSource {
  const endpoint = endpointOf(url);
  return {
    kind: "azure-arc",
    name: "Azure Arc",
    url,
    endpoint,
    checkSelector() {},
    buildRequest(resource: string, selector: IdentitySelector) {
      const id = selectedId(selector);
      const q = query([
        ["api-version", ARC_API_VERSION],
        ["resource", resource],
        id ? [PARAM[id[0]], id[1]] : ["", undefined],
      ]);
      return { url: withQuery(url, q), method: "GET", headers: { Metadata: "true" } };
    },
    answerChallenge(response: RawResponse, request: MiRequest): MiRequest {
      const header = response.headers["www-authenticate"];
      if (header === undefined) throw challengeError(endpoint, "answered 401 without a WWW-Authenticate header");
      const m = /^\s*Basic\s+realm=(.+)$/i.exec(header);
      if (!m) throw challengeError(endpoint, "answered 401 with a WWW-Authenticate header that is not 'Basic realm=<key file>'");
      const realm = m[1]!.trim().replace(/^"(.*)"$/, "$1");
      const key = readArcKey(realm, arcTokensDir(env), endpoint);
      return { ...request, headers: { ...request.headers, Authorization: `Basic ${key}` } };
    },
    verifyResponse(response: RawResponse, selector: IdentitySelector) {
      const id = selectedId(selector);
      if (!id) return;
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(response.body.toString("utf8")) as Record<string, unknown>;
      } catch {}
      const echoed =
        id[0] === "clientId" ? body.client_id : id[0] === "objectId" ? body.object_id : (body.msi_res_id ?? body.mi_res_id);
      if (typeof echoed !== "string" || echoed.toLowerCase() !== id[1].toLowerCase()) {
        throw new AuthenticationError(
          // The echoed value is not quoted: an agent (or what poses as one) may echo anything, the key it was sent included.
          `ManagedIdentityCredential: Azure Arc at ${endpoint} did not confirm the requested user-assigned identity (${PARAM[id[0]]} ${
            typeof echoed === "string" ? `echoed as another value (${echoed.length} characters)` : "not echoed"
          }); the agent may not support user-assigned identities. Omit ${id[0]} or update the Arc agent.`,
          { code: ErrorCode.MiIdentityNotConfirmed },
        );
      }
    },
  };
}
