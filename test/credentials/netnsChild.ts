/**
 * Child process for `netns.spec.ts` (runs INSIDE a network namespace): builds
 * azmi's DefaultAzureCredential with the options given as JSON, makes `calls`
 * token requests and prints one JSON line with each call's time, outcome and
 * report.
 *
 * Usage: node dist/test/credentials/netnsChild.js '{"calls":2,"options":{"probeBudgetMs":300}}'
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";

async function main(): Promise<void> {
  const { calls, options } = JSON.parse(process.argv[2] ?? "{}") as { calls: number; options?: object };
  const { DefaultAzureCredential } = require(path.resolve(__dirname, "../../src/index.js")) as typeof import("../../src/index");
  const credential = new DefaultAzureCredential(options ?? {});
  const results = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    const { token, report, error } = await credential.getTokenWithReport("https://management.azure.com/.default");
    results.push({
      ms: performance.now() - started,
      ok: token !== undefined,
      error: error ? { name: (error as Error).name, code: (error as { code?: string }).code } : undefined,
      links: report.links.map((l) => ({ link: l.link, outcome: l.outcome, reason: l.reason })),
      winner: report.winner,
      fromMemo: report.fromMemo === true,
    });
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}

main().catch((e) => {
  process.stderr.write(String((e as Error).stack));
  process.exit(1);
});
