/**
 * Soak: the real `azmi serve` CLI under sustained load keeps answering with
 * zero errors and flat memory (issue 6 §4).
 *
 * Starts `node bin/azmi.js serve --json` as a child with a temp AZMI_HOME (and
 * no identity variables), warms one IMDS token (`Metadata: true`,
 * `api-version=2018-02-01&resource=https://management.azure.com/`), then drives
 * that request with autocannon at 64 connections for `BENCH_SECONDS` (default
 * 60; `--soak` means 600) while sampling the server's RSS (VmRSS in
 * /proc/<pid>/status) every second.
 *
 * Rule for "memory flat" (both must hold), over the SECOND half of the samples
 * (the first half includes JIT, heap growth to its working size and socket
 * buffers for 64 connections, which is warm-up, not a leak):
 *   1. the last sample is within 10 % of the first second-half sample, and
 *   2. the least-squares slope of RSS over the second half is under
 *      1024 KiB/min (a leak of 1 MiB/min would be ~1.4 GiB a day).
 * "zero errors" means autocannon saw no errors, no timeouts and no non-2xx.
 * Exits 1 unless both are yes.
 *
 * Usage: npx tsc -p . && node dist/bench/serve-soak.js [--soak]
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";

import { autocannon, type CannonResult } from "./autocannon";

const CONNECTIONS = 64;
const SECONDS = process.argv.includes("--soak") ? 600 : Number(process.env.BENCH_SECONDS ?? 60);
const TOKEN_PATH = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/";
const FLAT_END_RATIO = 0.1;
const FLAT_SLOPE_KIB_PER_MIN = 1024;
const REPO_ROOT = path.resolve(__dirname, "../..");

/** VmRSS of `pid` in KiB (Linux only). */
function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Least-squares slope of y over x (same units as y per unit of x). */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

async function main(): Promise<number> {
  if (process.platform !== "linux") throw new Error("serve-soak reads /proc/<pid>/status: Linux only");
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-soak-"));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/azmi.js"), "serve", "--json"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: home, AZMI_HOME: home },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const nl = out.indexOf("\n");
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      child.once("exit", (code) => reject(new Error(`azmi serve exited with ${code} before printing its --json line`)));
    });
    const described = JSON.parse(line) as { url: string };
    const url = `${described.url}${TOKEN_PATH}`;
    const headers = { Metadata: "true" };
    const warm = await get(url, headers);
    if (warm.status !== 200) throw new Error(`warm-up token request answered ${warm.status}`);

    const pid = child.pid!;
    const samples: Array<[number, number]> = []; // [seconds since start, KiB]
    const t0 = performance.now();
    const sample = (): void => void samples.push([(performance.now() - t0) / 1000, rssKiB(pid)]);
    sample();
    const startKiB = samples[0]![1];
    const timer = setInterval(sample, 1000);
    let r: CannonResult;
    try {
      r = await autocannon({ url, headers, connections: CONNECTIONS, duration: SECONDS });
    } finally {
      clearInterval(timer);
    }
    sample();
    const elapsed = (performance.now() - t0) / 1000;

    const half = samples.slice(Math.floor(samples.length / 2));
    const halfStart = half[0]![1];
    const endKiB = samples[samples.length - 1]![1];
    const maxKiB = Math.max(...samples.map(([, kib]) => kib));
    const slopeKiBPerMin = slope(half) * 60;
    const zeroErrors = r.errors === 0 && r.timeouts === 0 && r.non2xx === 0;
    const flat = Math.abs(endKiB - halfStart) <= FLAT_END_RATIO * halfStart && slopeKiBPerMin < FLAT_SLOPE_KIB_PER_MIN;
    const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;

    console.log(`azmi serve soak: ${CONNECTIONS} connections, IMDS cached token, node ${process.version}, ${os.cpus().length} CPUs`);
    console.log(`duration         ${elapsed.toFixed(1)} s (load ${SECONDS} s)`);
    console.log(`requests/s       ${Math.round(r.requests.average)}`);
    console.log(`total requests   ${r.requests.total}`);
    console.log(`errors           ${r.errors}`);
    console.log(`timeouts         ${r.timeouts}`);
    console.log(`non-2xx          ${r.non2xx}`);
    console.log(`latency p50/p99  ${r.latency.p50} ms / ${r.latency.p99} ms`);
    console.log(`RSS start        ${mib(startKiB)} (after warm-up)`);
    console.log(`RSS end          ${mib(endKiB)}`);
    console.log(`RSS max          ${mib(maxKiB)}`);
    console.log(`RSS 2nd half     ${mib(halfStart)} -> ${mib(endKiB)}, slope ${slopeKiBPerMin.toFixed(1)} KiB/min over ${half.length} samples`);
    console.log(`zero errors: ${zeroErrors ? "yes" : "no"}; memory flat: ${flat ? "yes" : "no"}`);
    return zeroErrors && flat ? 0 : 1;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(t);
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  },
);
