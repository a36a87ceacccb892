/**
 * Sends ONE HTTP GET from inside a namespace and prints the outcome as one JSON
 * line, never throwing: `{"status","body"}` or `{"error": code}`.
 * Usage: `node dist/test/serve/netns/requestMain.js '{"ip","port","path","headers"}'`.
 * The `Host` header is whatever `headers.Host` says (default `ip:port`), so the
 * test controls exactly what the server's Host-header rule sees.
 */
import * as http from "node:http";

interface Command {
  ip: string;
  port: number;
  path: string;
  headers?: Record<string, string>;
}

function main(): void {
  const cmd = JSON.parse(process.argv[2] ?? "{}") as Command;
  const req = http.request(
    { host: cmd.ip, port: cmd.port, path: cmd.path, method: "GET", headers: cmd.headers ?? {}, agent: false, timeout: 5000 },
    (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => process.stdout.write(`${JSON.stringify({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") })}\n`));
    },
  );
  req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
  req.on("error", (error: NodeJS.ErrnoException) => process.stdout.write(`${JSON.stringify({ error: error.code ?? error.message })}\n`));
  req.end();
}

main();
