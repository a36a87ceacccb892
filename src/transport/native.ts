/**
 * Finds, loads and caches the native addon (`build/Release/azmi.node`, or a
 * prebuild, via node-gyp-build) on first use, and wraps it as a `Transport`.
 * Loading is lazy: importing this module does no I/O.
 */
import path = require("node:path");
import type { ProbeResult, RawRequest, RawResponse, Transport } from "./types";
import { checkIp, checkPort, checkTimeout, normalizeRequest } from "./validate";

/** The addon's exports (see native/addon.cc). */
export interface NativeBinding {
  abiVersion: number;
  probe(ip: string, port: number, timeoutMs: number): Promise<{ outcome: ProbeResult["outcome"]; elapsedMs: number; errno?: string }>;
  request(options: {
    ip: string;
    port: number;
    method: string;
    path: string;
    headers: string[];
    body?: Buffer;
    timeoutMs: number;
    maxHeaderBytes: number;
    maxBodyBytes: number;
  }): Promise<NativeOutcome>;
}

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
      try {
        loaded = require(path.join(ROOT, "build", "Release", "azmi.node")) as NativeBinding;
      } catch (first) {
        if ((first as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw first;
        loaded = (require("node-gyp-build") as (dir: string) => NativeBinding)(ROOT);
      }
    }
    if (loaded.abiVersion !== 1) throw new Error(`unexpected addon ABI ${String(loaded.abiVersion)}`);
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
 * How long after its deadline a native job may take before the JS side
 * answers for it. A job that started on time always answers by its deadline;
 * one still waiting for a libuv pool thread (all busy, e.g. with other slow
 * jobs or dns.lookup) would otherwise be late by however long the queue is.
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

function makeNativeTransport(b: NativeBinding): Transport {
  return {
    kind: "native",
    async probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult> {
      checkIp(ip, "ip");
      checkPort(port, "port");
      const t = checkTimeout(timeoutMs, "timeoutMs");
      const started = performance.now();
      const r = await guarded(b.probe(ip, port, t), t, () => ({ outcome: "timeout" as const, elapsedMs: performance.now() - started }));
      return r.errno === undefined ? { outcome: r.outcome, elapsedMs: r.elapsedMs } : { outcome: r.outcome, elapsedMs: r.elapsedMs, errno: r.errno };
    },
    async request(request: RawRequest): Promise<RawResponse> {
      const n = normalizeRequest(request);
      const started = performance.now();
      const r = await guarded<NativeOutcome>(b.request(n), n.timeoutMs, () => ({
        // "ETIMEDOUT" is ErrorCode.Timeout, spelled out so errors.ts stays off the success path.
        ok: false, code: "ETIMEDOUT", phase: "connect", detail: "timed out", elapsedMs: performance.now() - started,
      }));
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

let transport: Transport | null | undefined;

/**
 * The native `Transport`, or `null` when the addon is unavailable.
 *
 * @example
 * ```ts
 * const t = nativeTransport();
 * const res = await t?.request({ ip: "127.0.0.1", port: 8080, method: "GET", path: "/", timeoutMs: 500 });
 * ```
 */
export function nativeTransport(): Transport | null {
  if (transport !== undefined) return transport;
  const b = loadNative();
  transport = b ? makeNativeTransport(b) : null;
  return transport;
}
