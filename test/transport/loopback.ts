/**
 * Raw loopback servers for transport tests: each writes exact bytes, records
 * the exact request bytes it received, and closes every socket on `close()`.
 *
 * @example
 * ```ts
 * const srv = await rawServer((sock) => sock.end("HTTP/1.1 204 No Content\r\n\r\n"));
 * // ... request srv.port ...
 * await srv.close();
 * ```
 */
import * as net from "node:net";
import { onWholeRequest } from "../support/wholeRequest";

export interface RawServer {
  port: number;
  host: string;
  /** Every complete request (head + Content-Length body) received, in order. */
  requests: Buffer[];
  close(): Promise<void>;
}

/** Called once the whole request arrived (head, plus a Content-Length body). */
export type Responder = (socket: net.Socket, request: Buffer) => void;

/**
 * Listens on `host`:0 and calls `respond` once per complete request.
 *
 * @example
 * ```ts
 * const srv = await rawServer((s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
 * ```
 */
export function rawServer(respond: Responder, host = "127.0.0.1"): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const requests: Buffer[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onWholeRequest(socket, (request) => {
      requests.push(request);
      respond(socket, request);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        host,
        requests,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * Writes `parts` one after another with a pause between them, so the client
 * sees split reads; optionally ends the socket afterwards.
 *
 * @example
 * ```ts
 * dribble(sock, ["HTTP/1.1 200 OK\r\n", "Content-Length: 0\r\n\r\n"]);
 * ```
 */
export function dribble(socket: net.Socket, parts: Array<string | Buffer>, end = true, gapMs = 2): void {
  let i = 0;
  const next = (): void => {
    if (socket.destroyed) return;
    if (i === parts.length) {
      if (end) socket.end();
      return;
    }
    socket.write(parts[i++]!);
    setTimeout(next, gapMs);
  };
  next();
}

/** A port on 127.0.0.1 nothing listens on (bound, then closed). */
export async function closedPort(host = "127.0.0.1"): Promise<number> {
  // On the host it will be used with: a port free on 127.0.0.1 can be taken
  // on ::1 (by the very server a test just started there).
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once("error", reject).listen(0, host, () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Splits a string into pieces of `size` characters (split-read tests). */
export function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}
