/**
 * A minimal HTTP responder for namespace tests: listens on argv[2] (host,
 * default 169.254.169.254) and argv[3] (port, default 80), answers every
 * request with a fixed IMDS-shaped JSON and prints `listening <host>:<port>`
 * once ready. Run it inside a namespace with `Netns.spawnNode`.
 */
import * as net from "node:net";

const host = process.argv[2] ?? "169.254.169.254";
const port = Number(process.argv[3] ?? 80);
const body = JSON.stringify({ access_token: "fake", expires_in: "3599", token_type: "Bearer", resource: "https://management.azure.com/" });

const server = net.createServer((socket) => {
  socket.on("error", () => {});
  let head = "";
  socket.on("data", (d: Buffer) => {
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n")) return;
    const firstLine = head.slice(0, head.indexOf("\r\n"));
    socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Line: ${firstLine}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
});
server.listen(port, host, () => process.stdout.write(`listening ${host}:${port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
