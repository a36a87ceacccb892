/**
 * One process of the chain bench (run by `bench/chain.ts`, usually inside a
 * network namespace): builds a DefaultAzureCredential — azmi's or
 * `@azure/identity`'s — and times `calls` consecutive token requests,
 * printing one JSON line `{ lib, ms: [...], outcome, links? }`.
 *
 * @example
 * ```sh
 * node dist/bench/chainChild.js '{"lib":"azmi","calls":3}'
 * ```
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";

const SCOPE = "https://management.azure.com/.default";

async function main(): Promise<void> {
  const { lib, calls } = JSON.parse(process.argv[2] ?? "{}") as { lib: "azmi" | "identity"; calls: number };
  const ms: number[] = [];
  let outcome = "";
  let links: string[] | undefined;
  let setupMs = 0;
  if (lib === "azmi") {
    const t0 = performance.now();
    // What a user's `require("azmi")` loads: package.json main (the bundle through the code cache).
    const azmi = require(path.resolve(__dirname, "../..")) as typeof import("../src/index");
    const credential = new azmi.DefaultAzureCredential();
    setupMs = performance.now() - t0;
    for (let i = 0; i < calls; i++) {
      const started = performance.now();
      const { token, report, error } = await credential.getTokenWithReport(SCOPE);
      ms.push(performance.now() - started);
      outcome = token ? "token" : `${(error as Error).name}`;
      links ??= report.links.map((l) => `${l.link}:${l.outcome}:${l.ms.toFixed(2)} ms:${l.reason}`);
    }
  } else {
    const t0 = performance.now();
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const credential = new DefaultAzureCredential();
    setupMs = performance.now() - t0;
    for (let i = 0; i < calls; i++) {
      const started = performance.now();
      try {
        await credential.getToken(SCOPE);
        outcome = "token";
      } catch (e) {
        outcome = (e as Error).name;
      }
      ms.push(performance.now() - started);
    }
  }
  process.stdout.write(`${JSON.stringify({ lib, setupMs, ms, outcome, links })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
