/**
 * Who is on the other end of a loopback connection: the user owning the
 * client's socket, read from the kernel's socket table (`/proc/net/tcp` and
 * `tcp6`, Linux). `azmi serve --issuer chain` hands out its user's real
 * tokens, and its IMDS and Cloud Shell dialects carry no secret (as on
 * Azure, where the identity belongs to the machine): on loopback, that
 * would mean every local user. So a chain server answers loopback clients
 * of its own user (and root, who can read its state file anyway) and tells
 * the others, in IMDS's error shape, why not. Elsewhere (macOS, Windows, no
 * `/proc`) the owner cannot be asked cheaply; the start-up text says so.
 *
 * @example
 * ```ts
 * gateConnections(server, (socket) => ownUserOnly(socket));
 * ```
 */
import fs = require("node:fs");
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { isLoopbackHost } from "../transport/http";
import { interceptConnections } from "./fastPath";

/** Whether this machine can tell a loopback client's user (Linux with `/proc`). */
export function canTellPeerUser(): boolean {
  return process.platform === "linux" && typeof process.getuid === "function" && fs.existsSync("/proc/net/tcp");
}

/**
 * The uid that owns the client end of `socket` (a loopback connection to
 * this server), or `undefined` when the kernel's table does not list it
 * (the client already closed it) or cannot be read.
 *
 * @example
 * ```ts
 * loopbackPeerUid(socket); // 1000
 * ```
 */
export function loopbackPeerUid(socket: Socket): number | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return undefined;
  // A v4 client of a server listening on "::" shows as ::ffff:a.b.c.d; its own socket is an IPv4 one.
  const unmap = (a: string) => (a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a);
  const address = unmap(remoteAddress);
  const server = unmap(localAddress);
  const v4 = address.includes(".");
  if (server.includes(".") !== v4) return undefined;
  const hex = v4 ? hexV4(address) : hexV6(address);
  const serverHex = v4 ? hexV4(server) : hexV6(server);
  if (hex === undefined || serverHex === undefined) return undefined;
  // Both ends of the connection, not just the server's port: another user can
  // have the kernel list a TIME_WAIT socket (shown as root's) with this
  // client's local end and the server's port, by connecting from that port to
  // the same port on another loopback address (127.0.0.2) and closing first.
  const clientEnd = `${hex}:${hexPort(remotePort)}`;
  const serverEnd = `${serverHex}:${hexPort(localPort)}`;
  if (!v4) return uidIn("/proc/net/tcp6", clientEnd, serverEnd);
  // An IPv4 client's socket is an IPv4 one, or an IPv6 one connected to
  // ::ffff:127.0.0.1 (dual-stack clients: .NET's HttpClient, hence
  // PowerShell's Invoke-RestMethod and Azure.Identity for .NET, and Java),
  // which the kernel lists in tcp6 under the mapped addresses.
  const mapped = "0000000000000000FFFF0000";
  return uidIn("/proc/net/tcp", clientEnd, serverEnd) ?? uidIn("/proc/net/tcp6", `${mapped}${clientEnd}`, `${mapped}${serverEnd}`);
}

/**
 * The uid of the socket whose local end is `clientEnd` and remote end
 * `serverEnd` in one of the kernel's tables. A line without an inode (a
 * TIME_WAIT socket, or one its process has closed) says uid 0 whoever owned
 * it, so it names no one.
 */
function uidIn(tableFile: string, clientEnd: string, serverEnd: string): number | undefined {
  let table: string;
  try {
    table = fs.readFileSync(tableFile, "latin1");
  } catch {
    return undefined;
  }
  for (const line of table.split("\n")) {
    if (!line.includes(clientEnd)) continue; // split only the lines that can match (a busy host lists thousands)
    // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode"
    const f = line.trim().split(/\s+/);
    if (f[1] === clientEnd && f[2] === serverEnd && f[9] !== "0") {
      const uid = Number(f[7]);
      return Number.isInteger(uid) ? uid : undefined;
    }
  }
  return undefined;
}

/**
 * Put `allow` in front of every connection of `server`: the listeners it has
 * now (node:http's, the fast path's) see only allowed connections; a refused
 * one gets `refusal` as its answer, then a close.
 */
export function gateConnections(server: Server, allow: (socket: Socket) => boolean, refusal: string): void {
  interceptConnections(server, (socket, passOn) => {
    if (allow(socket)) return passOn();
    socket.on("error", () => socket.destroy());
    socket.end(refusal);
    socket.setTimeout(1_000, () => socket.destroy());
  });
}

/**
 * `allow` for a chain server: loopback clients of this server's user or
 * root; clients at other addresses are not judged here (a server bound
 * beyond loopback warns at start that anyone who can reach it gets tokens).
 */
export function ownUserOnly(socket: Socket): boolean {
  // No address (the client already reset the connection): no one to judge, so no one let in.
  const remote = socket.remoteAddress;
  if (remote === undefined) return false;
  if (!isLoopbackHost(remote.replace(/^::ffff:/, ""))) return true;
  const uid = loopbackPeerUid(socket);
  return uid !== undefined && (uid === process.getuid!() || uid === 0);
}

/** `/proc/net/tcp`'s form of an IPv4 address: the four bytes as one little-endian word, in hex. */
function hexV4(address: string): string | undefined {
  const bytes = address.split(".").map(Number);
  if (bytes.length !== 4 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) return undefined;
  return bytes
    .reverse()
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
}

/** `/proc/net/tcp6`'s form of an IPv6 address: four little-endian words, in hex. */
function hexV6(address: string): string | undefined {
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups = halves.length === 2 ? [...head, ...new Array<string>(8 - head.length - tail.length).fill("0"), ...tail] : head;
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const bytes = groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
  let out = "";
  for (let i = 0; i < 16; i += 4) out += hexV4(bytes.slice(i, i + 4).join("."))!;
  return out;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}
