/**
 * The offline issuer of `azmi serve`: RS256 JWTs with Entra-like claims,
 * signed with a key generated on first start and kept per user in
 * `azmiHome()/issuer/signing-key.pem` (folder 0700, file 0600), plus the
 * OIDC discovery document and JWKS that let local APIs validate them.
 *
 * Tokens are minted once per (identity, resource) and reused until their
 * refresh time (half-life for the default 24 h lifetime), so serving a
 * cached token costs no cryptography.
 *
 * @example
 * ```ts
 * const key = await loadOrCreateSigningKey(azmiHome());
 * const issuer = new LocalIssuer({ key, tenantId, lifetimeSec: 86400 });
 * issuer.setBaseUrl("http://127.0.0.1:4000");
 * const token = issuer.peek(identity, "https://vault.azure.net");
 * ```
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, sign, type KeyObject } from "node:crypto";
import fs = require("node:fs");
import path = require("node:path");
import { promisify } from "node:util";
import { refreshTimeFor } from "../../cache/tokenCache";
import { AzmiError, ErrorCode } from "../../errors";
import { registerSecret } from "../../log";
import { createPrivateFile, makeDirectory } from "../../paths";
import type { ServedIdentity } from "../identities";
import type { IssuedToken, TokenSource } from "./types";

/** Real managed-identity tokens live about 24 h. */
export const DEFAULT_TOKEN_LIFETIME_SEC = 24 * 60 * 60;
const RSA_BITS = 2048;
/** Distinct (identity, resource) tokens kept; beyond this the cache starts over (bounds memory under junk resources). */
const MAX_MINTED = 10_000;

/** The signing key and the public facts derived from it. */
export interface SigningKey {
  privateKey: KeyObject;
  /** RFC 7638 JWK thumbprint; the `kid` in every token header. */
  kid: string;
  /** Public JWK (`kty`, `n`, `e`). */
  jwk: { kty: string; n: string; e: string };
  file: string;
  /** True when this start generated the key. */
  created: boolean;
  /** Set when the key file had to be repaired (e.g. its mode tightened to 0600). */
  warning?: string;
}

/**
 * Read the key file without following a symlink, refusing one that is not
 * a regular file or belongs to another user, and tightening a mode that
 * lets group/others read it (a restore or a `cp` without `-p` loosens it).
 */
function readPrivateKeyFile(file: string): { pem: string; warning?: string } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    const refuse = (why: string) =>
      new AzmiError(ErrorCode.KeyFile, `The azmi serve signing key ${file} ${why}. Delete it (a new key will be generated) or fix it.`);
    if (!st.isFile()) throw refuse("is not a regular file");
    const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
    if (uid !== undefined && st.uid !== uid) throw refuse(`belongs to another user (uid ${st.uid})`);
    let warning: string | undefined;
    if ((st.mode & 0o077) !== 0) {
      fs.fchmodSync(fd, 0o600);
      warning = `The signing key ${file} was readable by other users (mode 0${(st.mode & 0o777).toString(8)}); its mode is now 0600. If others could read it, delete it so a new key is generated.`;
    }
    return { pem: fs.readFileSync(fd, "utf8"), ...(warning !== undefined ? { warning } : {}) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Path of the signing key under an azmi home folder.
 *
 * @example
 * ```ts
 * signingKeyPath(azmiHome()); // ~/.azmi/issuer/signing-key.pem
 * ```
 */
export function signingKeyPath(home: string): string {
  return path.join(home, "issuer", "signing-key.pem");
}

/**
 * Load the per-user signing key, generating it on first use. A file that is
 * not an RSA private key of at least 2048 bits fails with `ERR_KEY_FILE`
 * naming the file and the fix.
 *
 * @example
 * ```ts
 * const key = await loadOrCreateSigningKey("/home/me/.azmi");
 * console.log(key.kid);
 * ```
 */
export async function loadOrCreateSigningKey(home: string): Promise<SigningKey> {
  const file = signingKeyPath(home);
  const dir = path.dirname(file);
  makeDirectory(dir, 0o700);
  try {
    fs.chmodSync(dir, 0o700);
  } catch {
    // Not ours to change (shared folder); the key file itself is still 0600.
  }
  const existing = readExistingKey(file);
  if (existing !== undefined) return existingKey(existing, file);
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: RSA_BITS });
  const created = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  // Published only where nothing is yet: if another process created the key meanwhile, use theirs.
  if (!createPrivateFile(file, created)) {
    // Read as at start-up (no symlink, ours, 0600): whatever now sits at the
    // name may have been planted between the first read and the link.
    const theirs = readExistingKey(file);
    if (theirs === undefined) throw new AzmiError(ErrorCode.KeyFile, `The azmi serve signing key ${file} disappeared while it was being created; start again.`);
    return existingKey(theirs, file);
  }
  return fromPem(created, file, true);
}

/** The key file's PEM (see `readPrivateKeyFile`), `undefined` when there is none; `ERR_KEY_FILE` for one azmi will not use. */
function readExistingKey(file: string): { pem: string; warning?: string } | undefined {
  try {
    return readPrivateKeyFile(file);
  } catch (error) {
    if (error instanceof AzmiError) throw error;
    if ((error as NodeJS.ErrnoException).code === "ELOOP") {
      throw new AzmiError(ErrorCode.KeyFile, `The azmi serve signing key ${file} is a symbolic link; azmi only uses a regular file it owns. Delete the link (a new key will be generated) or put the key file itself there.`, { cause: error });
    }
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new AzmiError(
        ErrorCode.KeyFile,
        `Cannot read the azmi serve signing key ${file} (${(error as NodeJS.ErrnoException).code}). Fix its permissions, or delete it so a new key is generated.`,
        { cause: error },
      );
    }
    return undefined;
  }
}

/** A key read from its file, with the warning reading it gave (a loosened mode that was tightened). */
function existingKey(read: { pem: string; warning?: string }, file: string): SigningKey {
  return { ...fromPem(read.pem, file, false), ...(read.warning !== undefined ? { warning: read.warning } : {}) };
}

function fromPem(pem: string, file: string, created: boolean): SigningKey {
  const corrupt = (why: string, cause?: unknown) =>
    new AzmiError(
      ErrorCode.KeyFile,
      `The azmi serve signing key ${file} is unusable (${why}). Delete the file and start again; a new key will be generated (tokens signed with the old key stop validating).`,
      { cause },
    );
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: "pem" });
  } catch (error) {
    throw corrupt("not a PEM private key", error);
  }
  if (privateKey.asymmetricKeyType !== "rsa") throw corrupt(`a ${privateKey.asymmetricKeyType ?? "unknown"} key, expected RSA`);
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < RSA_BITS) throw corrupt(`an RSA key of ${bits} bits, expected at least ${RSA_BITS}`);
  const pub = createPublicKey(privateKey).export({ format: "jwk" }) as { kty: string; n: string; e: string };
  const jwk = { kty: "RSA", n: pub.n, e: pub.e };
  const kid = createHash("sha256").update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })).digest("base64url");
  return { privateKey, kid, jwk, file, created };
}

interface Minted {
  token: IssuedToken;
  refreshAt: number;
}

/** Options of {@link LocalIssuer}. */
export interface LocalIssuerOptions {
  key: SigningKey;
  tenantId: string;
  lifetimeSec?: number;
  now?: () => number;
}

/** The offline token source: mints and caches RS256 JWTs. */
export class LocalIssuer implements TokenSource {
  readonly kind = "local" as const;
  private readonly key: SigningKey;
  private readonly tenantId: string;
  private readonly lifetimeSec: number;
  private readonly now: () => number;
  /**
   * Minted tokens by identity key, then resource. Two lookups by strings that
   * are the same objects on every request (the query memo keeps them) cost
   * less than building and hashing one joined key per request.
   */
  private readonly minted = new Map<string, Map<string, Minted>>();
  private mintedCount = 0;
  private baseUrl = "";

  constructor(options: LocalIssuerOptions) {
    this.key = options.key;
    this.tenantId = options.tenantId;
    this.lifetimeSec = options.lifetimeSec ?? DEFAULT_TOKEN_LIFETIME_SEC;
    this.now = options.now ?? Date.now;
  }

  /** Set once the server listens: the issuer URL contains its address. Clears minted tokens. */
  setBaseUrl(url: string): void {
    this.baseUrl = url;
    this.minted.clear();
    this.mintedCount = 0;
  }

  /** The `iss` claim and the discovery document's `issuer`. */
  get issuer(): string {
    return `${this.baseUrl}/${this.tenantId}/v2.0`;
  }

  /** Where the JWKS is served. */
  get jwksUri(): string {
    return `${this.baseUrl}${this.jwksPath}`;
  }

  /** Path (no host) of the discovery document. */
  get discoveryPath(): string {
    return `/${this.tenantId}/v2.0/.well-known/openid-configuration`;
  }

  /** Path (no host) of the JWKS. */
  get jwksPath(): string {
    return `/${this.tenantId}/discovery/v2.0/keys`;
  }

  /**
   * The OpenID Connect discovery document. `reachedAt`: the base URL the
   * client reached the server by (`http://host.docker.internal:4000` from a
   * container), for the URLs it must fetch next (jwks_uri): `127.0.0.1` is the
   * container itself there. The `issuer` stays the one in the tokens.
   */
  discoveryDocument(reachedAt: string = this.baseUrl): Record<string, unknown> {
    const base = `${reachedAt}/${this.tenantId}`;
    return {
      issuer: this.issuer,
      jwks_uri: `${reachedAt}${this.jwksPath}`,
      // Required by OIDC Discovery; azmi serve issues tokens only through its MI dialects.
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      response_types_supported: ["token"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
      claims_supported: ["aud", "iss", "iat", "nbf", "exp", "sub", "oid", "tid", "appid", "azp", "idtyp", "ver", "xms_mirid"],
      tenant_id: this.tenantId,
    };
  }

  /** The JSON Web Key Set with the one signing key. */
  jwks(): { keys: Array<Record<string, string>> } {
    return { keys: [{ kty: "RSA", use: "sig", alg: "RS256", kid: this.key.kid, n: this.key.jwk.n, e: this.key.jwk.e }] };
  }

  peek(identity: ServedIdentity, resource: string): IssuedToken {
    let byResource = this.minted.get(identity.key);
    const entry = byResource?.get(resource);
    const now = this.now();
    if (entry !== undefined && now < entry.refreshAt) return entry.token;
    const fresh = this.mint(identity, resource, now);
    if (this.mintedCount >= MAX_MINTED) {
      this.minted.clear();
      this.mintedCount = 0;
      byResource = undefined;
    }
    if (byResource === undefined) this.minted.set(identity.key, (byResource = new Map()));
    if (!byResource.has(resource)) this.mintedCount++;
    byResource.set(resource, fresh);
    return fresh.token;
  }

  fetch(identity: ServedIdentity, resource: string): Promise<IssuedToken> {
    return Promise.resolve(this.peek(identity, resource));
  }

  /** Sign a new token (no caching). */
  mint(identity: ServedIdentity, resource: string, now = this.now()): Minted {
    const iat = Math.floor(now / 1000);
    const exp = iat + this.lifetimeSec;
    const header = { alg: "RS256", kid: this.key.kid, typ: "JWT" };
    const claims = {
      aud: resource,
      iss: this.issuer,
      iat,
      nbf: iat,
      exp,
      appid: identity.clientId,
      appidacr: "2",
      azp: identity.clientId,
      azpacr: "2",
      idp: this.issuer,
      idtyp: "app",
      oid: identity.objectId,
      sub: identity.objectId,
      tid: this.tenantId,
      uti: randomBytes(16).toString("base64url"),
      ver: "2.0",
      xms_mirid: identity.resourceId,
    };
    const signingInput = `${b64(header)}.${b64(claims)}`;
    const signature = sign("sha256", Buffer.from(signingInput), this.key.privateKey).toString("base64url");
    const accessToken = `${signingInput}.${signature}`;
    registerSecret(accessToken);
    return {
      token: {
        accessToken,
        expiresOnTimestamp: exp * 1000,
        notBeforeTimestamp: iat * 1000,
        resource,
        clientId: identity.clientId,
      },
      // Re-minted when a client's cache would refresh it (half-life for long-lived tokens, else
      // five minutes before expiry but never before half-life).
      refreshAt: refreshTimeFor({ token: accessToken, expiresOnTimestamp: exp * 1000 }, iat * 1000),
    };
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
