/**
 * A loopback server for the fault-injection matrix: connection N gets step N
 * of a script (the last step repeats), and each step writes exact bytes —
 * all at once, one byte at a time, then a reset, or nothing at all. It counts
 * complete requests so a case can assert how many attempts the client made.
 *
 * Why not `test/fakes/rawServer.ts`: the matrix needs per-connection byte
 * scripts (resets with RST, drips, partial writes) rather than dialect logic.
 *
 * @example
 * ```ts
 * const srv = await startFaultServer([send(status(500, "{}")), send(() => tokenResponse("tok_x"))]);
 * // AZURE_POD_IDENTITY_AUTHORITY_HOST = srv.url
 * srv.requests; // 2 once the client has retried
 * await srv.close();
 * ```
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { onWholeRequest } from "../support/wholeRequest";

/** What the server does with one connection once its request has arrived. */
export type Step = (socket: net.Socket, request: string) => void;

export interface FaultServer {
  url: string;
  port: number;
  /** Complete requests received (head + Content-Length body). */
  requests: number;
  /** Raw heads of those requests (latin1), in order. */
  heads: string[];
  close(): Promise<void>;
}

type Bytes = string | Buffer | (() => string | Buffer);

function bytesOf(b: Bytes): Buffer {
  const v = typeof b === "function" ? b() : b;
  return Buffer.isBuffer(v) ? v : Buffer.from(v, "latin1");
}

/** Write the bytes and close (FIN). */
export function send(bytes: Bytes): Step {
  return (socket) => socket.end(bytesOf(bytes));
}

/** Write the bytes and keep the connection open (the client must not wait for a close it does not need). */
export function writeKeepOpen(bytes: Bytes): Step {
  return (socket) => void socket.write(bytesOf(bytes));
}

/** Write the bytes, then reset the connection (RST, not FIN). */
export function resetAfter(bytes: Bytes): Step {
  return (socket) => {
    const b = bytesOf(bytes);
    // A TLS socket cannot send a TCP RST from here; closing it mid-stream is the TLS equivalent.
    const reset = () => (socket instanceof tls.TLSSocket ? socket.destroy() : socket.resetAndDestroy());
    if (b.length === 0) return void reset();
    socket.write(b, () => setTimeout(reset, 20));
  };
}

/** Write the bytes one byte every `everyMs` (the first `fastPrefix` bytes at once), then close. */
export function drip(bytes: Bytes, everyMs: number, fastPrefix = 0): Step {
  return (socket) => {
    const b = bytesOf(bytes);
    if (fastPrefix > 0) socket.write(b.subarray(0, fastPrefix));
    let i = fastPrefix;
    const timer = setInterval(() => {
      if (socket.destroyed || i >= b.length) {
        clearInterval(timer);
        if (!socket.destroyed) socket.end();
        return;
      }
      socket.write(b.subarray(i, i + 1));
      i++;
    }, everyMs);
    socket.on("close", () => clearInterval(timer));
  };
}

/** Accept the request and never answer (the client's deadline must end it). */
export function hang(): Step {
  return () => {};
}

export interface FaultServerOptions {
  /** Serve over TLS with this key and certificate (Service Fabric cases). */
  tls?: { key: string; cert: string };
  /** Run the step on the first bytes received, without waiting for an HTTP request (e.g. to answer a TLS ClientHello with HTTP). */
  onFirstBytes?: boolean;
}

export async function startFaultServer(steps: Step[], options: FaultServerOptions = {}): Promise<FaultServer> {
  if (steps.length === 0) throw new RangeError("startFaultServer: give at least one step");
  const sockets = new Set<net.Socket>();
  const state = { requests: 0, heads: [] as string[] };
  let connections = 0;
  const onConnection = (socket: net.Socket) => {
    const step = steps[Math.min(connections++, steps.length - 1)]!;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const answer = (head: string) => {
      state.requests++;
      state.heads.push(head);
      step(socket, head);
    };
    if (options.onFirstBytes) socket.once("data", (chunk: Buffer) => answer(chunk.toString("latin1")));
    else onWholeRequest(socket, (request, headEnd) => answer(request.subarray(0, headEnd).toString("latin1")));
  };
  const server = options.tls ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onConnection) : net.createServer(onConnection);
  // A failed handshake (the client refused our certificate) is not a request.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    get requests() {
      return state.requests;
    },
    heads: state.heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
