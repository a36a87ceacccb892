/**
 * Remembers IMDS probe results so a laptop pays the probe once, not on every
 * `azmi token`:
 * - in-process: positive and negative results, per endpoint and network;
 * - across processes: negative results only, in `azmiHome()/probe-memo.json`
 *   (0600, no secrets: endpoint, time, one-line reason).
 * Entries are keyed by a hash of this machine's network configuration (its
 * routes and addresses) plus the IMDS endpoint, so joining another network or
 * starting a VPN re-probes, and expire after `AZMI_PROBE_MEMO_TTL_MS`
 * (default 5 min; `0` turns the memo off).
 *
 * @example
 * ```ts
 * const memo = new ProbeMemo(process.env);
 * const seen = memo.get("169.254.169.254:80");
 * if (!seen) memo.remember("169.254.169.254:80", false, "connect ENETUNREACH in 0.1 ms");
 * ```
 */
import path = require("node:path");
import { azmiHome, ensureAzmiHome, readOwnFile, writePrivateFile } from "../paths";
import { readProcFile, readRoutingTables } from "../transport/routes";

/** How long a probe result is trusted. */
export const DEFAULT_PROBE_MEMO_TTL_MS = 5 * 60 * 1000;
export const PROBE_MEMO_FILE = "probe-memo.json";
/** Entries kept in the file (several networks / endpoints), oldest dropped first. */
const MAX_FILE_ENTRIES = 16;

export interface ProbeMemoEntry {
  present: boolean;
  /** ms since the epoch. */
  at: number;
  /** One line, no secrets. */
  reason: string;
  endpoint: string;
}

interface MemoFile {
  version: 1;
  entries: Record<string, ProbeMemoEntry>;
}

const inProcess = new Map<string, ProbeMemoEntry>();

/** How long one reading of the interface list is trusted inside a process. */
const FINGERPRINT_REUSE_MS = 2000;
let fingerprint: { value: string; at: number } | undefined;

/** FNV-1a, 2 × 32 bit: enough to tell networks apart, and no node:crypto load on the CLI's hot start. */
function fnv64(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

/**
 * A short hash of this machine's network configuration: on Linux its routing
 * tables (every route's prefix and type, though not its gateway or device;
 * every local IPv4 address) and its IPv6 addresses, read from /proc;
 * elsewhere every interface address. Either way a new network or a VPN
 * changes it (new addresses, new routes).
 *
 * @example
 * ```ts
 * networkFingerprint(); // "3f1c0a9be2d47c10"
 * ```
 */
export function networkFingerprint(now: number = Date.now()): string {
  // A chain asking many times a second reuses one reading briefly.
  if (fingerprint && now - fingerprint.at < FINGERPRINT_REUSE_MS && now >= fingerprint.at) return fingerprint.value;
  const value = fnv64((process.platform === "linux" ? procNetworkState() : undefined) ?? interfaceAddresses());
  fingerprint = { value, at: now };
  return value;
}

/**
 * /proc/net/fib_trie plus /proc/net/if_inet6 (absent without IPv6), or
 * undefined when the tables cannot be read. Two small reads instead of
 * loading node:os and asking getifaddrs(), ~2 ms of a fresh process's first
 * default-chain token where page faults are slow.
 */
function procNetworkState(): string | undefined {
  const tables = readRoutingTables();
  if (tables === undefined) return undefined;
  const inet6 = readProcFile("/proc/net/if_inet6") ?? new Uint8Array(0);
  return `${latin1(tables)}\n${latin1(inet6)}`;
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
}

/** Every interface's name, address and netmask, sorted (node:os, loaded only here). */
function interfaceAddresses(): string {
  const os = require("node:os") as typeof import("node:os");
  const parts: string[] = [];
  const ifaces = os.networkInterfaces();
  for (const name of Object.keys(ifaces).sort()) {
    for (const a of ifaces[name] ?? []) parts.push(`${name} ${a.address}/${a.netmask}`);
  }
  return parts.sort().join("\n");
}

/**
 * The memo's time-to-live from `AZMI_PROBE_MEMO_TTL_MS`, else the default.
 *
 * @example
 * ```ts
 * probeMemoTtlMs({ AZMI_PROBE_MEMO_TTL_MS: "0" }); // 0 (memo off)
 * ```
 */
export function probeMemoTtlMs(env: NodeJS.ProcessEnv): number {
  const raw = env.AZMI_PROBE_MEMO_TTL_MS;
  if (raw === undefined || raw === "") return DEFAULT_PROBE_MEMO_TTL_MS;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_PROBE_MEMO_TTL_MS;
}

export class ProbeMemo {
  private readonly ttlMs: number;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env, private readonly now: () => number = Date.now) {
    this.ttlMs = probeMemoTtlMs(env);
  }

  /** Where the cross-process memo lives. */
  file(): string {
    return path.join(azmiHome(this.env), PROBE_MEMO_FILE);
  }

  private key(endpoint: string): string {
    return `${endpoint}|${networkFingerprint(this.now())}`;
  }

  /** A still-valid remembered result for this endpoint on this network, if any. */
  get(endpoint: string): (ProbeMemoEntry & { source: "process" | "file" }) | undefined {
    if (this.ttlMs === 0) return undefined;
    const key = this.key(endpoint);
    const now = this.now();
    const mine = inProcess.get(key);
    if (mine && now - mine.at < this.ttlMs && mine.at <= now) return { ...mine, source: "process" };
    const fromFile = this.readFile().entries[key];
    if (fromFile && !fromFile.present && now - fromFile.at < this.ttlMs && fromFile.at <= now) {
      inProcess.set(key, fromFile);
      return { ...fromFile, source: "file" };
    }
    return undefined;
  }

  /** Remember a result; negative ones also go to the per-user file (best effort). */
  remember(endpoint: string, present: boolean, reason: string): void {
    if (this.ttlMs === 0) return;
    const key = this.key(endpoint);
    const entry: ProbeMemoEntry = { present, at: this.now(), reason, endpoint };
    inProcess.set(key, entry);
    const memo = this.readFile();
    if (present) {
      if (!(key in memo.entries)) return;
      delete memo.entries[key];
    } else {
      memo.entries[key] = entry;
    }
    const kept = Object.entries(memo.entries)
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, MAX_FILE_ENTRIES);
    try {
      ensureAzmiHome(this.env);
      writePrivateFile(this.file(), `${JSON.stringify({ version: 1, entries: Object.fromEntries(kept) }, null, 1)}\n`);
    } catch {
      // A read-only home must not break token acquisition; the in-process memo still works.
    }
  }

  private readFile(): MemoFile {
    try {
      // A memo another user could have planted is ignored (it would turn managed identity off); the next write replaces it.
      const text = readOwnFile(this.file()).text;
      if (text === undefined) return { version: 1, entries: {} };
      const parsed = JSON.parse(text) as Partial<MemoFile>;
      if (parsed && parsed.version === 1 && parsed.entries && typeof parsed.entries === "object") return parsed as MemoFile;
    } catch {}
    return { version: 1, entries: {} };
  }
}

/**
 * Forget every in-process result (tests; a CLI re-probe).
 *
 * @example
 * ```ts
 * clearProcessProbeMemo();
 * ```
 */
export function clearProcessProbeMemo(): void {
  inProcess.clear();
  fingerprint = undefined;
}
