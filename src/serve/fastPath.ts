/**
 * The fast path of `azmi serve`: plain token requests answered straight from
 * the socket, everything else by node:http.
 *
 * Almost every request a client makes is the same small `GET` (an IMDS or
 * App Service token request on a keep-alive connection), and node:http's
 * per-request machinery (its parser callbacks, `IncomingMessage`,
 * `ServerResponse`, header bookkeeping) costs more than azmi's own work on it:
 * answering those here, through the very same dispatch and handlers, serves
 * about twice the requests per second at a lower latency (bench/serve.ts).
 *
 * The rule is "plain or hand over", never "lenient": a connection's requests
 * are answered here only while each one arrives whole and is a `GET` of an
 * origin-form target over HTTP/1.1, with a `Host`, no body, no duplicate
 * header, no `Content-Length`, `Transfer-Encoding`, `Expect` or `Upgrade`,
 * `Connection` absent, `keep-alive` or `close`, and only visible ASCII (plus
 * space and tab in values). The first request that is anything else — cut
 * across two reads, a `POST`, a header this parser does not vouch for, an
 * oversized head — hands the connection, with every byte not yet answered, to node:http for
 * the rest of its life: its parser decides, its limits and timeouts apply
 * (a slow client is node:http's from its first partial read), and so is a
 * client that pipelines requests without reading the answers (node:http
 * stops reading it until they drain). So nothing is accepted here that
 * node:http would refuse, and everything unusual still gets node:http's
 * answer.
 *
 * Off when fault injection or IMDS rate limiting is on (both hook the
 * response's life cycle; tests of them see node:http alone).
 *
 * @example
 * ```ts
 * const server = http.createServer(options, dispatch);
 * const fast = attachFastPath(server, dispatch, { maxHeaderBytes: MAX_HEADER_BYTES, idleTimeoutMs: 5_000, firstByteTimeoutMs: 10_000 });
 * server.listen(port);
 * // on close: fast.closeAll();
 * ```
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";

/** What the dispatch reads of a request (a subset of `IncomingMessage`). */
export interface PlainRequest {
  method: "GET";
  url: string;
  headers: Record<string, string>;
  /** The client sent `Connection: close`: answer, then close. */
  close: boolean;
}

export interface FastPathOptions {
  /** Longest request head (request line and headers) answered here; longer ones go to node:http's limit. */
  maxHeaderBytes: number;
  /** An idle keep-alive connection closes after this long (node:http's `keepAliveTimeout`). */
  idleTimeoutMs: number;
  /** A new connection that sends nothing closes after this long (node:http's `headersTimeout`). */
  firstByteTimeoutMs: number;
}

export interface FastPath {
  /** Destroy every connection still on the fast path (those handed over are node:http's to close). */
  closeAll(): void;
}

type Dispatch = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Put the fast path in front of `server`'s connections: node:http's own
 * connection listener is taken off and called only for connections handed
 * over, so they are tracked, timed out and closed by node:http as usual.
 */
export function attachFastPath(server: Server, dispatch: Dispatch, options: FastPathOptions): FastPath {
  const open = new Set<Socket>();
  const keepAlive = keepAliveHeaders(options.idleTimeoutMs);
  interceptConnections(server, (socket, passOn) => {
    open.add(socket);
    const handOver = () => {
      open.delete(socket);
      passOn();
    };
    new FastConnection(socket, dispatch, options, keepAlive, handOver, () => open.delete(socket));
  });
  return {
    closeAll() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

/**
 * Take the `connection` listeners `server` has now (node:http's, or a fast
 * path already in front of it) and give every new connection to `take`
 * instead, which calls `passOn()` when they should have it after all.
 *
 * @example
 * ```ts
 * interceptConnections(server, (socket, passOn) => (allowed(socket) ? passOn() : socket.destroy()));
 * ```
 */
export function interceptConnections(server: Server, take: (socket: Socket, passOn: () => void) => void): void {
  const listeners = server.listeners("connection") as ((socket: Socket) => void)[];
  for (const listener of listeners) server.removeListener("connection", listener);
  server.on("connection", (socket: Socket) =>
    take(socket, () => {
      for (const listener of listeners) listener.call(server, socket);
    }),
  );
}

/** One connection while it is on the fast path. */
class FastConnection {
  /** Bytes received and not yet answered (latin1: one char per byte). */
  private pending = "";
  /** A response is being produced asynchronously (a token being issued): later requests wait. */
  private busy = false;
  private done = false;
  /** The client has half-closed (sent FIN): answer what was received, then close. */
  private clientEnded = false;

  constructor(
    private readonly socket: Socket,
    private readonly dispatch: Dispatch,
    private readonly options: FastPathOptions,
    /** `Connection`/`Keep-Alive` headers of every keep-alive answer (the same for all connections). */
    private readonly keepAlive: string,
    private readonly handOver: () => void,
    private readonly forget: () => void,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(options.firstByteTimeoutMs);
    socket.on("data", this.onData);
    socket.on("timeout", this.onTimeout);
    socket.on("error", this.onError);
    socket.once("end", this.onEnd);
    socket.once("close", this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    // Closing: whatever the client still sends is never read (nothing piles up in `pending`).
    if (this.done) return;
    this.pending += chunk.toString("latin1");
    if (!this.busy) this.answerPending();
  };

  private readonly onTimeout = (): void => {
    if (!this.busy) this.socket.destroy();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  /**
   * The server allows half-open sockets, so nothing closes this one by
   * itself: node:http ends the connection when the client does, and so do
   * we, once the answers to what was received are written.
   */
  private readonly onEnd = (): void => {
    this.clientEnded = true;
    if (!this.busy) this.closeSoon();
  };

  private readonly onClose = (): void => {
    this.done = true;
    this.forget();
  };

  /** Answer every whole plain request received, in order; hand over at the first other thing. */
  private answerPending(): void {
    while (this.pending.length > 0 && !this.done) {
      // A client that pipelines requests and does not read the answers:
      // node:http stops reading until the answers drain; here they would pile
      // up in memory without bound. So it gets node:http's handling.
      if (this.socket.writableNeedDrain) return this.leave();
      const end = this.pending.indexOf("\r\n\r\n");
      if (end < 0 || end + 4 > this.options.maxHeaderBytes) return this.leave();
      const req = parsePlainRequest(this.pending.slice(0, end));
      if (req === undefined) return this.leave();
      this.pending = this.pending.slice(end + 4);
      this.socket.setTimeout(0);
      const res: PlainResponse = new PlainResponse(this.socket, this.keepAlive, req.close, () => this.finished(res));
      this.dispatch(req as unknown as IncomingMessage, res as unknown as ServerResponse);
      if (!res.ended && !this.done) {
        // Answered later (a token being fetched): keep the order of answers.
        this.busy = true;
        this.socket.pause();
        return;
      }
    }
    if (this.done) return;
    if (this.clientEnded) this.closeSoon();
    else this.socket.setTimeout(this.options.idleTimeoutMs);
  }

  private finished(res: PlainResponse): void {
    if (res.closeAfter) return this.closeSoon();
    if (!this.busy) return; // answered synchronously: the loop in answerPending goes on
    this.busy = false;
    this.socket.resume();
    this.answerPending();
  }

  /**
   * Close after the answers already written are flushed (node:http's
   * `destroySoon` after a `Connection: close` answer): the socket is
   * half-open-capable, so `end()` alone would leave it open, and reading,
   * for as long as the client likes. A client that never reads that last
   * answer is dropped after the idle timeout.
   */
  private closeSoon(): void {
    this.done = true;
    this.busy = false; // nothing more is answered: the idle timeout applies
    this.pending = "";
    this.socket.setTimeout(this.options.idleTimeoutMs);
    this.socket.destroySoon();
  }

  /** Give the connection and its unanswered bytes to node:http. */
  private leave(): void {
    if (this.done) return;
    // After the client's FIN (already emitted) node:http would never see an
    // end, and the stream refuses an unshift: what is left gets no answer
    // (node:http drops pipelined answers after a FIN as well), so close.
    if (this.clientEnded) return this.closeSoon();
    this.done = true;
    const { socket } = this;
    socket.removeListener("data", this.onData);
    socket.removeListener("timeout", this.onTimeout);
    socket.removeListener("error", this.onError);
    socket.removeListener("end", this.onEnd);
    socket.removeListener("close", this.onClose);
    socket.setTimeout(0);
    // Delivered to node:http's parser before any later read (the stream
    // emits buffered data on the next tick, reads arrive on a later turn).
    if (this.pending.length > 0) socket.unshift(Buffer.from(this.pending, "latin1"));
    this.pending = "";
    this.handOver();
    socket.resume();
  }
}

/** More headers than any identity client sends. */
const MAX_PLAIN_HEADERS = 64;

/** Header names that change how a message is framed or handled: their requests go to node:http. */
const NOT_PLAIN = new Set(["content-length", "transfer-encoding", "expect", "upgrade", "te", "trailer", "proxy-connection", "http2-settings"]);

/**
 * The request in `head` (request line and header lines, without the final
 * blank line) when it is plain (see the file comment), else `undefined`.
 *
 * @example
 * ```ts
 * parsePlainRequest("GET /metadata/identity/oauth2/token?resource=x HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true");
 * // { method: "GET", url: "/metadata/…", headers: { host: "127.0.0.1", metadata: "true" } }
 * ```
 */
export function parsePlainRequest(head: string): PlainRequest | undefined {
  const lineEnd = head.indexOf("\r\n");
  const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  if (!requestLine.startsWith("GET /") || !requestLine.endsWith(" HTTP/1.1")) return undefined;
  const url = requestLine.slice(4, requestLine.length - 9);
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) return undefined; // also a second space; '#' is node:http's to judge
  }
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let at = lineEnd < 0 ? head.length : lineEnd + 2;
  let count = 0;
  let close = false;
  while (at < head.length) {
    if (++count > MAX_PLAIN_HEADERS) return undefined; // node:http keeps only its first 2000: let it choose
    let next = head.indexOf("\r\n", at);
    if (next < 0) next = head.length;
    const colon = head.indexOf(":", at);
    if (colon <= at || colon >= next) return undefined; // no name, or no colon on this line
    const name = head.slice(at, colon).toLowerCase();
    for (let i = at; i < colon; i++) if (!TOKEN[head.charCodeAt(i)]) return undefined;
    let from = colon + 1;
    let to = next;
    for (let i = from; i < to; i++) {
      const c = head.charCodeAt(i);
      if (c !== 0x09 && (c < 0x20 || c >= 0x7f)) return undefined;
    }
    while (from < to && (head.charCodeAt(from) === 0x20 || head.charCodeAt(from) === 0x09)) from++;
    while (to > from && (head.charCodeAt(to - 1) === 0x20 || head.charCodeAt(to - 1) === 0x09)) to--;
    const value = head.slice(from, to);
    if (name in headers || NOT_PLAIN.has(name)) return undefined;
    if (name === "connection") {
      const option = value.toLowerCase();
      if (option !== "keep-alive" && option !== "close") return undefined;
      close = option === "close";
    }
    headers[name] = value;
    at = next + 2;
  }
  // node:http (requireHostHeader, on by default since Node 20) answers an
  // HTTP/1.1 request without Host with its own 400 and a close, before any
  // handler sees it; bound beyond loopback, azmi's own Host check is off.
  if (!("host" in headers)) return undefined;
  // Without a prototype: a header named `constructor` or `__proto__` is just a header.
  return { method: "GET", url, headers, close };
}

/** RFC 9110 token characters: what a header name may be made of. */
const TOKEN: boolean[] = (() => {
  const table = new Array<boolean>(128).fill(false);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") table[c.charCodeAt(0)] = true;
  return table;
})();

/**
 * The part of `ServerResponse` the handlers use (`writeHead`, `end`,
 * `headersSent`, `destroy`, `destroyed`), writing HTTP/1.1 straight to the
 * socket with the headers node:http adds (`Date`, keep-alive).
 */
class PlainResponse {
  headersSent = false;
  destroyed = false;
  ended = false;
  /** The handler asked for `Connection: close`. */
  closeAfter = false;
  private status = 200;
  private headers: Record<string, string | number> = {};

  constructor(
    private readonly socket: Socket,
    private readonly keepAliveHeaders: string,
    /** The request said `Connection: close`. */
    private readonly closeRequested: boolean,
    private readonly onFinished: () => void,
  ) {}

  writeHead(status: number, headers: Record<string, string | number>): this {
    if (this.headersSent) throw new Error("writeHead called twice");
    if (!VALID_HEADERS.has(headers)) {
      // As node:http's writeHead (ERR_INVALID_CHAR): no header injection through a name or value.
      for (const name in headers) {
        if (!HEADER_NAME.test(name) || INVALID_VALUE.test(String(headers[name]))) throw new TypeError(`Invalid header ${JSON.stringify(name)}`);
      }
      VALID_HEADERS.add(headers);
    }
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }

  end(body?: Buffer | string): void {
    if (this.ended || this.destroyed) return;
    this.headersSent = true;
    this.ended = true;
    const payload = body === undefined ? EMPTY : typeof body === "string" ? Buffer.from(body) : body;
    const wire = this.wire(payload);
    if (!this.socket.destroyed) this.socket.write(wire);
    this.onFinished();
  }

  destroy(): void {
    this.destroyed = true;
    this.socket.destroy();
  }

  /**
   * Status line, headers and body as one buffer. A cached token body comes
   * with the same headers object until its second changes (respond.ts's
   * BodyCache), so its bytes are built once a second, not per request.
   */
  private wire(body: Buffer): Buffer {
    const date = httpDate();
    const known = WIRE.get(body);
    if (
      known !== undefined &&
      known.headers === this.headers &&
      known.status === this.status &&
      known.date === date &&
      known.keepAlive === this.keepAliveHeaders &&
      known.closeRequested === this.closeRequested
    ) {
      this.closeAfter = known.closeAfter;
      return known.wire;
    }
    let head = `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? "Unknown"}\r\n`;
    let closeAfter = this.closeRequested;
    let connectionSet = false;
    for (const name in this.headers) {
      const value = String(this.headers[name]);
      if (name.toLowerCase() === "connection") {
        connectionSet = true;
        if (value.toLowerCase() === "close") closeAfter = true;
      }
      head += `${name}: ${value}\r\n`;
    }
    // As node:http: its own Connection header unless the handler set one.
    head += `Date: ${date}\r\n${connectionSet ? "" : closeAfter ? "Connection: close\r\n" : this.keepAliveHeaders}\r\n`;
    this.closeAfter = closeAfter;
    const wire = Buffer.concat([Buffer.from(head, "latin1"), body]);
    if (body.length > 0) {
      WIRE.set(body, { headers: this.headers, status: this.status, date, keepAlive: this.keepAliveHeaders, closeRequested: this.closeRequested, closeAfter, wire });
    }
    return wire;
  }
}

const EMPTY = Buffer.alloc(0);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e]/;

/** Header objects already checked (a cached token body comes with the same one each time). */
const VALID_HEADERS = new WeakSet<object>();

/** Each body buffer's last serialized answer (entries go with their buffers). */
const WIRE = new WeakMap<Buffer, { headers: object; status: number; date: string; keepAlive: string; closeRequested: boolean; closeAfter: boolean; wire: Buffer }>();

/** `Connection`/`Keep-Alive` as node:http answers a keep-alive request. */
function keepAliveHeaders(idleTimeoutMs: number): string {
  return `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(idleTimeoutMs / 1000)}\r\n`;
}

let dateSecond = -1;
let dateText = "";
/** The `Date` header, rebuilt once a second (as node:http does). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
