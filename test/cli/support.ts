/**
 * Helpers for the CLI specs: run the real `bin/azmi.js` as a child process
 * with a clean environment (temp AZMI_HOME/HOME, an empty PATH so no `az`,
 * `pwsh` or `azd` is found, no identity variables inherited), and a tiny
 * App Service–dialect endpoint on 127.0.0.1 that writes exact bytes and
 * counts what it receives.
 *
 * @example
 * ```ts
 * const r = await runAzmi(["token", "--output", "raw"], { IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret });
 * assert.equal(r.code, 0);
 * ```
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** Repository root (this file runs from dist/test/cli). */
export const ROOT = path.resolve(__dirname, "../../..");
export const AZMI_BIN = path.join(ROOT, "bin/azmi.js");
export const START_JS = path.join(ROOT, "dist/src/cli/start.js");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A fresh temp folder, removed by {@link cleanupTemp}. */
const temps: string[] = [];
export function tempDir(prefix = "azmi-cli-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
export function cleanupTemp(): void {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * The environment a child gets: nothing from ours except what Node needs,
 * a private AZMI_HOME and HOME, an empty PATH folder, and IMDS pointed at
 * a dead loopback port unless `extra` says otherwise.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const home = tempDir("azmi-cli-home-");
  const emptyBin = path.join(home, "bin");
  fs.mkdirSync(emptyBin);
  const env: NodeJS.ProcessEnv = {
    PATH: emptyBin,
    HOME: home,
    AZMI_HOME: path.join(home, ".azmi"),
    LANG: "C.UTF-8",
    NO_COLOR: "1",
    // Network rule: whatever a test forgets, IMDS is never the real address.
    // Port 9 (discard) on loopback has nothing listening: connection refused.
    AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Start `node <script> args` with `env`; the caller owns the child. */
export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [script, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Run `azmi args` to completion (killed after `timeoutMs`, which fails the test).
 */
export function runAzmi(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), timeoutMs = 20_000): Promise<RunResult> {
  return collect(spawnNode(AZMI_BIN, args, env), timeoutMs);
}

/** Wait for a child to end, collecting its output. */
export function collect(child: ChildProcess, timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`azmi did not finish within ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Resolve with the first `lines` complete lines of a running child's stdout
 * (and what stderr said so far), e.g. `azmi serve --json`'s JSON line.
 */
export function firstLines(child: ChildProcess, lines: number, timeoutMs = 20_000): Promise<{ lines: string[]; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => reject(new Error(`no ${lines} line(s) within ${timeoutMs} ms; stdout=${out} stderr=${err}`)), timeoutMs);
    const onData = (d: string) => {
      out += d;
      const parts = out.split("\n");
      if (parts.length > lines) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        resolve({ lines: parts.slice(0, lines), stderr: () => err });
      }
    };
    child.stdout!.setEncoding("utf8").on("data", onData);
    child.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before printing ${lines} line(s); stdout=${out} stderr=${err}`));
    });
  });
}

/** Wait for a child to exit; resolves with its code and signal. */
export function exited(child: ChildProcess, timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** A JWT-shaped token with random parts (never a real token). */
export function fakeJwt(claims: Record<string, unknown> = {}): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ typ: "JWT", alg: "RS256" })}.${b64({ aud: "https://management.azure.com/", ...claims, jti: crypto.randomUUID() })}.${crypto.randomBytes(32).toString("base64url")}`;
}

export interface FakeAppService {
  /** Value for IDENTITY_ENDPOINT. */
  endpoint: string;
  /** Value for IDENTITY_HEADER (random per fake). */
  secret: string;
  /** The access token it hands out. */
  token: string;
  clientId: string;
  /** Every request line (method + url) it received, in order. */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** Make the next answers a 401 JSON error (App Service shape) instead of a token. */
  rejectWith401: boolean;
  close(): Promise<void>;
}

/** Seconds a fake token lives (24 h, like real managed-identity tokens). */
const FAKE_LIFETIME_S = 86_400;

/**
 * An App Service 2019 endpoint (spec §4.4.1) on 127.0.0.1: checks the secret
 * header, answers the documented JSON with `expires_in`/`expires_on`/`not_before`
 * as strings and the identity's `client_id`.
 */
export async function startFakeAppService(): Promise<FakeAppService> {
  const fake: FakeAppService = {
    endpoint: "",
    secret: crypto.randomBytes(16).toString("hex"),
    token: fakeJwt(),
    clientId: "5e29463d-71df-4cd1-a3d7-aa33c1df9f7b",
    requests: [],
    rejectWith401: false,
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    fake.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (url.pathname !== "/msi/token") return send(404, { statusCode: 404, message: "Not found", correlationId: crypto.randomUUID() });
    if (req.headers["x-identity-header"] !== fake.secret || fake.rejectWith401) {
      return send(401, { statusCode: 401, message: "The identity header is missing or wrong.", correlationId: crypto.randomUUID() });
    }
    const resource = url.searchParams.get("resource") ?? "";
    const now = Math.floor(Date.now() / 1000);
    send(200, {
      access_token: fake.token,
      expires_in: String(FAKE_LIFETIME_S),
      expires_on: String(now + FAKE_LIFETIME_S),
      not_before: String(now - 300),
      resource,
      token_type: "Bearer",
      client_id: url.searchParams.get("client_id") ?? fake.clientId,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  fake.endpoint = `http://127.0.0.1:${port}/msi/token`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/** A loopback port with nothing listening (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Resolve once `check()` is true (polled every 10 ms); reject after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
