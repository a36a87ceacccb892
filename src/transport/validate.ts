/**
 * The transport's argument checks. They live in http.ts, the one file the
 * load path needs (see its header: every extra CommonJS file costs ~0.3–0.5
 * ms of a cold start); this module keeps their import path.
 */
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  MAX_CAP_BYTES,
  MAX_TIMEOUT_MS,
  checkCap,
  checkHeader,
  checkIp,
  checkMethod,
  checkPort,
  checkTimeout,
  ipFamily,
  normalizeRequest,
  type NormalizedRequest,
} from "./http";
