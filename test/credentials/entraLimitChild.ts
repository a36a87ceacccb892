/**
 * A real WorkloadIdentityCredential whose Entra ID call limit is shortened
 * (`LIMIT_MS`, the one thing the subclass changes) asks the authority at
 * `AZURE_AUTHORITY_HOST` for a token, with `requestOptions.timeout` when
 * `TIMEOUT_MS` is set, and prints one JSON line. In a child process because
 * the `@azure/identity` request it gives up on goes on (and retries) in the
 * background: in the test runner it opened sockets under later tests. Exits
 * as soon as it has printed.
 *
 * Usage: LIMIT_MS=1000 [TIMEOUT_MS=2000] node entraLimitChild.js
 */
import { ENTRA_CALL_LIMIT_MS } from "../../src/credentials/delegated";
import { WorkloadIdentityCredential } from "../../src/credentials/workloadIdentityCredential";
import { isLoopbackHost } from "../support/loopback";

class Shortened extends WorkloadIdentityCredential {
  ownLimit = 0;
  protected override callLimitMs(): number {
    this.ownLimit = super.callLimitMs();
    return Number(process.env.LIMIT_MS);
  }
}

async function main(): Promise<void> {
  // NETWORK RULE: only ever against a loopback authority.
  const authority = process.env.AZURE_AUTHORITY_HOST ?? "";
  if (!authority.startsWith("https://") || !isLoopbackHost(new URL(authority).hostname)) {
    process.stderr.write("refusing to run: AZURE_AUTHORITY_HOST must be a loopback https:// URL\n");
    process.exit(2);
  }
  const timeout = process.env.TIMEOUT_MS ? Number(process.env.TIMEOUT_MS) : undefined;
  const credential = new Shortened({ disableInstanceDiscovery: true });
  const started = performance.now();
  let out: Record<string, unknown>;
  try {
    await credential.getToken("https://storage.azure.com/.default", timeout ? { requestOptions: { timeout } } : {});
    out = { ok: true };
  } catch (e) {
    const error = e as Error & { code?: string };
    out = { ok: false, name: error.name, code: error.code, message: error.message };
  }
  out.ms = performance.now() - started;
  out.ownLimit = credential.ownLimit;
  out.entraLimit = ENTRA_CALL_LIMIT_MS;
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

void main();
