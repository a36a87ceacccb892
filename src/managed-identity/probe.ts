/**
 * Is IMDS really there? Asked only when the caller wants it (inside the
 * default chain), bounded by one budget (default 1 s), in two steps:
 *
 * 1. a connect-level probe of the endpoint's port through the transport —
 *    "no route" (ENETUNREACH/EHOSTUNREACH) or "refused" answers at once;
 * 2. one HTTP `GET` of the token path without `Metadata` and without a query.
 *    Real IMDS answers `400 {"error":"bad_request_102",…}` (or, while it
 *    updates or throttles, 404/408/410/429). Only such a status with a JSON
 *    object with a string `error` (or a 2xx with a token), or
 *    aad-pod-identity NMI's exact 400 text, counts as "IMDS present", so
 *    Docker Desktop's 403 text, an egress filter's 403 JSON, a proxy's HTML
 *    400 or another device on that address are not mistaken for it
 *    (@azure/identity JS counts every status but a 403-with-"unreachable" as
 *    present, spec §1.5).
 *
 * Results are remembered (`ProbeMemo`): negative ones across processes for a
 * few minutes, so the second `azmi token` on a laptop answers in
 * microseconds; only absences that last (`ProbeOutcome.lasting`: not a 5xx,
 * a slow answer, or a probe a caller's budget cut short). Except a refused connect on this machine's loopback: only
 * the server is missing there, which may start any moment (the `azmi serve`
 * a developer starts after a first failed try, behind
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST`), and asking again costs one local
 * connect. (A refusal from another address, such as a firewall answering
 * 169.254.169.254, is remembered like any other absence.) With the override
 * we still probe (cheap on loopback), at the override.
 *
 * @example
 * ```ts
 * const outcome = await probeImds(imdsSource, 1000, process.env, log);
 * if (!outcome.present) throw probeNegativeError(imdsSource, outcome);
 * ```
 */
import { nowMs } from "../clock";
import { CredentialUnavailableError, ErrorCode } from "../errors";
import type { CredentialLogger } from "../log";
import { ProbeMemo, probeMemoTtlMs } from "../cache/probeMemo";
import { activeTransport, isDottedQuad, isIpv6Chars, isLoopbackHost, knownNoRoute, send } from "../transport/http";
import type { ProbeResult } from "../transport/types";
import { transportFailure } from "./exchange";
import { bodyText, snippet } from "./response";
import { ignoredNote, type HttpSource } from "./types";

export interface ProbeOutcome {
  present: boolean;
  /** One line, no secrets, e.g. `connect ENETUNREACH in 0.1 ms`. */
  reason: string;
  ms: number;
  /** Where a remembered result came from. */
  memo?: "process" | "file";
  /** When a remembered result was measured (ms since the epoch). */
  at?: number;
  /** A connect refused on loopback: not remembered (see the module notes). */
  refusedHere?: boolean;
  /**
   * An absence that lasts (no route, refused, a black hole the whole budget
   * long, something that is not IMDS answering): the only kind remembered. A
   * 5xx, a reset or a slow answer after a connect, or a probe cut short by a
   * caller's smaller budget, may pass; remembering it would keep a machine
   * that has managed identity off it for the memo's lifetime.
   */
  lasting?: boolean;
}

/**
 * The active transport's bounded connect probe (native addon or node:net
 * fallback), behind the routing tables' answer as `send()` has it: an
 * address no route covers is unreachable without loading the addon to try
 * (`knownNoRoute`, transport/routes.ts).
 */
function connectProbe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = nowMs();
  if (knownNoRoute(ip)) return Promise.resolve({ outcome: "unreachable", elapsedMs: nowMs() - started, errno: "ENETUNREACH" });
  // Throws, as send() does, under AZMI_TRANSPORT=native without the addon.
  return activeTransport().probe(ip, port, timeoutMs);
}

/**
 * A bounded TCP connect with node:net, for a check that should not load the
 * addon (azmi serve's look for a server already running).
 *
 * @example
 * ```ts
 * await netProbe("127.0.0.1", 9, 100); // { outcome: "refused", errno: "ECONNREFUSED", ... }
 * ```
 */
export function netProbe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const net = require("node:net") as typeof import("node:net"); // lazy: ~10 ms the native path never needs
  const started = nowMs();
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    const done = (outcome: ProbeResult["outcome"], errno?: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, elapsedMs: nowMs() - started, ...(errno ? { errno } : {}) });
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    socket.once("connect", () => done("connected"));
    socket.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED") done("refused", e.code);
      else if (e.code === "ENETUNREACH" || e.code === "EHOSTUNREACH") done("unreachable", e.code);
      else done("unreachable", e.code);
    });
  });
}

/**
 * Numeric IP of a URL host when it can be known without DNS (URL hosts are
 * already normalised). Loops, not regexes: compiling two cost the default
 * chain's first token in a fresh process ~0.1 ms.
 */
function numericHost(hostname: string): string | undefined {
  const h = hostname.length > 1 && hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (isDottedQuad(h) || (h.includes(":") && isIpv6Chars(h))) return h;
  if (h === "localhost") return "127.0.0.1";
  return undefined;
}

/** The statuses IMDS answers a probe with, with a JSON error: 400 ("Required metadata header not specified"), and those of an update or throttling. */
const IMDS_PROBE_STATUSES = new Set([400, 404, 408, 410, 429]);

/** NMI's answer to a token request without `resource` (aad-pod-identity pkg/nmi/server). */
const NMI_NO_RESOURCE = "parameter resource cannot be empty\n";

/**
 * Whether a probe answer looks like IMDS (see the module notes).
 *
 * @example
 * ```ts
 * looksLikeImds(400, Buffer.from('{"error":"bad_request_102"}')); // true
 * looksLikeImds(403, Buffer.from("unreachable network"));          // false
 * ```
 */
export function looksLikeImds(status: number, body: Buffer): boolean {
  const text = bodyText(body);
  if (text === undefined || status < 200 || status >= 500) return false;
  // aad-pod-identity's NMI (AKS pod identity) stands in for IMDS and answers a request
  // without resource with Go's http.Error: this exact plain text (spec §1.5 counts any status).
  if (status === 400 && text === NMI_NO_RESOURCE) return true;
  try {
    const json = JSON.parse(text) as unknown;
    if (json === null || typeof json !== "object" || Array.isArray(json)) return false;
    const o = json as Record<string, unknown>;
    // IMDS answers a request without Metadata with 400 (spec §6.1, "expected
    // answer to probes"), and with its own 404/408/410/429 while it updates
    // or throttles (e.g. 429 "Temporarily throttled, too many requests"),
    // which the token request then rides out. A JSON error with another
    // status (401, 403, 407) is something in front of that address: an egress
    // filter's 403 {"error":"resolve_deny"} passed for IMDS, and the token
    // request's 403 then stopped the chain (az and the other links never
    // asked), where it must move on.
    if (typeof o.access_token === "string") return status < 300;
    return IMDS_PROBE_STATUSES.has(status) && typeof o.error === "string";
  } catch {
    return false;
  }
}

async function probeOnce(source: HttpSource, budgetMs: number, shortened: boolean): Promise<ProbeOutcome> {
  const started = nowMs();
  const elapsed = () => nowMs() - started;
  const ip = numericHost(source.url.hostname);
  const port = Number(source.url.port || (source.url.protocol === "https:" ? 443 : 80));
  if (ip) {
    let r: ProbeResult;
    try {
      r = await connectProbe(ip, port, budgetMs);
    } catch (error) {
      // Not a network outcome (those resolve): the transport itself failed,
      // e.g. AZMI_TRANSPORT=native without the addon. Said as a request says it.
      throw transportFailure(source, error);
    }
    if (r.outcome !== "connected") {
      const what = r.outcome === "timeout" ? `connect timed out after ${budgetMs} ms` : `connect ${r.errno ?? r.outcome} in ${r.elapsedMs.toFixed(1)} ms`;
      return {
        present: false,
        reason: what,
        ms: elapsed(),
        lasting: r.outcome !== "timeout" || !shortened,
        ...(r.outcome === "refused" && isLoopbackHost(ip) ? { refusedHere: true } : {}),
      };
    }
  }
  const remaining = Math.max(1, Math.floor(budgetMs - elapsed()));
  try {
    const res = await send({ url: source.url.href, method: "GET", headers: { Accept: "application/json" }, timeoutMs: remaining, maxBodyBytes: 64 * 1024 });
    if (looksLikeImds(res.status, res.body)) {
      return { present: true, reason: `answered ${res.status} like IMDS in ${elapsed().toFixed(1)} ms`, ms: elapsed() };
    }
    const text = bodyText(res.body);
    const quote = text === undefined ? `${res.body.length} bytes, not UTF-8` : text.length === 0 ? "empty body" : `"${snippet(text)}"`;
    const docker = res.status === 403 && text !== undefined && /unreachable/i.test(text) ? " (Docker Desktop's network answering)" : "";
    return { present: false, reason: `answered ${res.status} with ${quote}${docker}, which is not IMDS`, ms: elapsed(), lasting: res.status < 500 };
  } catch (e) {
    const err = e as { code?: string; phase?: string; timeoutMs?: number };
    const reason = `HTTP probe ${err.phase ?? ""} ${err.code ?? "failed"} after ${elapsed().toFixed(1)} ms`.replace(/\s+/g, " ");
    return { present: false, reason, ms: elapsed(), ...(err.code === "ECONNREFUSED" && ip !== undefined && isLoopbackHost(ip) ? { refusedHere: true } : {}) };
  }
}

/** Probes in flight, per endpoint: concurrent callers share one (IMDS allows 5 concurrent requests). */
const inflight = new Map<string, Promise<ProbeOutcome>>();

/**
 * Probe IMDS (or the override) once per network per memo TTL; concurrent
 * callers share one probe.
 *
 * @example
 * ```ts
 * const { present, reason, ms } = await probeImds(source, 1000, process.env, log);
 * ```
 */
export async function probeImds(source: HttpSource, budgetMs: number, env: NodeJS.ProcessEnv, log: CredentialLogger, shortened = false): Promise<ProbeOutcome> {
  const memo = new ProbeMemo(env);
  const seen = memo.get(source.endpoint);
  if (seen) {
    log.info("getToken", `IMDS probe of ${source.endpoint}: remembered (${seen.source}) ${seen.present ? "present" : "absent"}: ${seen.reason}`);
    return { present: seen.present, reason: seen.reason, ms: 0, memo: seen.source, at: seen.at };
  }
  const running = inflight.get(source.endpoint);
  if (running) return running;
  const probe = probeOnce(source, budgetMs, shortened).finally(() => inflight.delete(source.endpoint));
  inflight.set(source.endpoint, probe);
  const outcome = await probe;
  log.info("getToken", `IMDS probe of ${source.endpoint}: ${outcome.present ? "present" : "absent"} (${outcome.reason}) in ${outcome.ms.toFixed(1)} ms`);
  if (!outcome.refusedHere && (outcome.present || outcome.lasting)) memo.remember(source.endpoint, outcome.present, outcome.reason);
  return outcome;
}

/** How long a remembered negative probe holds, as a person reads it ("5 min (AZMI_PROBE_MEMO_TTL_MS)"). */
function memoLifetime(env: NodeJS.ProcessEnv): string {
  const ms = probeMemoTtlMs(env);
  const shown = ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
  return `${shown} (AZMI_PROBE_MEMO_TTL_MS)`;
}

/**
 * The error for a negative probe, saying how to re-check when it was remembered.
 *
 * @example
 * ```ts
 * if (!outcome.present) throw probeNegativeError(source, outcome, env);
 * ```
 */
export function probeNegativeError(source: HttpSource, outcome: ProbeOutcome, env: NodeJS.ProcessEnv): CredentialUnavailableError {
  const remembered =
    outcome.memo && outcome.at !== undefined
      ? ` Remembered from a probe at ${new Date(outcome.at).toISOString()}; it is repeated ${memoLifetime(env)} after it, or when the network changes (delete ${new ProbeMemo(env).file()} to re-probe now).`
      : "";
  const error = new CredentialUnavailableError(
    `ManagedIdentityCredential: ${source.name} at ${source.endpoint} is not available (probe: ${outcome.reason}). This machine is not an Azure resource with a managed identity, or its endpoint is unreachable.${remembered}${ignoredNote(source)}`,
    { code: ErrorCode.MiProbeNegative },
  );
  // An absence that may pass: a chain does not settle on a later link because of it (chainedTokenCredential.ts).
  if (!outcome.lasting && !outcome.memo) (error as { transient?: boolean }).transient = true;
  return error;
}
