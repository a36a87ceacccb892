/**
 * Shared test helpers for the managed-identity suites: a safe environment
 * (IMDS always pointed at loopback, a temp AZMI_HOME), fast real retry timing,
 * and assertions that an error never carries a secret.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MI_TEST_TIMING, ManagedIdentityCredential, type ManagedIdentityCredentialOptions } from "../../src/credentials/managedIdentityCredential";
import type { RetryTiming } from "../../src/managed-identity/retry";

/** A port nothing listens on is not guaranteed; 9 (discard) is closed on this machine's loopback. */
export const DEAD_IMDS = "http://127.0.0.1:9";

const homes: string[] = [];

/** A fresh temp AZMI_HOME (removed by `cleanupHomes`). */
export function tempHome(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-mi-home-"));
  homes.push(dir);
  return dir;
}

export function cleanupHomes(): void {
  for (const d of homes.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * An environment for a credential under test: IMDS at a dead loopback port
 * unless overridden (NETWORK RULE), a temp AZMI_HOME, no Arc agent file.
 */
export function safeEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    AZURE_POD_IDENTITY_AUTHORITY_HOST: DEAD_IMDS,
    AZMI_HOME: tempHome(),
    AZMI_ARC_HIMDS_PATH: "/nonexistent/azmi-test/himds",
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Real sleeps, computed backoff scaled to 1 % (server-requested delays are not scaled). */
export const fastTiming: RetryTiming = {
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  random: () => 1,
  scale: 0.01,
};

/** A credential over `env` with fast retries. */
export function credential(env: NodeJS.ProcessEnv, options: ManagedIdentityCredentialOptions = {}): ManagedIdentityCredential {
  return new ManagedIdentityCredential({ env, ...options, [MI_TEST_TIMING]: fastTiming } as ManagedIdentityCredentialOptions);
}

/** The rejection of a promise (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; statusCode?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  assert.fail("expected a rejection");
}

/** None of `secrets` appears in the error's string, stack, JSON or cause chain. */
export function assertNoSecrets(err: unknown, secrets: string[]): void {
  const seen = new Set<unknown>();
  const texts: string[] = [];
  let e: unknown = err;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    texts.push(String(e), String((e as Error).stack), (e as Error).message ?? "");
    try {
      texts.push(JSON.stringify(e));
    } catch {}
    e = (e as { cause?: unknown }).cause;
  }
  const all = texts.join("\n");
  for (const s of secrets) assert.ok(!all.includes(s), `secret ${s.slice(0, 6)}… leaked into the error: ${all.slice(0, 300)}`);
}
