/**
 * Server side of `bench/serve.ts`, run in its own process so the load
 * generator does not share its event loop: either `azmi serve` (every
 * security check on) or a bare `node:http` server answering a constant body
 * of the same size. Prints one JSON line `{url, path, headers}` when ready.
 *
 * Each line `cpu` on stdin is answered with `{"cpuMicros": n}` (user +
 * system CPU of this process so far), so the bench can report CPU per
 * request, which a busy machine distorts far less than requests/s.
 *
 * Usage: node dist/bench/serveTarget.js azmi|bare <bodyBytes>
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { startServer } from "../src/serve/server";

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === "azmi") {
    const server = await startServer({});
    const path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net";
    process.stdout.write(`${JSON.stringify({ url: server.url, path, headers: { Metadata: "true" } })}\n`);
    return;
  }
  const size = Number(process.argv[3]);
  const body = Buffer.alloc(size, "a");
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": body.length });
    res.end(body);
  });
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as AddressInfo).port;
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, path: "/", headers: {} })}\n`);
  });
}

process.on("SIGTERM", () => process.exit(0));
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  for (const line of chunk.split("\n")) {
    if (line.trim() === "cpu") {
      const u = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ cpuMicros: u.user + u.system })}\n`);
    }
  }
});
process.stdin.on("end", () => process.exit(0));
void main();
