/**
 * Runs one fault-matrix case against our real `ManagedIdentityCredential`
 * over one transport (the native addon or the node:net fallback, chosen with
 * `AZMI_TRANSPORT` for the duration of the call), and checks everything the
 * case promises: outcome (`name`/`code` or a token), exact request count,
 * elapsed time under the bound, the token returned is the one issued last,
 * and no issued token or identity-header value appears in the error (message,
 * stack, JSON or cause chain) or in any log line written at verbose level.
 *
 * @example
 * ```ts
 * const r = await runFaultCase(FAULT_CASES[0], "node");
 * if (r.failures.length) console.error(r.failures.join("; "));
 * ```
 */
import { X509Certificate } from "node:crypto";
import { AzureLogger, getLogLevel, setLogLevel, type AzureLogLevel } from "@azure/logger";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MI_TEST_TIMING, ManagedIdentityCredential, type ManagedIdentityCredentialOptions } from "../../src/credentials/managedIdentityCredential";
import type { RetryTiming } from "../../src/managed-identity/retry";
import { describeExpectation, newContext, type FaultCase } from "./faultCases";
import { refusedPort, startFaultServer } from "./faultServer";
import { loopbackTls } from "../fakes/entra";

/** SHA-1 thumbprint (hex) of the loopback TLS certificate, as Service Fabric's IDENTITY_SERVER_THUMBPRINT. */
function loopbackThumbprint(): string {
  return new X509Certificate(loopbackTls().cert).fingerprint.replace(/:/g, "").toLowerCase();
}

export type TransportName = "native" | "node";

export interface FaultResult {
  transport: TransportName;
  name: string;
  /** "ok" or `Name/CODE`. */
  outcome: string;
  expected: string;
  message?: string;
  elapsedMs: number;
  boundMs: number;
  requests: number;
  expectedRequests: number;
  /** Empty when the case behaved as promised. */
  failures: string[];
}

/** Real sleeps; computed backoff at 1 %; no jitter (server-requested delays stay real). */
export const MATRIX_TIMING: RetryTiming = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => 1,
  scale: 0.01,
};

const SCOPE = "https://vault.azure.net/.default";
let home: string | undefined;

/** Temp AZMI_HOME shared by the runs of this process (removed by {@link cleanupFaultRuns}). */
function tempHome(): string {
  home ??= fs.mkdtempSync(path.join(os.tmpdir(), "azmi-fault-home-"));
  return home;
}

export function cleanupFaultRuns(): void {
  if (home) fs.rmSync(home, { recursive: true, force: true });
  home = undefined;
}

function errorText(err: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  let e: unknown = err;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    parts.push(String(e), String((e as Error).stack), (e as Error).message ?? "");
    try {
      parts.push(JSON.stringify(e));
    } catch {}
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}

export async function runFaultCase(c: FaultCase, transport: TransportName): Promise<FaultResult> {
  const ctx = newContext();
  let arcDir: string | undefined;
  if (c.source === "azure-arc") {
    arcDir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-fault-arc-"));
    ctx.arcKeyFile = path.join(arcDir, "matrix.key");
    fs.writeFileSync(ctx.arcKeyFile, ctx.identityHeader, { mode: 0o600 });
  }
  const secure = c.source === "service-fabric" && c.tls !== "plain";
  const server = c.steps === "refused" ? undefined : await startFaultServer(c.steps(ctx), secure ? { tls: loopbackTls() } : { onFirstBytes: c.tls === "plain" });
  const base = server ? server.url : `http://127.0.0.1:${await refusedPort()}`;
  const env: NodeJS.ProcessEnv = {
    AZMI_HOME: tempHome(),
    AZMI_ARC_HIMDS_PATH: "/nonexistent/azmi-fault-matrix/himds",
    // NETWORK RULE: even an App Service case can never fall back to the real IMDS.
    AZURE_POD_IDENTITY_AUTHORITY_HOST: c.source === undefined || c.source === "imds" ? base : "http://127.0.0.1:9",
  };
  if (c.source === "app-service") {
    env.IDENTITY_ENDPOINT = `${base}/MSI/token`;
    env.IDENTITY_HEADER = ctx.identityHeader;
  }
  if (c.source === "cloud-shell") env.MSI_ENDPOINT = `${base}/oauth2/token`;
  if (c.source === "azure-arc") {
    env.IDENTITY_ENDPOINT = `${base}/metadata/identity/oauth2/token`;
    env.IMDS_ENDPOINT = base;
    env.AZMI_ARC_TOKENS_DIR = arcDir!;
  }
  if (c.source === "service-fabric") {
    env.IDENTITY_ENDPOINT = `${base.replace(/^http:/, "https:")}/metadata/identity/oauth2/token`;
    env.IDENTITY_HEADER = ctx.identityHeader;
    // A certificate other than the pinned one: the same as pinning another thumbprint.
    env.IDENTITY_SERVER_THUMBPRINT = c.tls === "other-certificate" ? "0123456789abcdef0123456789abcdef01234567" : loopbackThumbprint();
  }
  const credential = new ManagedIdentityCredential({
    env,
    timeBudgetMs: c.budgetMs,
    [MI_TEST_TIMING]: MATRIX_TIMING,
  } as ManagedIdentityCredentialOptions);

  const saved = process.env.AZMI_TRANSPORT;
  process.env.AZMI_TRANSPORT = transport;
  // Every log line azmi writes at verbose level during the call is checked for secrets too.
  const logLines: string[] = [];
  const savedLog = AzureLogger.log;
  const savedLevel: AzureLogLevel | undefined = getLogLevel();
  AzureLogger.log = (...args: unknown[]) => void logLines.push(args.map(String).join(" "));
  setLogLevel("verbose");
  const started = performance.now();
  let token: string | undefined;
  let error: (Error & { code?: string }) | undefined;
  try {
    token = (await credential.getToken(SCOPE)).token;
  } catch (e) {
    error = e as Error & { code?: string };
  } finally {
    if (saved === undefined) delete process.env.AZMI_TRANSPORT;
    else process.env.AZMI_TRANSPORT = saved;
    AzureLogger.log = savedLog;
    setLogLevel(savedLevel);
  }
  const elapsedMs = performance.now() - started;
  const requests = server?.requests ?? 0;
  const heads = server?.heads ?? [];
  await server?.close();
  if (arcDir) fs.rmSync(arcDir, { recursive: true, force: true });

  const outcome = error ? `${error.name}/${error.code ?? "(no code)"}` : "ok";
  const expected = describeExpectation(c.expect);
  const failures: string[] = [];
  if (outcome !== expected) failures.push(`outcome ${outcome} (expected ${expected})${error ? `: ${error.message}` : ""}`);
  if (server && requests !== c.requests) failures.push(`${requests} requests (expected ${c.requests})`);
  if (elapsedMs > c.boundMs) failures.push(`took ${elapsedMs.toFixed(0)} ms (bound ${c.boundMs} ms)`);
  if (token !== undefined && token !== ctx.issued[ctx.issued.length - 1]) failures.push("returned a token the endpoint did not issue last");
  const text = error ? errorText(error) : "";
  const logs = logLines.join("\n");
  for (const secret of [...ctx.issued, ctx.identityHeader]) {
    if (text.includes(secret)) failures.push(`secret ${secret.slice(0, 8)}… leaked into the error`);
    if (logs.includes(secret)) failures.push(`secret ${secret.slice(0, 8)}… leaked into a log line`);
  }
  if (logLines.length === 0) failures.push("no log line was written at verbose level (the log check saw nothing)");
  const secretHeader = c.source === "app-service" ? "x-identity-header" : c.source === "service-fabric" ? "secret" : undefined;
  if (c.tls === "plain" || c.tls === "other-certificate") {
    // The identity header must never reach an endpoint that failed TLS verification.
    if (heads.some((h) => h.includes(ctx.identityHeader))) failures.push("the identity header was sent to an unverified endpoint");
  } else if (secretHeader && heads.some((h) => !h.toLowerCase().includes(`\r\n${secretHeader}: ${ctx.identityHeader}`))) {
    failures.push(`a request lacked the ${secretHeader} header`);
  }
  if (c.source === "azure-arc") {
    if (heads[0]?.toLowerCase().includes("\r\nauthorization:")) failures.push("the first Arc request carried Authorization");
    if (heads.slice(1).some((h) => !h.includes(`\r\nAuthorization: Basic ${ctx.identityHeader}`))) failures.push("an Arc retry lacked the key");
  }
  if (c.source === "cloud-shell" && heads.some((h) => !h.startsWith("POST "))) failures.push("a Cloud Shell request was not a POST");
  return {
    transport, name: c.name, outcome, expected, message: error?.message, elapsedMs, boundMs: c.boundMs,
    requests, expectedRequests: c.requests, failures,
  };
}
