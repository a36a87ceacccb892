/**
 * Shared plumbing for the third-party client specs: start `azmi serve`
 * in-process, run a real client (a .NET console, Debian's Python
 * azure.identity, `az`, or a child Node with @azure/identity) with ONLY one
 * dialect's variables, and check the token it printed against the served JWKS.
 *
 * @example
 * ```ts
 * const h = useServedClients();            // inside describe()
 * it("...", async () => {
 *   const out = await runClient(PYTHON, [PY_SCRIPT, "mi", VAULT], h.env(h.server.dialects.appService));
 *   await h.expectToken(out, { resource: VAULT, clientId: h.server.systemClientId });
 * });
 * ```
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { startServer, type RunningServer, type ServeOptions } from "../../src/serve/server";

/** Repository root (dist/test/clients/… → ../../..). */
export const ROOT = path.resolve(__dirname, "..", "..", "..");
export const VAULT = "https://vault.azure.net";
export const ARM = "https://management.azure.com";

/** A user-assigned identity the server knows, with all three selectors. */
export const UAMI = {
  clientId: "6b2a51c8-1d3e-4c4f-9a70-0c2d1e3f4a5b",
  objectId: "1f0e2d3c-4b5a-4697-8877-665544332211",
  resourceId:
    "/subscriptions/00000000-0000-0000-0000-00000000a2a1/resourceGroups/azmi-local/providers/Microsoft.ManagedIdentity/userAssignedIdentities/azmi-client-tests",
};

/** Marker the Python network guard (python/guard/sitecustomize.py) prints when it refuses a non-loopback lookup. */
export const GUARD_MARKER = "AZMI-NETWORK-GUARD";
export const GUARD_DIR = path.join(ROOT, "test", "clients", "python", "guard");

export interface ClientRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout's last line parsed as JSON, when it is JSON. */
  json?: { token?: string; expiresOn?: string; error?: string; type?: string; detail?: string };
  elapsedMs: number;
}

/**
 * Run one client process with exactly `env` (nothing inherited), bounded by
 * `timeoutMs` (killed after it, so a hanging client cannot hang the suite).
 */
export function runClient(command: string, args: string[], env: Record<string, string>, timeoutMs = 90_000): Promise<ClientRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      const lines = stdout.trim().split("\n");
      let json: ClientRun["json"];
      try {
        json = JSON.parse(lines[lines.length - 1] ?? "");
      } catch {
        json = undefined;
      }
      resolve({ status, stdout, stderr, json, elapsedMs: Date.now() - started });
    });
  });
}

/** Describe a run for assertion messages (tokens are cut so a failure never prints one whole). */
export function describeRun(run: ClientRun): string {
  const cut = (s: string) => s.replace(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, "<jwt>").slice(0, 3000);
  return `exit ${run.status}\nstdout: ${cut(run.stdout)}\nstderr: ${cut(run.stderr)}`;
}

export interface ExpectedClaims {
  resource: string;
  /** appid / azp of the selected identity. */
  clientId: string;
  /** oid of the selected identity, when the test knows it. */
  objectId?: string;
  /** xms_mirid, when the test knows it. */
  resourceId?: string;
}

export interface ServedHarness {
  readonly server: RunningServer;
  /** A temp folder private to this describe block (HOME, AZMI_HOME, AZURE_CONFIG_DIR live under it). */
  readonly dir: string;
  /** Minimal process environment for a client plus `vars` (one dialect's variables). */
  env(vars: Record<string, string>): Record<string, string>;
  /** Verify the token against the served JWKS and the claims; returns the payload. */
  expectToken(run: ClientRun, expected: ExpectedClaims): Promise<Record<string, unknown>>;
  /** Assert the run's output holds none of the server's secrets (IDENTITY_HEADER, MSI_SECRET): error bodies must never echo them. */
  expectNoSecrets(run: ClientRun): void;
}

/**
 * In a describe block: start one `azmi serve` (offline issuer, the {@link UAMI}
 * identity configured, AZMI_HOME in a temp folder) before the tests and
 * close it after.
 */
export function useServedClients(options: Omit<ServeOptions, "env"> = {}): ServedHarness {
  let server: RunningServer | undefined;
  let dir = "";
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let systemObjectId: string | undefined;
  before(async function () {
    this.timeout(90_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-clients-"));
    fs.mkdirSync(path.join(dir, "home"));
    fs.mkdirSync(path.join(dir, "azmi-home"), { mode: 0o700 });
    server = await startServer({
      identities: [UAMI],
      ...options,
      env: { AZMI_HOME: path.join(dir, "azmi-home"), PATH: process.env.PATH ?? "" },
    });
    jwks = createRemoteJWKSet(new URL(server.jwksUri));
  });
  after(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get server() {
      assert.ok(server, "server not started");
      return server;
    },
    get dir() {
      return dir;
    },
    env(vars) {
      return clientEnv(dir, vars);
    },
    async expectToken(run, expected) {
      this.expectNoSecrets(run);
      const payload = await verifyToken(run, expected, { issuer: server!.issuer, tenantId: server!.tenantId, jwks: jwks! });
      if (expected.clientId === server!.systemClientId && expected.objectId === undefined) {
        // The server does not publish the system identity's object id: every client must see the same one.
        systemObjectId ??= String(payload.oid);
        assert.equal(payload.oid, systemObjectId, "system-assigned oid differs between clients");
        assert.notEqual(payload.oid, UAMI.objectId);
      }
      return payload;
    },
    expectNoSecrets(run) {
      const secrets = [server!.dialects.appService.IDENTITY_HEADER, server!.dialects.machineLearning.MSI_SECRET];
      for (const secret of secrets) {
        if (secret) assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), "a server secret appears in the client's output");
      }
    },
  };
}

/** Who must have signed a token: the server's issuer URL, tenant and key set. */
export interface Trust {
  issuer: string;
  tenantId: string;
  jwks: JWTVerifyGetKey;
}

/**
 * Check a client run printed a token that validates against `trust` with
 * the expected claims, and that the network guard never fired.
 *
 * @example
 * ```ts
 * await verifyToken(run, { resource: VAULT, clientId }, { issuer, tenantId, jwks: createLocalJWKSet(keys) });
 * ```
 */
export async function verifyToken(run: ClientRun, expected: ExpectedClaims, trust: Trust): Promise<Record<string, unknown>> {
  assert.equal(run.status, 0, `client failed:\n${describeRun(run)}`);
  const token = run.json?.token;
  assert.ok(typeof token === "string" && token.length > 0, `no token printed:\n${describeRun(run)}`);
  const { payload, protectedHeader } = await jwtVerify(token, trust.jwks, {
    issuer: trust.issuer,
    audience: expected.resource,
    algorithms: ["RS256"],
  });
  assert.equal(protectedHeader.alg, "RS256");
  assert.equal(payload.tid, trust.tenantId);
  assert.equal(payload.appid, expected.clientId);
  assert.match(String(payload.oid), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  if (expected.objectId !== undefined) assert.equal(payload.oid, expected.objectId);
  if (expected.resourceId !== undefined) assert.equal(String(payload.xms_mirid).toLowerCase(), expected.resourceId.toLowerCase());
  // The client's own idea of expiry must be the token's. Clients that add `expires_in` to their own clock at
  // request start may land earlier than `exp` by up to the time the run took (a loaded machine), never later.
  if (run.json?.expiresOn !== undefined && /^\d+$/.test(run.json.expiresOn)) {
    const expiresOn = Number(run.json.expiresOn);
    const exp = Number(payload.exp);
    const slackSec = Math.ceil(run.elapsedMs / 1000) + 1;
    assert.ok(expiresOn <= exp + 1 && expiresOn >= exp - slackSec, `expiresOn ${expiresOn} vs exp ${exp} (run took ${run.elapsedMs} ms)`);
  }
  assert.ok(!run.stderr.includes(GUARD_MARKER), `a non-loopback connection was attempted:\n${describeRun(run)}`);
  return payload as Record<string, unknown>;
}

/**
 * The whole environment a client process gets: PATH, a private HOME, .NET's
 * quiet-mode switches, the Python network guard, and the dialect's variables.
 * Nothing else is inherited, so no identity variable of the test runner (or of
 * CI) can leak into a client and pick another dialect.
 */
export function clientEnv(dir: string, vars: Record<string, string>): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: path.join(dir, "home"),
    TMPDIR: os.tmpdir(),
    LANG: "C.UTF-8",
    DOTNET_CLI_TELEMETRY_OPTOUT: "1",
    DOTNET_NOLOGO: "1",
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE: "1",
    // Python clients (azure.identity and az) refuse every non-loopback lookup/connection.
    PYTHONPATH: GUARD_DIR,
    PYTHONDONTWRITEBYTECODE: "1",
    ...vars,
  };
}
