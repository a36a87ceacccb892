/**
 * The transports the shared suite runs against: the native addon (when it is
 * built) with its event-loop driver and with its pool driver, and the
 * node:net fallback; all three must agree on every case. Native cases are
 * skipped with a printed reason when the addon cannot load.
 */
import { fallbackTransport } from "../../src/transport/fallback";
import { nativeLoadError, nativeTransport } from "../../src/transport/http";
import type { RawRequest, RawResponse, Transport } from "../../src/transport/types";

export function allTransports(): Transport[] {
  if (!nativeTransport()) {
    console.log(`    (native transport skipped: ${nativeLoadError()}; run "npm run build:native")`);
    return [fallbackTransport];
  }
  return [nativeTransport("loop")!, nativeTransport("pool")!, fallbackTransport];
}

/** A test-title label: `native-loop`, `native-pool` or `node`. */
export function label(t: Transport): string {
  return t.driver ? `${t.kind}-${t.driver}` : t.kind;
}

/** A comparable summary of what a request produced: response or error facts. */
export type Outcome =
  | { ok: true; status: number; statusText: string; headers: Record<string, string>; body: string }
  | { ok: false; name: string; code: string; phase: string; message: string; address: string; port: number; timeoutMs: number };

export async function outcomeOf(t: Transport, req: RawRequest): Promise<Outcome & { elapsedMs: number }> {
  const started = performance.now();
  try {
    const r: RawResponse = await t.request(req);
    return { ok: true, status: r.status, statusText: r.statusText, headers: { ...r.headers }, body: r.body.toString("latin1"), elapsedMs: performance.now() - started };
  } catch (e) {
    const err = e as Error & { code: string; phase: string; address: string; port: number; timeoutMs: number };
    return {
      ok: false, name: err.name, code: err.code, phase: err.phase, message: err.message, address: err.address,
      port: err.port, timeoutMs: err.timeoutMs, elapsedMs: performance.now() - started,
    };
  }
}
