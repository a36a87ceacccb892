/**
 * The choice of transport (native addon or node:net fallback,
 * `AZMI_TRANSPORT`). It lives in http.ts, the one file the load path needs
 * (see its header: every extra CommonJS file costs ~0.3–0.5 ms of a cold
 * start); this module keeps its import path.
 */
export { activeTransport, transportDiagnostics, type TransportDiagnostics } from "./http";
