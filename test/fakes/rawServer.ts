/**
 * A raw loopback HTTP/1.1 server for fakes: it parses requests itself (so
 * tests see exactly what a client sent — method, raw target, header names
 * and order, body), LOGS every request, and writes exact response bytes.
 * One request per connection (`Connection: close`), like identity endpoints
 * are used. Optional TLS (Service Fabric).
 *
 * @example
 * ```ts
 * const server = await startRawServer(() => ({ status: 200, body: "{}" }));
 * // ... client calls server.url ...
 * server.requests[0].header("metadata"); // "true"
 * await server.close();
 * ```
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { onWholeRequest } from "../support/wholeRequest";

export interface LoggedRequest {
  method: string;
  /** Request target exactly as sent, e.g. `/metadata/identity/oauth2/token?api-version=2018-02-01`. */
  target: string;
  /** Path without the query, not decoded. */
  path: string;
  /** Raw query string without `?` (empty when none). */
  rawQuery: string;
  /** Decoded query pairs in order (duplicates kept). */
  query: Array<[string, string]>;
  /** Header lines in order, names as sent. */
  rawHeaders: Array<[string, string]>;
  /** Last value of a header, by case-insensitive name. */
  header(name: string): string | undefined;
  /** Decoded query value by name (first occurrence). */
  param(name: string): string | undefined;
  body: string;
  /** ms since the epoch when the request was complete. */
  at: number;
}

export interface FakeResponse {
  status?: number;
  reason?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Exact bytes to write instead of a built response. */
  raw?: Buffer | string;
  /** Wait before answering. */
  delayMs?: number;
  /** Never answer (the client's deadline must end it). */
  hang?: boolean;
  /** Close the connection without answering. */
  destroy?: boolean;
}

export type Handler = (request: LoggedRequest) => FakeResponse | Promise<FakeResponse>;

export interface RawServer {
  url: string;
  host: string;
  port: number;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

export interface RawServerOptions {
  host?: string;
  /** Default 0 (any free port); 80 for a fake at the real IMDS address inside a namespace. */
  port?: number;
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Called synchronously when a request is logged, before the handler runs and before any answer is written. */
  onRequest?: (request: LoggedRequest) => void;
}

const REASONS: Record<number, string> = {
  200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  408: "Request Timeout", 410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

function parseHead(head: string, body: string): LoggedRequest {
  const lines = head.split("\r\n");
  const [method = "", target = ""] = lines[0]!.split(" ");
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) rawHeaders.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  const q = target.indexOf("?");
  const path = q >= 0 ? target.slice(0, q) : target;
  const rawQuery = q >= 0 ? target.slice(q + 1) : "";
  const query: Array<[string, string]> = rawQuery
    ? rawQuery.split("&").map((kv) => {
        const j = kv.indexOf("=");
        return j >= 0 ? [decode(kv.slice(0, j)), decode(kv.slice(j + 1))] : [decode(kv), ""];
      })
    : [];
  return {
    method, target, path, rawQuery, query, rawHeaders, body, at: Date.now(),
    header(name) {
      let v: string | undefined;
      for (const [k, val] of rawHeaders) if (k.toLowerCase() === name.toLowerCase()) v = val;
      return v;
    },
    param(name) {
      return query.find(([k]) => k === name)?.[1];
    },
  };
}

/** Build the exact bytes of a response. */
export function responseBytes(r: FakeResponse): Buffer {
  if (r.raw !== undefined) return Buffer.isBuffer(r.raw) ? r.raw : Buffer.from(r.raw, "latin1");
  const status = r.status ?? 200;
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, "utf8");
  let head = `HTTP/1.1 ${status} ${r.reason ?? REASONS[status] ?? "Status"}\r\n`;
  const headers = { ...(r.headers ?? {}) };
  const has = (n: string) => Object.keys(headers).some((k) => k.toLowerCase() === n);
  if (!has("content-length")) headers["Content-Length"] = String(body.length);
  if (!has("connection")) headers.Connection = "close";
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), body]);
}

export async function startRawServer(handler: Handler, options: RawServerOptions = {}): Promise<RawServer> {
  const requests: LoggedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onWholeRequest(socket, (bytes, headEnd) => {
      const request = parseHead(bytes.subarray(0, headEnd).toString("latin1"), bytes.subarray(headEnd + 4).toString("utf8"));
      requests.push(request);
      options.onRequest?.(request);
      void Promise.resolve()
        .then(() => handler(request))
        .then(async (r) => {
          if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs));
          if (r.hang) return;
          if (r.destroy) return void socket.destroy();
          socket.end(responseBytes(r));
        })
        .catch(() => socket.end(responseBytes({ status: 500, body: "fake handler failed" })));
    });
  };
  const server = options.tls
    ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onConnection)
    : net.createServer(onConnection);
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    host,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
