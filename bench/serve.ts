/**
 * Claim (issue 4): `azmi serve` answers a cached token under load at ≥ 80 % of
 * the requests/s of a bare Node `http` server answering a constant body of
 * the same size, with p99 < 5 ms and zero errors, every security check on.
 *
 * Setup: each server runs in its own child process (`serveTarget.ts`); the
 * bare server gets the very same request bytes as azmi (IMDS path and
 * `Metadata: true`). The load generator is **wrk** (Debian package; see
 * `scripts/setup-system.sh`) with 64 connections, 1 thread (`-t1`,
 * `BENCH_WRK_THREADS`), `--latency` and `bench/wrk-report.lua`, which prints
 * exact p50/p90/p99/max and counts errors = socket errors (connect, read,
 * write) + timeouts + non-2xx responses.
 *
 * CPU pinning (the headline): on this 2-core machine, the server under test
 * runs on CPU 0 (`taskset -a -p -c 0`, all its threads) and wrk on CPU 1
 * (`taskset -c 1`), so the load generator never steals the server's core and
 * the latency measured is the server's. Every server is measured the same
 * way, in alternating rounds (`BENCH_ROUNDS`, default 5; `BENCH_SECONDS` per
 * server and mode, default 10) so load drift on a shared machine hits both
 * alike. An unpinned pass (same wrk options, the scheduler free to place
 * everything) is printed after it for comparison; the claim is judged on the
 * pinned pass. Other processes on the machine are not pinned away: the load
 * average is printed with the numbers.
 *
 * Without wrk (or with `BENCH_GENERATOR=autocannon`) it falls back to
 * autocannon (in this process, unpinned) and says so. Exit code 0 when the claim holds, 1 otherwise.
 *
 * Usage: npm run build && node dist/bench/serve.js   (or `npm run bench -- serve`)
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { autocannon } from "./autocannon";
import { hasTaskset, hasWrk, pin, wrk, type LoadResult } from "./wrk";

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Rounds per server and mode, alternating, so load drift on a shared machine hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THREADS = Number(process.env.BENCH_WRK_THREADS ?? 1);
const TARGET = path.join(__dirname, "serveTarget.js");
const MIN_RATIO = 0.8;
const MAX_P99_MS = 5;

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

/** CPU (user + system, µs) the target process has used so far. */
async function cpuOf(target: Target): Promise<number> {
  const before = target.lines.length;
  target.child.stdin!.write("cpu\n");
  while (target.lines.length === before) await new Promise((r) => setTimeout(r, 5));
  return (JSON.parse(target.lines[target.lines.length - 1]!) as { cpuMicros: number }).cpuMicros;
}

/** How one pass drives load: wrk pinned, wrk unpinned, or autocannon. */
interface Mode {
  name: string;
  /** CPU list for the servers (`taskset -a -p -c`). */
  serverCpus: string;
  /** CPU list for wrk, or undefined for unpinned. */
  loadCpus?: string;
  generator: "wrk" | "autocannon";
}

async function load(mode: Mode, target: Target, seconds: number): Promise<LoadResult> {
  const url = `${target.url}${target.path}`;
  if (mode.generator === "wrk") {
    return wrk({ url, headers: target.headers, connections: CONNECTIONS, seconds, threads: THREADS, cpus: mode.loadCpus });
  }
  const cpu0 = process.cpuUsage();
  const r = await autocannon({ url, headers: target.headers, connections: CONNECTIONS, duration: seconds });
  const cpu = process.cpuUsage(cpu0);
  return {
    requests: r.requests.total,
    seconds,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    socketErrors: r.errors - r.timeouts,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

interface Totals {
  rounds: LoadResult[];
  /** Server CPU (µs) over the measured rounds. */
  serverCpuMicros: number;
}

async function round(mode: Mode, target: Target, t: Totals, seconds: number): Promise<void> {
  const cpu0 = await cpuOf(target);
  t.rounds.push(await load(mode, target, seconds));
  t.serverCpuMicros += (await cpuOf(target)) - cpu0;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sum = (t: Totals, f: (r: LoadResult) => number) => t.rounds.reduce((n, r) => n + f(r), 0);

/** Summary of one server in one mode: req/s over all rounds, percentiles = median of the rounds' values, max = worst. */
function summarize(t: Totals) {
  const requests = sum(t, (r) => r.requests);
  const seconds = sum(t, (r) => r.seconds);
  return {
    rps: requests / seconds,
    p50: median(t.rounds.map((r) => r.p50Ms)),
    p90: median(t.rounds.map((r) => r.p90Ms)),
    p99: median(t.rounds.map((r) => r.p99Ms)),
    p99Worst: Math.max(...t.rounds.map((r) => r.p99Ms)),
    max: Math.max(...t.rounds.map((r) => r.maxMs)),
    socketErrors: sum(t, (r) => r.socketErrors),
    timeouts: sum(t, (r) => r.timeouts),
    non2xx: sum(t, (r) => r.non2xx),
    serverCpuPerRequestUs: t.serverCpuMicros / Math.max(1, requests),
    serverCpuShare: t.serverCpuMicros / 1e6 / seconds,
    generatorCpuShare: sum(t, (r) => r.generatorCpuSeconds) / seconds,
  };
}
type Summary = ReturnType<typeof summarize>;
const errorsOf = (s: Summary) => s.socketErrors + s.timeouts + s.non2xx;

function row(name: string, s: Summary): string {
  const ms = (x: number) => x.toFixed(2).padStart(6);
  const gen = Number.isNaN(s.generatorCpuShare) ? "?" : `${(s.generatorCpuShare * 100).toFixed(0)} %`;
  return (
    `  ${name.padEnd(26)} ${s.rps.toFixed(0).padStart(7)} req/s  p50 ${ms(s.p50)}  p90 ${ms(s.p90)}  p99 ${ms(s.p99)} (worst round ${s.p99Worst.toFixed(2)})  max ${ms(s.max)} ms` +
    `  errors ${errorsOf(s)} (socket ${s.socketErrors}, timeout ${s.timeouts}, non-2xx ${s.non2xx})` +
    `  server CPU ${s.serverCpuPerRequestUs.toFixed(1)} µs/req, busy ${(s.serverCpuShare * 100).toFixed(0)} %; load generator busy ${gen}`
  );
}

interface Verdict {
  ok: boolean;
  azmi: Summary;
  bare: Summary;
}

async function pass(mode: Mode, azmi: Target, bare: Target): Promise<Verdict> {
  pin(azmi.child.pid!, mode.serverCpus);
  pin(bare.child.pid!, mode.serverCpus);
  // Warm up both in this placement (JIT; azmi mints and caches its token on the first request).
  await load(mode, azmi, 2);
  await load(mode, bare, 2);
  const per = Math.max(1, Math.round(SECONDS / ROUNDS));
  const a: Totals = { rounds: [], serverCpuMicros: 0 };
  const b: Totals = { rounds: [], serverCpuMicros: 0 };
  const load0 = os.loadavg()[0]!;
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate who goes first, so neither always runs right after the other.
    if (i % 2 === 0) {
      await round(mode, azmi, a, per);
      await round(mode, bare, b, per);
    } else {
      await round(mode, bare, b, per);
      await round(mode, azmi, a, per);
    }
  }
  const sa = summarize(a);
  const sb = summarize(b);
  const ratio = sa.rps / sb.rps;
  // Each azmi round ran right next to one bare round: the median of those pairs' ratios shrugs off one round that a burst of other load hit.
  const paired = median(a.rounds.map((r, i) => r.requests / r.seconds / (b.rounds[i]!.requests / b.rounds[i]!.seconds)));
  const ok = ratio >= MIN_RATIO && sa.p99 < MAX_P99_MS && errorsOf(sa) === 0;
  console.log(`\n${mode.name}: ${ROUNDS} rounds × ${per} s per server, load average ${load0.toFixed(2)} → ${os.loadavg()[0]!.toFixed(2)}`);
  console.log(row("azmi serve (IMDS, cached)", sa));
  console.log(row("bare node:http, same size", sb));
  console.log(
    `  ratio azmi/bare ${(ratio * 100).toFixed(1)} % of req/s (≥ 80 % ${ratio >= MIN_RATIO ? "✔" : "✘"}; median of the ${ROUNDS} paired rounds ${(paired * 100).toFixed(1)} %); ` +
      `azmi p99 ${sa.p99.toFixed(2)} ms (< 5 ms ${sa.p99 < MAX_P99_MS ? "✔" : "✘"}), bare p99 ${sb.p99.toFixed(2)} ms; ` +
      `azmi errors ${errorsOf(sa)} (zero ${errorsOf(sa) === 0 ? "✔" : "✘"}); ` +
      `server CPU per request bare/azmi ${((sb.serverCpuPerRequestUs / sa.serverCpuPerRequestUs) * 100).toFixed(1)} %`,
  );
  // 64 closed-loop connections: mean latency = connections / throughput (Little's law), for any server.
  console.log(
    `  Little's law: ${CONNECTIONS} busy connections at ${sb.rps.toFixed(0)} req/s ⇒ mean latency ${((CONNECTIONS / sb.rps) * 1000).toFixed(2)} ms for any server at that rate; ` +
      `p99 < 5 ms needs a mean well under 5 ms, i.e. well over ${CONNECTIONS / (MAX_P99_MS / 1000)} req/s`,
  );
  return { ok, azmi: sa, bare: sb };
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-bench-serve-"));
  const env = { ...process.env, AZMI_HOME: home };
  const children: ChildProcess[] = [];
  const ncpu = os.cpus().length;
  const all = `0-${ncpu - 1}`;
  const useWrk = process.env.BENCH_GENERATOR !== "autocannon" && hasWrk();
  const canPin = useWrk && ncpu >= 2 && hasTaskset();
  try {
    const azmi = await startTarget(["azmi"], env);
    children.push(azmi.child);
    const probe = await fetch(`${azmi.url}${azmi.path}`, { headers: azmi.headers });
    if (probe.status !== 200) throw new Error(`azmi serve answered the bench request with ${probe.status}`);
    const bodyBytes = (await probe.arrayBuffer()).byteLength;
    const bare = await startTarget(["bare", String(bodyBytes)], env);
    children.push(bare.child);
    // The bare server gets the very same request bytes, so both parse the same request line and headers.
    bare.path = azmi.path;
    bare.headers = azmi.headers;

    const modes: Mode[] = [];
    if (canPin) modes.push({ name: "PINNED (servers on CPU 0, wrk on CPU 1) — the claim is judged here", serverCpus: "0", loadCpus: "1", generator: "wrk" });
    if (useWrk) modes.push({ name: `UNPINNED (for comparison: servers and wrk anywhere on CPUs ${all})`, serverCpus: all, generator: "wrk" });
    else modes.push({ name: "AUTOCANNON, unpinned (no wrk)", serverCpus: all, generator: "autocannon" });

    console.log(
      `serve bench: ${CONNECTIONS} connections over loopback, body ${bodyBytes} bytes, ${useWrk ? `wrk -t${THREADS} -c${CONNECTIONS} --latency -s bench/wrk-report.lua` : "autocannon"}; ` +
        `${SECONDS} s per server and mode in ${ROUNDS} alternating rounds; ${ncpu} CPUs; load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    );
    if (!useWrk) console.log("note: wrk is not installed or BENCH_GENERATOR=autocannon (apt-get install -y wrk, or scripts/setup-system.sh); using autocannon, which shares the CPUs with the servers, so its p99 is mostly the load generator's");
    else if (!canPin) console.log(`note: no CPU pinning (${ncpu < 2 ? "fewer than 2 CPUs" : "taskset not available"}); judging the unpinned pass`);

    const verdicts: Verdict[] = [];
    for (const mode of modes) verdicts.push(await pass(mode, azmi, bare));
    const judged = verdicts[0]!;
    console.log(`\nclaim (≥ 80 % of bare req/s, p99 < 5 ms, zero errors; ${modes[0]!.name.split(" (")[0]} pass): ${judged.ok ? "holds" : "DOES NOT hold"}`);
    if (!judged.ok && judged.azmi.p99 >= MAX_P99_MS && judged.bare.p99 >= MAX_P99_MS) {
      console.log(`note: the bare server's own p99 is ${judged.bare.p99.toFixed(2)} ms in the same run: the machine, not azmi, sets the tail here`);
    }
    process.exitCode = judged.ok ? 0 : 1;
  } finally {
    for (const c of children) c.kill();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`serve bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
