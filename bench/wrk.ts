/**
 * wrk (the C load generator, Debian package `wrk`) driven from Node: one run,
 * its result read from the JSON line `bench/wrk-report.lua` prints in `done()`.
 *
 * Why wrk: on this 2-core machine autocannon (Node) needs about as much CPU as
 * the server it measures, so the two fight for the cores and the tail latency
 * is the scheduler's, not the server's. wrk needs a fraction of that.
 *
 * @example
 * ```ts
 * import { hasWrk, wrk } from "./wrk";
 * if (hasWrk()) {
 *   const r = await wrk({ url: "http://127.0.0.1:4000/", connections: 64, seconds: 2, cpus: "1" });
 *   console.log(r.requests / r.seconds, r.p99Ms, r.errors);
 * }
 * ```
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** What one wrk run measured. Latencies in milliseconds (wrk records µs). */
export interface LoadResult {
  requests: number;
  /** Measured duration of the run, seconds. */
  seconds: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors (connect + read + write) and timeouts, as wrk counts them. */
  socketErrors: number;
  timeouts: number;
  /** Responses whose status is not 2xx. */
  non2xx: number;
  /** CPU the load generator used (user + system), seconds; NaN when unknown. */
  generatorCpuSeconds: number;
}

export interface WrkOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  /** Whole seconds (wrk's -d). */
  seconds: number;
  /** wrk threads (-t); default 1. */
  threads?: number;
  /** CPU list for `taskset -c` (e.g. "1"); unpinned when omitted. */
  cpus?: string;
}

const REPORT = path.resolve(__dirname, "../../bench/wrk-report.lua");

/**
 * True when the `wrk` binary is on PATH.
 *
 * @example
 * ```ts
 * if (!hasWrk()) console.log("wrk not installed: apt-get install -y wrk");
 * ```
 */
export function hasWrk(): boolean {
  return spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined;
}

/**
 * True when `taskset` (util-linux) can run a command.
 *
 * @example
 * ```ts
 * const pin = hasTaskset() && os.cpus().length >= 2;
 * ```
 */
export function hasTaskset(): boolean {
  return spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0;
}

/**
 * Set the CPU affinity of every thread of a running process (`taskset -a -p`).
 *
 * @example
 * ```ts
 * pin(server.pid, "0");      // server on CPU 0
 * pin(server.pid, "0-1");    // back to both
 * ```
 */
export function pin(pid: number, cpus: string): void {
  const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid} failed: ${r.stderr.toString().trim()}`);
}

/** CPU time (user + system, clock ticks) of children this process has reaped: fields 16 and 17 of /proc/self/stat. */
function reapedChildTicks(): number {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    // The command name (field 2) may hold spaces; fields after it start past the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[13]) + Number(f[14]); // cutime, cstime (fields 16, 17 counted from 1)
  } catch {
    return NaN;
  }
}

/**
 * Run wrk once with `--latency` and `bench/wrk-report.lua`; resolves with the
 * parsed result, rejects if wrk fails or prints no report.
 *
 * @example
 * ```ts
 * const r = await wrk({ url, headers: { Metadata: "true" }, connections: 64, seconds: 2, cpus: "1" });
 * ```
 */
export function wrk(options: WrkOptions): Promise<LoadResult> {
  const args = ["-t", String(options.threads ?? 1), "-c", String(options.connections), "-d", `${options.seconds}s`, "--latency", "-s", REPORT];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(options.url);
  const [cmd, argv] = options.cpus !== undefined ? ["taskset", ["-c", options.cpus, "wrk", ...args]] : ["wrk", args];
  const ticks0 = reapedChildTicks();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => {
      const line = /^WRK_JSON (.*)$/m.exec(out);
      if (code !== 0 || !line) {
        reject(new Error(`wrk exited ${code} without a report: ${(err || out).trim().slice(0, 500)}`));
        return;
      }
      const j = JSON.parse(line[1]!) as Record<string, number>;
      // Children are reaped by the time 'close' fires, so their CPU is in cutime/cstime now.
      const ticks = reapedChildTicks() - ticks0;
      if (process.env.BENCH_VERBOSE) process.stdout.write(out);
      resolve({
        requests: j.requests!,
        seconds: j.durationUs! / 1e6,
        p50Ms: j.p50Us! / 1000,
        p90Ms: j.p90Us! / 1000,
        p99Ms: j.p99Us! / 1000,
        maxMs: j.maxUs! / 1000,
        socketErrors: j.connect! + j.read! + j.write!,
        timeouts: j.timeout!,
        non2xx: j.non2xx!,
        generatorCpuSeconds: ticks / 100, // USER_HZ is 100 on Linux
      });
    });
  });
}
