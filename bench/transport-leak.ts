/**
 * Long-run leak check (issue 6): 100,000 requests through the transport
 * against a loopback server in a child process (9 in 10 well-formed token
 * responses, 1 in 10 hostile: garbage, resets, oversize, truncated), sampling
 * RSS and open file descriptors every 10,000. Prints a table and the growth;
 * a steady RSS and an unchanged fd count mean no leak.
 *
 *   node dist/bench/transport-leak.js [native|native-pool|node] [requests]
 *
 * `native` is the addon's default event-loop driver, `native-pool` its pool
 * driver (AZMI_NATIVE_DRIVER=pool).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { fallbackTransport } from "../src/transport/fallback";
import { nativeTransport } from "../src/transport/http";

const kind = process.argv[2] ?? "native";
const TOTAL = Number(process.argv[3] ?? 100000);
const CONCURRENCY = 8;

const SERVER = `
const net = require("net");
const body = JSON.stringify({ access_token: "eyJ" + "a".repeat(1400), expires_in: "86399", token_type: "Bearer" });
const ok = "HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: " + body.length + "\\r\\n\\r\\n" + body;
const hostile = [
  (c) => c.end("garbage\\r\\n\\r\\n"),
  (c) => c.resetAndDestroy(),
  (c) => c.end("HTTP/1.1 200 OK\\r\\nX: " + "h".repeat(20000) + "\\r\\n\\r\\n"),
  (c) => c.end("HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\nshort"),
  (c) => c.end("HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n"),
];
let n = 0;
const s = net.createServer((c) => { c.on("error", () => {}); let h = ""; c.on("data", (d) => { h += d; if (!h.includes("\\r\\n\\r\\n")) return; const i = n++;
  if (i % 10 === 9) hostile[(i / 10 | 0) % hostile.length](c); else c.end(ok); }); });
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
`;

function fds(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

async function main(): Promise<void> {
  const t = kind === "node" ? fallbackTransport : nativeTransport(kind === "native-pool" ? "pool" : "loop");
  if (!t) {
    console.log("native addon not built");
    return;
  }
  const server = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
  const req = { ip: "127.0.0.1", port, method: "GET", path: "/metadata/identity/oauth2/token", headers: [["Metadata", "true"]] as Array<[string, string]>, timeoutMs: 5000 };
  console.log(`transport leak check [${t.kind}${t.driver ? ` ${t.driver} driver` : ""}]: ${TOTAL} requests, concurrency ${CONCURRENCY}`);
  console.log(`${"requests".padStart(9)} ${"rss MB".padStart(8)} ${"heap MB".padStart(8)} ${"fds".padStart(5)} ${"ok".padStart(7)} ${"errors".padStart(7)}`);
  let done = 0;
  let ok = 0;
  let errors = 0;
  let started = 0;
  const samples: Array<{ rss: number; fds: number }> = [];
  const sample = (): void => {
    const m = process.memoryUsage();
    samples.push({ rss: m.rss, fds: fds() });
    console.log(`${String(done).padStart(9)} ${(m.rss / 1e6).toFixed(1).padStart(8)} ${(m.heapUsed / 1e6).toFixed(1).padStart(8)} ${String(fds()).padStart(5)} ${String(ok).padStart(7)} ${String(errors).padStart(7)}`);
  };
  sample();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < TOTAL) {
      started++;
      try {
        await t.request(req);
        ok++;
      } catch {
        errors++;
      }
      done++;
      if (done % 10000 === 0) {
        (globalThis as { gc?: () => void }).gc?.();
        sample();
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (performance.now() - t0) / 1000;
  server.kill();
  const first = samples[1] ?? samples[0]!;
  const last = samples[samples.length - 1]!;
  console.log(`\n${TOTAL} requests in ${secs.toFixed(1)} s (${Math.round(TOTAL / secs)}/s); ${ok} ok, ${errors} errors (hostile by design)`);
  console.log(`RSS after first 10k: ${(first.rss / 1e6).toFixed(1)} MB, at the end: ${(last.rss / 1e6).toFixed(1)} MB (growth ${((last.rss - first.rss) / 1e6).toFixed(1)} MB)`);
  console.log(`open fds: start ${samples[0]!.fds}, end ${last.fds}`);
}

void main();
