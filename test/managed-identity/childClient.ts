/**
 * Runs our ManagedIdentityCredential in a child process (inside a network
 * namespace for netns.spec.ts and the bench; with NODE_EXTRA_CA_CERTS for
 * tokenExchange.spec.ts) and prints one JSON line per call:
 * `{ ok, ms, code?, message?, cause?, token? }`, and whether the addon was loaded. The environment comes from the
 * parent (AZMI_HOME temp; no AZURE_POD_IDENTITY_AUTHORITY_HOST, so the real
 * address is used — which exists only inside the namespace).
 *
 * Usage: node childClient.js '{"probeImds":true,"probeBudgetMs":300,"calls":2}'
 */
import * as fs from "node:fs";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";

interface Args {
  probeImds?: boolean;
  probeBudgetMs?: number;
  timeBudgetMs?: number;
  calls?: number;
  scope?: string;
}

async function main(): Promise<void> {
  // NETWORK RULE: only ever against a loopback fake, or inside a namespace the test made.
  if (!process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST && process.env.AZMI_TEST_IN_NETNS !== "1") {
    process.stderr.write("refusing to run: set AZURE_POD_IDENTITY_AUTHORITY_HOST to a loopback fake, or run inside a test namespace\n");
    process.exit(2);
  }
  const args = JSON.parse(process.argv[2] ?? "{}") as Args;
  const credential = new ManagedIdentityCredential({ probeImds: args.probeImds, probeBudgetMs: args.probeBudgetMs, timeBudgetMs: args.timeBudgetMs });
  const out: unknown[] = [];
  for (let i = 0; i < (args.calls ?? 1); i++) {
    const started = performance.now();
    try {
      const t = await credential.getToken(args.scope ?? "https://vault.azure.net/.default");
      out.push({ ok: true, ms: performance.now() - started, token: t.token });
    } catch (e) {
      const c = (e as { cause?: Record<string, unknown> }).cause;
      const cause = c && { name: c.name, code: c.code, phase: c.phase, address: c.address, port: c.port, timeoutMs: c.timeoutMs, message: c.message };
      out.push({ ok: false, ms: performance.now() - started, code: (e as { code?: string }).code, name: (e as Error).name, message: (e as Error).message, cause });
    }
  }
  // Whether the native addon was loaded (mapped into this process): the
  // routing-table check (src/transport/routes.ts) spares loading it.
  const addonLoaded = fs.readFileSync("/proc/self/maps", "utf8").includes("azmi.node");
  process.stdout.write(`${JSON.stringify({ results: out, describe: credential.describe(), addonLoaded })}\n`);
}

void main();
