/**
 * "Is there no IPv4 route at all to this address?", answered from the
 * kernel's own routing tables, for the cost of reading one /proc file.
 *
 * Why: in a fresh process, learning that 169.254.169.254 has no route by
 * trying (the addon's connect failing with ENETUNREACH) first costs loading
 * the addon, ~0.9 ms of a ~1.5 ms answer on a slow VM. A container started
 * with `--network none`, or a host without a default route, is the place
 * where managed identity is most plainly absent, and it should not pay that.
 *
 * How: `/proc/net/fib_trie` (Linux, the caller's network namespace) lists
 * every routing table (`Main:`, `Local:`, `Id N:`), each entry as a leaf key
 * (`|-- 10.0.0.0`) followed by one line per prefix length stored there
 * (`/8 link UNICAST`). A connect looks routes up in these tables only (policy
 * rules pick among them), so when no entry of any table covers the address,
 * of whatever type, and the namespace has no policy rules of its own (whose
 * actions answer before any table: see `tablesCover`), the kernel answers
 * ENETUNREACH. When anything covers it (a default route, a blackhole, a
 * throw), when the namespace has rules of its own, or when the file is
 * missing, empty, cut short, changing while read or shaped unexpectedly, the
 * answer is "don't know" and the caller connects as before: this can only
 * ever spare a connect, never invent an answer the connect would not give.
 * (0.0.0.0 is never asked about: Linux connects it to this machine.)
 *
 * One thing outside the tables can change a connect's destination before its
 * route lookup: a cgroup `connect4` BPF program (some Kubernetes service
 * meshes use one). On a host that both has no route to the address and runs
 * such a program, set `AZMI_ROUTE_CHECK=0` to always connect. What denies a
 * connect before the lookup (an LSM, seccomp, a denying BPF program), or
 * local routes copied by hand into the main table beside a `prohibit` rule,
 * only changes the errno the connect would give: unreachable either way.
 *
 * @example
 * ```ts
 * if (noRouteTo("169.254.169.254")) throw unreachable(); // inside `docker run --network none`
 * ```
 */
import fs = require("node:fs");

/** /proc files larger than this are not read (route dumps of hosts with full BGP tables): "don't know". */
const MAX_PROC_BYTES = 256 * 1024;
const FIB_TRIE = "/proc/net/fib_trie";

/**
 * True only when this machine's routing tables hold no entry covering `ip`
 * (a dotted-quad IPv4 address outside 127/8), so a connect to it must fail
 * with ENETUNREACH. False whenever that is not certain (see the module notes).
 *
 * @example
 * ```ts
 * noRouteTo("169.254.169.254"); // true inside `ip netns add x` with only `lo` up
 * noRouteTo("127.0.0.1");       // false: loopback is never asked about
 * ```
 */
export function noRouteTo(ip: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== "linux" || env.AZMI_ROUTE_CHECK === "0") return false;
  const target = ipv4Number(ip);
  // 0.0.0.0 never reaches the tables: Linux connects it to this machine.
  if (target === undefined || target === 0 || target >> 24 === 127) return false;
  const dump = readRoutingTables();
  if (dump === undefined) return false;
  // Only 127.0.0.0/8 is routed there, and `target` lies outside it (above).
  if (isLoopbackOnly(dump)) return true;
  return tablesCover(dump, target) === false;
}

/**
 * The whole dump of a namespace whose one interface is `lo` (`docker run
 * --network none`, `unshare -n`, systemd's `PrivateNetwork=`, `ip netns add`
 * with `lo` up), as Linux prints it: Main and Local are one trie, printed
 * under both, holding only 127.0.0.0/8. This is where managed identity is
 * most plainly absent, so it is recognised whole, by one comparison, before
 * any parsing: `tablesCover` answers the same for it (a test holds them
 * equal), but parsing it is the first run of the parser's functions in a
 * fresh process, and V8 compiles them on the spot (its baseline batch
 * compiler, ~0.17 ms of a ~0.9 ms answer; README, session 19). A kernel that
 * prints it otherwise, or any other namespace, is parsed as before.
 */
export const LOOPBACK_ONLY_DUMP = `Main:\n${loopbackTrie()}Local:\n${loopbackTrie()}`;

function loopbackTrie(): string {
  return (
    "  +-- 127.0.0.0/8 2 0 2\n" +
    "     +-- 127.0.0.0/31 1 0 0\n" +
    "        |-- 127.0.0.0\n" +
    "           /8 host LOCAL\n" +
    "        |-- 127.0.0.1\n" +
    "           /32 host LOCAL\n" +
    "     |-- 127.255.255.255\n" +
    "        /32 link BROADCAST\n"
  );
}

/** Whether `dump` is exactly {@link LOOPBACK_ONLY_DUMP}. */
export function isLoopbackOnly(dump: Uint8Array): boolean {
  // The bytes as one string by a builtin (the length checked first, so only
  // a few hundred go through apply), where a loop would be more JavaScript to run.
  return dump.length === LOOPBACK_ONLY_DUMP.length && String.fromCharCode.apply(null, dump as unknown as number[]) === LOOPBACK_ONLY_DUMP;
}

/**
 * Whether a `/proc/net/fib_trie` dump holds an entry covering `target`
 * (an IPv4 address as a signed 32-bit integer, see `ipv4Number`); undefined when the dump is
 * not one this parser fully understands (then nothing may be concluded).
 * Read byte by byte, making no strings: this runs once in a fresh process,
 * where the first call of each of Node's own functions (Buffer's among them)
 * costs more than the whole loop.
 *
 * @example
 * ```ts
 * tablesCover(Buffer.from("Main:\n  |-- 0.0.0.0\n     /0 universe UNICAST\n"), 0xa9fea9fe | 0); // true
 * ```
 */
export function tablesCover(dump: Uint8Array, target: number): boolean | undefined {
  let tables = 0;
  let leaves = 0;
  // Where the Main and Local tables' entries are printed (byte ranges).
  const sections: Record<"main" | "local", [number, number] | undefined> = { main: undefined, local: undefined };
  let open: "main" | "local" | undefined;
  let leaf = 0; // the current leaf's key, when inLeaf
  let inLeaf = false;
  let leafPrefixes = 0;
  let at = 0;
  while (at < dump.length) {
    let end = indexOfByte.call(dump, NEWLINE, at);
    if (end < 0) end = dump.length;
    let first = at;
    while (first < end && dump[first] === SPACE) first++;
    const indented = first > at;
    const lineStart = at;
    at = end + 1;
    if (first === end) continue;
    if (startsWith(dump, first, end, LEAF)) {
      // Every leaf has at least one prefix line; one without is a format this parser does not know.
      if (inLeaf && leafPrefixes === 0) return undefined;
      const key = ipv4At(dump, first + LEAF.length, end);
      if (key === undefined || key.next !== end) return undefined;
      leaf = key.value;
      inLeaf = true;
      leaves++;
      leafPrefixes = 0;
    } else if (dump[first] === SLASH) {
      if (!inLeaf) return undefined;
      const length = prefixLengthAt(dump, first + 1, end);
      if (length === undefined) return undefined;
      leafPrefixes++;
      const mask = length === 0 ? 0 : -1 << (32 - length);
      if ((target & mask) === (leaf & mask)) return true;
    } else if (!indented && dump[end - 1] === COLON) {
      // A table header (`Main:`, `Local:`, `Id 100:`), at the line's start.
      if (inLeaf && leafPrefixes === 0) return undefined;
      tables++;
      inLeaf = false;
      if (open) sections[open]![1] = lineStart;
      open = isWord(dump, first, end, MAIN) ? "main" : isWord(dump, first, end, LOCAL) ? "local" : undefined;
      if (open) sections[open] = [at, dump.length];
    } else if (!indented || !isInnerNode(dump, first, end)) {
      return undefined;
    }
  }
  if (inLeaf && leafPrefixes === 0) return undefined;
  // An empty dump proves nothing (a /proc that hides the tables): even a
  // namespace with only `lo` up lists 127.0.0.1 in its local table.
  if (tables === 0 || leaves === 0) return undefined;
  // Policy rules are not in /proc, and a rule's own action (prohibit,
  // blackhole) answers before any table, with another errno. But the kernel
  // keeps the Main and Local tables as one trie, printed twice alike, until
  // a namespace's first rule of its own is added: only while they read the
  // same is nothing covering known to mean ENETUNREACH.
  const { main, local } = sections;
  return main && local && sameLines(dump, main, local) ? false : undefined;
}

/** Whether two sections of `bytes` hold the same lines (a last line without its newline too). */
function sameLines(bytes: Uint8Array, a: [number, number], b: [number, number]): boolean {
  const end = (range: [number, number]) => (range[1] > range[0] && bytes[range[1] - 1] === NEWLINE ? range[1] - 1 : range[1]);
  const length = end(a) - a[0];
  if (end(b) - b[0] !== length) return false;
  // A loop, not Buffer.compare on two subarrays: both are Node functions a
  // fresh process would run for the first time here (~0.05 ms), for ~200 bytes.
  for (let i = 0; i < length; i++) if (bytes[a[0] + i] !== bytes[b[0] + i]) return false;
  return true;
}

/**
 * The typed array's own indexOf (a V8 builtin), called on Buffers too:
 * Buffer's indexOf is a Node function that a fresh process would first
 * compile and then enter for every line.
 */
const indexOfByte = Uint8Array.prototype.indexOf;

/** Whether the line from `from` to `end` is exactly `word`. */
function isWord(bytes: Uint8Array, from: number, end: number, word: readonly number[]): boolean {
  return end - from === word.length && startsWith(bytes, from, end, word);
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const SLASH = 0x2f;
const COLON = 0x3a;
const LEAF = [0x7c, 0x2d, 0x2d, 0x20]; // "|-- "
const INNER = [0x2b, 0x2d, 0x2d, 0x20]; // "+-- "
const MAIN = [0x4d, 0x61, 0x69, 0x6e, 0x3a]; // "Main:"
const LOCAL = [0x4c, 0x6f, 0x63, 0x61, 0x6c, 0x3a]; // "Local:"

function startsWith(bytes: Uint8Array, from: number, end: number, prefix: readonly number[]): boolean {
  if (end - from < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[from + i] !== prefix[i]) return false;
  return true;
}

/** An inner trie node (`+-- 10.0.0.0/8 2 0 2`, or the root without `+-- `): no route of its own. */
function isInnerNode(bytes: Uint8Array, from: number, end: number): boolean {
  const key = ipv4At(bytes, startsWith(bytes, from, end, INNER) ? from + INNER.length : from, end);
  return key !== undefined && bytes[key.next] === SLASH;
}

/** The number after `/` of a prefix line (`/24 link UNICAST`), 0–32, ending the line or followed by a space. */
function prefixLengthAt(bytes: Uint8Array, from: number, end: number): number | undefined {
  let n = 0;
  let i = from;
  for (; i < end && i < from + 3 && isDigit(bytes[i]!); i++) n = n * 10 + bytes[i]! - 0x30;
  if (i === from || (i < end && bytes[i] !== SPACE) || n > 32) return undefined;
  return n;
}

/** A dotted quad starting at `from` (as `ipv4Number` gives it) and the index after it. */
function ipv4At(bytes: Uint8Array, from: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let i = from;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (bytes[i] !== 0x2e || i >= end) return undefined;
      i++;
    }
    const digitsFrom = i;
    let v = 0;
    for (; i < end && i < digitsFrom + 3 && isDigit(bytes[i]!); i++) v = v * 10 + bytes[i]! - 0x30;
    if (i === digitsFrom || v > 255) return undefined;
    value = (value << 8) | v;
  }
  return { value, next: i };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * A dotted quad as a signed 32-bit integer (its bits in network order), or
 * undefined. Signed on purpose: V8 keeps such numbers unboxed, where the
 * unsigned form above 2^31 (169.254.x.x) is a heap number, and in a fresh
 * process each such first costs more than this whole check.
 *
 * @example
 * ```ts
 * ipv4Number("169.254.169.254"); // -1442928130 (0xa9fea9fe | 0)
 * ipv4Number("::1");             // undefined
 * ```
 */
export function ipv4Number(text: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e && digits > 0 && dots < 3) {
      value = (value << 8) | part;
      part = 0;
      digits = 0;
      dots++;
    } else if (isDigit(c) && digits < 3 && part * 10 + c - 0x30 <= 255) {
      part = part * 10 + c - 0x30;
      digits++;
    } else {
      return undefined;
    }
  }
  return dots === 3 && digits > 0 ? (value << 8) | part : undefined;
}

/**
 * The whole `/proc/net/fib_trie` dump (every routing table of this process's
 * network namespace, with every local IPv4 address), or undefined when it
 * cannot be read whole (not Linux, a /proc that hides it, more than 256 KiB).
 *
 * @example
 * ```ts
 * const dump = readRoutingTables(); // Uint8Array | undefined
 * ```
 * (`read`: how to read the file, for tests.)
 */
export function readRoutingTables(read: (file: string) => WholeFile | undefined = readWhole): Uint8Array | undefined {
  const first = read(FIB_TRIE);
  if (first === undefined || first.reads <= 1) return first?.bytes;
  // A longer dump comes in several reads, and the kernel walks the tables
  // afresh for each: routes changing in between can be skipped (seen with
  // 2,000 routes in churn). Trust it only when a second dump reads the same.
  const second = read(FIB_TRIE);
  return second !== undefined && Buffer.compare(first.bytes, second.bytes) === 0 ? first.bytes : undefined;
}

/**
 * A /proc file, whole, or undefined when it cannot be read (missing, or
 * larger than 256 KiB). By open and read calls, which start-up has already
 * run, not `readFileSync`, whose first call costs a fresh process ~1 ms here.
 *
 * @example
 * ```ts
 * readProcFile("/proc/net/if_inet6"); // undefined without IPv6
 * ```
 */
export function readProcFile(file: string): Uint8Array | undefined {
  return readWhole(file)?.bytes;
}

/** A file's bytes and how many `read()` calls returned some. */
export interface WholeFile {
  bytes: Uint8Array;
  reads: number;
}

/** A file, whole, or undefined (see `readProcFile`). */
function readWhole(file: string): WholeFile | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY); // (a number: start-up opened its bundle so; "r" would first parse flags)
  } catch {
    return undefined;
  }
  try {
    // /proc files report size 0, so read until the end rather than by fstat;
    // one buffer, grown (up to the cap) in the rare case a host has many routes.
    let bytes = Buffer.allocUnsafe(8 * 1024);
    let total = 0;
    let reads = 0;
    for (;;) {
      if (total === bytes.length) {
        // (One byte past the cap, to tell a file of exactly the cap from a longer one.)
        const bigger = Buffer.allocUnsafe(Math.min(bytes.length * 4, MAX_PROC_BYTES + 1));
        bytes.copy(bigger, 0, 0, total);
        bytes = bigger;
      }
      const n = fs.readSync(fd, bytes, total, bytes.length - total, null);
      if (n === 0) return { bytes: bytes.subarray(0, total), reads };
      total += n;
      reads++;
      if (total > MAX_PROC_BYTES) return undefined;
    }
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
