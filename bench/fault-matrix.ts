/**
 * Prints the client fault-injection matrix (issue 6 §3) as a table: every
 * case of `test/reliability/faultCases.ts` run against our
 * `ManagedIdentityCredential` over the native addon and the node:net
 * fallback, with the outcome, the requests the endpoint saw, the elapsed
 * time and the case's bound. The same cases run as mocha tests in
 * `test/reliability/faultMatrix.spec.ts`. Exit code 1 when any case broke
 * its promise (wrong outcome, wrong request count, over the bound, a secret
 * in an error).
 *
 * @example
 * ```sh
 * npx tsc -p . && node dist/bench/fault-matrix.js                 # both transports
 * node dist/bench/fault-matrix.js --transport node               # one
 * node dist/bench/fault-matrix.js --json > matrix.json           # machine-readable
 * ```
 */
import { nativeLoadError, nativeTransport } from "../src/transport/http";
import { FAULT_CASES } from "../test/reliability/faultCases";
import { cleanupFaultRuns, runFaultCase, type FaultResult, type TransportName } from "../test/reliability/runFaultCase";

function parseArgs(argv: string[]): { transports: TransportName[]; json: boolean } {
  let transports: TransportName[] = ["native", "node"];
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--transport" && (argv[i + 1] === "native" || argv[i + 1] === "node")) transports = [argv[++i] as TransportName];
    else {
      process.stderr.write(`fault-matrix: unknown argument ${JSON.stringify(a)}. Usage: fault-matrix [--transport native|node] [--json]\n`);
      process.exit(2);
    }
  }
  return { transports, json };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

function padLeft(s: string, n: number): string {
  return s.length >= n ? s : " ".repeat(n - s.length) + s;
}

async function main(): Promise<number> {
  const { transports, json } = parseArgs(process.argv.slice(2));
  const usable = transports.filter((t) => {
    if (t === "native" && !nativeTransport()) {
      process.stderr.write(`fault-matrix: native transport skipped (${nativeLoadError()}); run "npm run build:native"\n`);
      return false;
    }
    return true;
  });
  const results: FaultResult[] = [];
  const started = performance.now();
  try {
    for (const transport of usable) {
      for (const c of FAULT_CASES) results.push(await runFaultCase(c, transport));
    }
  } finally {
    cleanupFaultRuns();
  }
  const totalS = (performance.now() - started) / 1000;
  const failed = results.filter((r) => r.failures.length > 0);

  if (json) {
    process.stdout.write(`${JSON.stringify({ results, failed: failed.length, seconds: totalS })}\n`);
    return failed.length ? 1 : 0;
  }
  const nameWidth = Math.max(...FAULT_CASES.map((c) => c.name.length), 4);
  const outWidth = Math.max(...results.map((r) => r.outcome.length), 7);
  const header = `${pad("transport", 9)}  ${pad("case", nameWidth)}  ${pad("outcome", outWidth)}  ${padLeft("req", 3)}  ${padLeft("elapsed", 9)}  ${padLeft("bound", 8)}  result`;
  const lines = [header, "-".repeat(header.length)];
  for (const r of results) {
    lines.push(
      `${pad(r.transport, 9)}  ${pad(r.name, nameWidth)}  ${pad(r.outcome, outWidth)}  ${padLeft(String(r.requests), 3)}  ${padLeft(`${r.elapsedMs.toFixed(0)} ms`, 9)}  ${padLeft(`${r.boundMs} ms`, 8)}  ${r.failures.length ? `FAIL: ${r.failures.join("; ")}` : "pass"}`,
    );
  }
  lines.push("", `${results.length - failed.length}/${results.length} cases as expected (${FAULT_CASES.length} cases × ${usable.join(", ")}), ${totalS.toFixed(1)} s`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fault-matrix: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
