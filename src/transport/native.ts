/**
 * Finds, loads and caches the native addon (`build/Release/azmi.node`, or a
 * prebuild, via node-gyp-build) on first use, and wraps it as a `Transport`.
 * Loading is lazy: importing this module does no I/O.
 */
import fs = require("node:fs");
import path = require("node:path");
import type { ProbeResult, RawRequest, RawResponse, Transport } from "./types";
import { checkIp, checkPort, checkTimeout, normalizeRequest } from "./validate";
import { nowMs } from "../clock";

/** What the addon's `request()`/`requestPool()` take (see native/addon.cc). */
interface NativeRequestOptions {
  ip: string;
  port: number;
  method: string;
  path: string;
  headers: string[];
  body?: Buffer;
  timeoutMs: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

/** The addon's exports (see native/addon.cc). */
export interface NativeBinding {
  abiVersion: number;
  probe(ip: string, port: number, timeoutMs: number): Promise<{ outcome: ProbeResult["outcome"]; elapsedMs: number; errno?: string }>;
  /** One exchange stepped by this thread's event loop (uv_poll + uv_timer), never blocking it. */
  request(options: NativeRequestOptions): Promise<NativeOutcome>;
  /** The same exchange, blocking on a libuv pool thread. */
  requestPool(options: NativeRequestOptions): Promise<NativeOutcome>;
}

/**
 * Which addon driver runs an exchange: `"loop"` (default; the event loop
 * wakes on the socket, no thread hop, immune to a busy libuv pool) or
 * `"pool"` (a pool thread blocks in poll(); `AZMI_NATIVE_DRIVER=pool`).
 */
export type NativeDriver = "loop" | "pool";

type NativeOutcome =
  // headers: lower-cased names, repeats joined with ", " (built in C++, as facts.ts joinHeaders does)
  | { ok: true; status: number; statusText: string; headers: Record<string, string>; body: Buffer; elapsedMs: number }
  | { ok: false; code: string; phase: "connect" | "write" | "headers" | "body"; detail: string; elapsedMs: number };

/** The package root: dist/src/transport → ../../.. (compiled) */
const ROOT = path.resolve(__dirname, "..", "..", "..");

let binding: NativeBinding | null | undefined;
let loadError: string | undefined;

/**
 * The addon, or `null` when it is not built / cannot load (then
 * `nativeLoadError()` says why). Cached after the first call.
 *
 * @example
 * ```ts
 * const b = loadNative();
 * if (b) await b.probe("127.0.0.1", 80, 100);
 * ```
 */
export function loadNative(): NativeBinding | null {
  if (binding !== undefined) return binding;
  try {
    // AZMI_NATIVE_PATH points at a specific build (e.g. the sanitizer build
    // of scripts/sanitize-native.sh). Otherwise the common case first: a
    // local node-gyp build, without node-gyp-build's directory scan; then
    // prebuilds and Debug builds through node-gyp-build.
    const override = process.env.AZMI_NATIVE_PATH;
    let loaded: NativeBinding;
    if (override) {
      loaded = require(path.resolve(override)) as NativeBinding;
    } else {
      const local = path.join(ROOT, "build", "Release", "azmi.node");
      if (fs.existsSync(local)) {
        // process.dlopen, not require: the same load without the module
        // loader's resolution work (~0.5 ms of a first token on a slow machine).
        const module = { exports: {} as NativeBinding };
        process.dlopen(module, local);
        loaded = module.exports;
      } else {
        loaded = (require("node-gyp-build") as (dir: string) => NativeBinding)(ROOT);
      }
    }
    if (loaded.abiVersion !== 2) throw new Error(`unexpected addon ABI ${String(loaded.abiVersion)}`);
    binding = loaded;
  } catch (e) {
    binding = null;
    loadError = (e as Error).message.split("\n")[0];
  }
  return binding;
}

/**
 * Why the addon could not be loaded, for diagnostics (`azmi doctor`).
 *
 * @example
 * ```ts
 * if (!loadNative()) console.error(`native addon unavailable: ${nativeLoadError()}`);
 * ```
 */
export function nativeLoadError(): string | undefined {
  loadNative();
  return loadError;
}

/**
 * How long after its deadline a pool job may take before the JS side
 * answers for it. A job that started on time always answers by its deadline;
 * one still waiting for a libuv pool thread (all busy, e.g. with other slow
 * jobs or dns.lookup) would otherwise be late by however long the queue is.
 * (The probe and the pool request driver only: the loop driver's own uv
 * timer answers at the deadline whatever the pool is doing.)
 */
const GUARD_MS = 50;

/**
 * Settles with `late()` if `job` has not settled `GUARD_MS` after the
 * deadline. The extra setImmediate lets a result that is already posted by
 * the pool (handled in libuv's poll phase, after timers) win the race.
 */
function guarded<T>(job: Promise<T>, timeoutMs: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<T>((resolve) => {
    timer = setTimeout(() => setImmediate(() => resolve(late())), timeoutMs + GUARD_MS);
    timer.unref();
  });
  return Promise.race([job, guard]).finally(() => clearTimeout(timer));
}

function makeNativeTransport(b: NativeBinding, driver: NativeDriver): Transport {
  return {
    kind: "native",
    driver,
    async probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult> {
      checkIp(ip, "ip");
      checkPort(port, "port");
      const t = checkTimeout(timeoutMs, "timeoutMs");
      const started = nowMs();
      const r = await guarded(b.probe(ip, port, t), t, () => ({ outcome: "timeout" as const, elapsedMs: nowMs() - started }));
      return r.errno === undefined ? { outcome: r.outcome, elapsedMs: r.elapsedMs } : { outcome: r.outcome, elapsedMs: r.elapsedMs, errno: r.errno };
    },
    async request(request: RawRequest): Promise<RawResponse> {
      const n = normalizeRequest(request);
      let r: NativeOutcome;
      if (driver === "loop") {
        r = await b.request(n);
      } else {
        const started = nowMs();
        r = await guarded<NativeOutcome>(b.requestPool(n), n.timeoutMs, () => ({
          // "ETIMEDOUT" is ErrorCode.Timeout, spelled out so errors.ts stays off the success path.
          ok: false, code: "ETIMEDOUT", phase: "connect", detail: "timed out", elapsedMs: nowMs() - started,
        }));
      }
      if (r.ok) {
        return { status: r.status, statusText: r.statusText, headers: r.headers, body: r.body, elapsedMs: r.elapsedMs };
      }
      // facts.ts (and errors.ts behind it) load on the first failure only.
      const { transportError } = require("./facts") as typeof import("./facts");
      throw transportError({
        code: r.code,
        phase: r.phase,
        address: n.ip,
        port: n.port,
        timeoutMs: n.timeoutMs,
        elapsedMs: r.elapsedMs,
        detail: r.detail,
        maxHeaderBytes: n.maxHeaderBytes,
        maxBodyBytes: n.maxBodyBytes,
      });
    },
  };
}

const transports: Partial<Record<NativeDriver, Transport | null>> = {};

/**
 * The native `Transport`, or `null` when the addon is unavailable. Requests
 * use the event-loop driver unless `driver` (or, when omitted, the env
 * `AZMI_NATIVE_DRIVER=pool`, read on each call) picks the pool driver; both
 * give identical results and errors.
 *
 * @example
 * ```ts
 * const t = nativeTransport();
 * const res = await t?.request({ ip: "127.0.0.1", port: 8080, method: "GET", path: "/", timeoutMs: 500 });
 * const viaPool = nativeTransport("pool");
 * ```
 */
export function nativeTransport(driver?: NativeDriver): Transport | null {
  if (driver !== undefined && driver !== "loop" && driver !== "pool") {
    throw new TypeError(`nativeTransport: driver must be "loop" or "pool", got ${JSON.stringify(driver)}`);
  }
  const d: NativeDriver = driver ?? (process.env.AZMI_NATIVE_DRIVER === "pool" ? "pool" : "loop");
  const cached = transports[d];
  if (cached !== undefined) return cached;
  const b = loadNative();
  const t = b ? makeNativeTransport(b, d) : null;
  transports[d] = t;
  return t;
}
