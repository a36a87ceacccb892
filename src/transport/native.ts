/**
 * The native addon's loader and `Transport`. They live in http.ts, the one
 * file the load path needs (see its header: every extra CommonJS file costs
 * ~0.3–0.5 ms of a cold start); this module keeps their import path.
 */
export { loadNative, nativeLoadError, nativeTransport, type NativeBinding, type NativeDriver } from "./http";
