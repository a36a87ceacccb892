/**
 * Claim: `azmi serve` answers a cached token under load at ≥ 80 % of the
 * requests/s of a bare Node `http` server answering a constant body of the
 * same size, with p99 < 5 ms and zero errors, every security check on.
 *
 * Each server runs in its own child process; autocannon runs here with 64
 * connections, 10 s per server (`BENCH_SECONDS`) split into alternating
 * rounds (`BENCH_ROUNDS`, default 5) so a shared machine's load hits both alike.
 * Prints both results and the ratio; exits 1 if the claim does not hold.
 *
 * Usage: npx tsc -p . && node dist/bench/serve.js
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { autocannon, type CannonResult } from "./autocannon";

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const TARGET = path.join(__dirname, "serveTarget.js");

interface Target {
  child: ChildProcess;
  /** Lines the child printed after its ready line. */
  lines: string[];
  url: string;
  path: string;
  headers: Record<string, string>;
}

function startTarget(args: string[], env: NodeJS.ProcessEnv): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TARGET, ...args], { env, stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    let target: Target | undefined;
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (target === undefined) {
          target = { child, lines: [], ...(JSON.parse(line) as Omit<Target, "child" | "lines">) };
          resolve(target);
        } else target.lines.push(line);
      }
    });
    child.once("exit", (code) => reject(new Error(`bench target exited with ${code}`)));
  });
}

/** Rounds per server, alternating, so load drift on a shared machine hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

interface Totals {
  requests: number;
  seconds: number;
  p99s: number[];
  p50s: number[];
  errors: number;
  timeouts: number;
  non2xx: number;
  cpuMicros: number;
}

/** CPU (user + system, µs) the target process has used so far. */
async function cpuOf(target: Target): Promise<number> {
  const before = target.lines.length;
  target.child.stdin!.write("cpu\n");
  while (target.lines.length === before) await new Promise((r) => setTimeout(r, 5));
  return (JSON.parse(target.lines[target.lines.length - 1]!) as { cpuMicros: number }).cpuMicros;
}

function run(target: Target, seconds: number): Promise<CannonResult> {
  return autocannon({ url: `${target.url}${target.path}`, headers: target.headers, connections: CONNECTIONS, duration: seconds });
}

async function round(target: Target, t: Totals, seconds: number): Promise<void> {
  const cpu0 = await cpuOf(target);
  const r = await run(target, seconds);
  t.cpuMicros += (await cpuOf(target)) - cpu0;
  add(t, r, seconds);
}

function add(t: Totals, r: CannonResult, seconds: number): void {
  t.requests += r.requests.total;
  t.seconds += seconds;
  t.p99s.push(r.latency.p99);
  t.p50s.push(r.latency.p50);
  t.errors += r.errors;
  t.timeouts += r.timeouts;
  t.non2xx += r.non2xx;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-bench-serve-"));
  const env = { ...process.env, AZMI_HOME: home };
  const children: ChildProcess[] = [];
  try {
    const azmi = await startTarget(["azmi"], env);
    children.push(azmi.child);
    const probe = await fetch(`${azmi.url}${azmi.path}`, { headers: azmi.headers });
    const bodyBytes = (await probe.arrayBuffer()).byteLength;
    const bare = await startTarget(["bare", String(bodyBytes)], env);
    children.push(bare.child);
    // The bare server gets the very same request bytes, so both parse the same request line and headers.
    bare.path = azmi.path;
    bare.headers = azmi.headers;
    // Warm up both (JIT; azmi mints and caches its token on the first request).
    await run(azmi, 2);
    await run(bare, 2);
    const per = SECONDS / ROUNDS;
    const a: Totals = { requests: 0, seconds: 0, p99s: [], p50s: [], errors: 0, timeouts: 0, non2xx: 0, cpuMicros: 0 };
    const b: Totals = { requests: 0, seconds: 0, p99s: [], p50s: [], errors: 0, timeouts: 0, non2xx: 0, cpuMicros: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      await round(azmi, a, per);
      await round(bare, b, per);
    }
    const rps = (t: Totals) => t.requests / t.seconds;
    const row = (name: string, t: Totals) =>
      `${name.padEnd(28)} ${rps(t).toFixed(0).padStart(8)} req/s   p50 ${String(median(t.p50s)).padStart(3)} ms   p99 median ${String(median(t.p99s)).padStart(3)} ms (worst ${Math.max(...t.p99s)})   errors ${t.errors}   timeouts ${t.timeouts}   non-2xx ${t.non2xx}   server CPU ${cpuPer(t).toFixed(1)} µs/request`;
    const cpuPer = (t: Totals) => t.cpuMicros / Math.max(1, t.requests);
    const ratio = rps(a) / rps(b);
    console.log(`serve bench: ${CONNECTIONS} connections, ${SECONDS} s per server in ${ROUNDS} alternating rounds, body ${bodyBytes} bytes, loopback, load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);
    console.log(row("azmi serve (IMDS, cached)", a));
    console.log(row("bare node:http, same size", b));
    console.log(`ratio azmi/bare: ${(ratio * 100).toFixed(1)} % of requests/s  (claim: >= 80 %, p99 < 5 ms, zero errors)`);
    // Less sensitive to other load: what one request costs the server process.
    console.log(`CPU ratio bare/azmi: ${((cpuPer(b) / cpuPer(a)) * 100).toFixed(1)} % (the requests/s share azmi would reach when the server is the bottleneck)`);
    const ok = ratio >= 0.8 && median(a.p99s) < 5 && a.errors === 0 && a.timeouts === 0 && a.non2xx === 0;
    console.log(ok ? "claim holds" : "claim DOES NOT hold");
    if (!ok && median(b.p99s) >= 5) console.log(`note: the bare server's own p99 is ${median(b.p99s)} ms here: this machine is too busy for the 5 ms bound to be measurable`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    for (const c of children) c.kill();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

void main();
