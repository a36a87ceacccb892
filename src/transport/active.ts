/**
 * Chooses the transport for this process: the native addon when it loads,
 * else the node:net fallback. `AZMI_TRANSPORT=node` forces the fallback
 * (tests, or to rule the addon out); `AZMI_TRANSPORT=native` insists on the
 * addon and fails loudly when it is missing.
 */
import { nativeLoadError, nativeTransport } from "./native";
import type { Transport } from "./types";

// The fallback pulls in node:net and its parser: load it only when used.
function fallback(): Transport {
  return (require("./fallback") as typeof import("./fallback")).fallbackTransport;
}

/** Why the active transport was chosen, for `azmi doctor`. */
export interface TransportDiagnostics {
  kind: "native" | "node";
  reason: string;
}

/**
 * The transport to use now (re-reads `AZMI_TRANSPORT` each call; the addon
 * itself is loaded once).
 *
 * @example
 * ```ts
 * const res = await activeTransport().request({ ip: "127.0.0.1", port: 80, method: "GET", path: "/", timeoutMs: 1000 });
 * ```
 */
export function activeTransport(): Transport {
  const wanted = process.env.AZMI_TRANSPORT;
  if (wanted === "node") return fallback();
  const native = nativeTransport();
  if (native) return native;
  if (wanted === "native") {
    // errors.ts loads only here: the common paths never need it.
    const { AzmiError, ErrorCode } = require("../errors") as typeof import("../errors");
    throw new AzmiError(
      ErrorCode.InvalidEnvironment,
      `AZMI_TRANSPORT=native but the native addon could not be loaded (${nativeLoadError()}); run "npm run build:native" or unset AZMI_TRANSPORT`,
    );
  }
  return fallback();
}

/**
 * Which transport answers and why.
 *
 * @example
 * ```ts
 * transportDiagnostics(); // { kind: "native", reason: "native addon loaded" }
 * ```
 */
export function transportDiagnostics(): TransportDiagnostics {
  if (process.env.AZMI_TRANSPORT === "node") return { kind: "node", reason: "AZMI_TRANSPORT=node forces the node:net fallback" };
  if (nativeTransport()) return { kind: "native", reason: "native addon loaded" };
  return { kind: "node", reason: `native addon unavailable (${nativeLoadError()}); using the node:net fallback` };
}
