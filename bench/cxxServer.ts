/**
 * The constant-response C++ server (native/test/bench_server.cc), built on
 * demand with g++: the cheapest server we can write, for rows that time a
 * client and not the server it talks to. A Node server woken from idle
 * spends 1–3 ms of its own on a request here, which would hide most of a
 * client's cost (bench/managed-identity.ts measured both).
 *
 * @example
 * ```ts
 * const cxx = cxxServer();
 * if ("bin" in cxx) { const { port, stop } = await startCxxServer(cxx.bin, ["--expires-in", "86399"]); … stop(); }
 * ```
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
const SRC = path.join(ROOT, "native", "test", "bench_server.cc");
const BIN = path.join(ROOT, "native", "test", "build", "bench_server");

/** The server binary, built when missing or older than its source; or why it cannot be used. */
export function cxxServer(): { bin: string } | { why: string } {
  if (process.env.BENCH_SERVER === "node") return { why: "BENCH_SERVER=node" };
  try {
    if (fs.statSync(BIN).mtimeMs >= fs.statSync(SRC).mtimeMs) return { bin: BIN };
  } catch {}
  fs.mkdirSync(path.dirname(BIN), { recursive: true });
  const r = spawnSync("g++", ["-O2", "-o", BIN, SRC], { encoding: "utf8" });
  if (r.error) return { why: "g++ not found" };
  if (r.status !== 0) return { why: `g++ failed: ${r.stderr.split("\n")[0]}` };
  return { bin: BIN };
}

/** Start it on 127.0.0.1 (it picks the port and prints it); `stop` kills it. */
export async function startCxxServer(bin: string, args: string[] = []): Promise<{ port: number; stop: () => void }> {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`bench_server exited (${code}) before printing its port`)));
    child.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
  });
  child.removeAllListeners("exit");
  return { port, stop: () => child.kill() };
}
