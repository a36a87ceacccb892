/**
 * More than one connection accepted per event-loop turn.
 *
 * Since libuv 1.45 (Node 20.3) a listening handle accepts one connection each
 * time the loop polls, and the same turn also serves every keep-alive
 * connection that has a request waiting. A burst of N new connections (64
 * clients starting at once, a load generator opening its connections) then
 * waits N turns, each as long as a round of answers to everyone already
 * connected: the last newcomer's first request waited 30–150 ms on the
 * 2-core development machine, in a fresh process (code not yet optimised)
 * over 300 ms, while a C server that accepts in a loop, as busy per request,
 * never kept a request over 7 ms.
 *
 * So the server's accept queue is watched through several descriptors:
 * duplicates of the listening socket (native `duplicateListener`), each
 * under its own `net.Server` that hands every connection it accepts to the
 * HTTP server as the HTTP server's own handle does (its `connection` event
 * and its connection count, so the fast path, the peer-user gate, node:http's
 * limits, `maxConnections` and `close()` treat it alike). All of them are ready in the
 * same poll, so a turn accepts up to `count`. The duplicates share the one socket: no port is
 * opened twice (no SO_REUSEPORT, which would let another process of the
 * same user bind the port and take a share of the connections).
 *
 * Costs: `count - 1` descriptors, and when a single connection arrives the
 * other handles' accept calls find nothing (`EAGAIN`, no JavaScript runs).
 * Without the addon, or where a handle has no descriptor (Windows), the
 * server keeps its one handle, as before.
 *
 * @example
 * ```ts
 * const extra = addAcceptors(server);   // after server.listen(...) succeeded
 * // on close: extra.close(); server.close();
 * ```
 */
import type { Server } from "node:http";
import net = require("node:net");
import type { Socket } from "node:net";
import { loadNative } from "../transport/http";

/** Handles watching the accept queue, the HTTP server's own included: 64 new connections are in within 8 turns. */
export const ACCEPTORS = 8;

export interface Acceptors {
  /** How many handles accept (1 when no duplicate could be made). */
  readonly count: number;
  /** Why there is only the server's own handle, when that is so. */
  readonly why?: string;
  /** Stop accepting through the duplicates (call before closing the server: they keep the port open). */
  close(): void;
}

/**
 * Watch `server`'s listening socket through `count - 1` more handles.
 * Call once `server` is listening.
 */
export function addAcceptors(server: Server, count = ACCEPTORS): Acceptors {
  const fd = (server as Server & { _handle?: { fd?: number } })._handle?.fd;
  if (count <= 1) return single("one acceptor asked for");
  if (!acceptsOnePerTurn(process.versions.uv)) return single(`libuv ${process.versions.uv} accepts every queued connection in one turn`);
  if (typeof fd !== "number" || fd < 0) return single("the listening handle has no descriptor on this platform");
  // net hands a descriptor to listen on to the cluster's primary (its process,
  // where that number is something else), whatever `exclusive` says.
  if ((require("node:cluster") as { isWorker: boolean }).isWorker) return single("in a cluster worker, net listens on a descriptor in the primary");
  const native = loadNative();
  if (native === null) return single("the native addon is not available");

  const helpers: net.Server[] = [];
  const close = () => {
    for (const helper of helpers.splice(0)) helper.close();
  };
  for (let i = 1; i < count; i++) {
    let copy: number;
    try {
      copy = native.duplicateListener(fd);
    } catch (error) {
      // Out of descriptors, most likely: keep what was made (at worst the server's own handle).
      if (helpers.length === 0) return single(`no second descriptor: ${(error as Error).message}`);
      break;
    }
    const helper = net.createServer(socketOptions(server), (socket: Socket) => adopt(server, helper, socket));
    // accept() failures (EMFILE under load) are the server's to report, as on its own handle.
    helper.on("error", (error) => server.emit("error", error));
    helper.listen({ fd: copy });
    // Listening on a descriptor is set up synchronously; a handle that failed
    // (its error follows on the next tick) is left out of the count. Its
    // descriptor is not closed here: when the failure came after the handle
    // took it, libuv closed it already, and the number may belong to someone else now.
    if ((helper as net.Server & { _handle?: unknown })._handle) helpers.push(helper);
  }
  if (helpers.length === 0) return single("no duplicate could listen");
  return { count: helpers.length + 1, close };
}

/**
 * Hand a socket a duplicate accepted to the HTTP server, as if the server's
 * own handle had: its `connection` event (fast path, peer-user gate,
 * node:http) and its connection count, so `server.close(callback)` waits for
 * it and `getConnections()` counts it (net counted it on the helper). Past
 * the server's `maxConnections` it is dropped, as net drops one its own
 * handle accepted (a helper has no limit of its own to apply).
 */
function adopt(server: Server, helper: net.Server, socket: Socket): void {
  const own = server as Server & { _connections?: number };
  const other = helper as net.Server & { _connections?: number };
  const s = socket as Socket & { _server?: unknown };
  if (typeof own._connections === "number" && overLimit(server.maxConnections, own._connections)) {
    // net's own words for it: a "drop" event with the connection's ends, then the socket closed unanswered.
    server.emit("drop", {
      __proto__: null,
      localAddress: socket.localAddress, localPort: socket.localPort, localFamily: socket.localFamily,
      remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily,
    });
    socket.destroy(); // (still the helper's: its count goes back down)
    return;
  }
  if (typeof own._connections === "number" && typeof other._connections === "number" && s._server === helper) {
    other._connections--;
    own._connections++;
    s._server = server;
  }
  server.emit("connection", socket);
}

/** Read once: `overLimit` runs for every connection a duplicate accepts. */
const NODE_MAJOR = Number(process.versions.node.split(".")[0]);

/**
 * Whether a connection past `count` is over `maxConnections`, read as the
 * running Node's net reads it for its own handle: Node 20 takes any falsy
 * limit (0 too) as none; Node 21 made 0 a limit (nodejs/node#48276).
 */
export function overLimit(limit: number | undefined, count: number, nodeMajor = NODE_MAJOR): boolean {
  const set = nodeMajor >= 21 ? limit !== undefined && limit !== null : Boolean(limit);
  return set && count >= limit!;
}

/** libuv 1.45 (Node 20.3) stopped accepting in a loop (libuv/libuv#3696); before it one handle drained the queue. */
export function acceptsOnePerTurn(uvVersion: string): boolean {
  const [major, minor] = uvVersion.split(".").map(Number);
  return major! > 1 || (major === 1 && minor! >= 45);
}

/**
 * The options the HTTP server's own handle makes its sockets with, so a
 * connection is the same whichever handle accepted it. node:http sets
 * `allowHalfOpen` (a client's FIN must not end the answer still being
 * made) and `noDelay`; a server option may set the rest.
 */
function socketOptions(server: Server): net.ServerOpts {
  const own = server as Server & Pick<net.ServerOpts, "allowHalfOpen" | "pauseOnConnect" | "noDelay" | "keepAlive" | "keepAliveInitialDelay" | "highWaterMark">;
  return {
    allowHalfOpen: own.allowHalfOpen,
    pauseOnConnect: own.pauseOnConnect,
    noDelay: own.noDelay,
    keepAlive: own.keepAlive,
    // net keeps it in seconds and takes it in milliseconds.
    keepAliveInitialDelay: own.keepAliveInitialDelay === undefined ? undefined : own.keepAliveInitialDelay * 1000,
    highWaterMark: own.highWaterMark,
  };
}

function single(why: string): Acceptors {
  return { count: 1, why, close() {} };
}
