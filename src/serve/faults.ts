/**
 * Fault mode of `azmi serve`, for users' own resilience tests: a share of
 * token requests (or an exact sequence of them) is answered with a failure
 * status or delayed. Faults replace answers that would have succeeded, so
 * probes and malformed requests still get their normal errors.
 *
 * @example
 * ```ts
 * // The next two token requests fail with 500, then normal service:
 * await startServer({ faults: { sequence: [500, 500] } });
 * // 20 % of requests fail with 429 (Retry-After: 2) or 503, reproducibly:
 * await startServer({ faults: { rate: 0.2, statuses: [429, 503], retryAfterSec: 2, seed: 7 } });
 * ```
 */
import type { ServerResponse } from "node:http";
import { writeError, type ErrorStyle } from "./respond";

/** Statuses fault mode can answer with. 403 is Docker Desktop's "unreachable network" text. */
export const FAULT_STATUSES = [403, 404, 410, 429, 500, 502, 503, 504] as const;
export type FaultStatus = (typeof FAULT_STATUSES)[number];
/** One step of a deterministic fault sequence. */
export type FaultStep = FaultStatus | "delay" | "ok";

export interface FaultOptions {
  /** Share of token requests answered with a fault, 0..1 (applies after `sequence` is used up). */
  rate?: number;
  /** Faults to choose from when `rate` hits (default 429, 410, 500, 503, plus `delay` when `delayMs` is set). */
  statuses?: Array<FaultStatus | "delay">;
  /** Delay of a `delay` fault, in ms (the request is then answered normally). Default 2000. */
  delayMs?: number;
  /** `Retry-After` seconds added to 429 and 503 answers. */
  retryAfterSec?: number;
  /** Exact faults for the next requests, in order; then `rate` applies. */
  sequence?: FaultStep[];
  /** Seed for the random choice, for reproducible runs. */
  seed?: number;
}

export const DEFAULT_FAULT_DELAY_MS = 2000;
/** The text Docker Desktop's proxy answers with; JS and .NET treat it as "no managed identity here". */
export const DOCKER_UNREACHABLE_TEXT =
  "connecting to 169.254.169.254:80: connecting to 169.254.169.254:80: dial tcp 169.254.169.254:80: connectex: A socket operation was attempted to an unreachable network.";

const MESSAGES: Record<Exclude<FaultStatus, 403>, [string, string]> = {
  404: ["not_found", "The identity endpoint is being updated (azmi serve fault mode)."],
  410: ["gone", "The identity endpoint is being updated; retry within 70 seconds (azmi serve fault mode)."],
  429: ["too_many_requests", "Too many requests (azmi serve fault mode)."],
  500: ["unknown", "Failed to retrieve token from the Active directory (azmi serve fault mode)."],
  502: ["bad_gateway", "Bad gateway (azmi serve fault mode)."],
  503: ["service_unavailable", "Service unavailable (azmi serve fault mode)."],
  504: ["gateway_timeout", "Gateway timeout (azmi serve fault mode)."],
};

/**
 * Check fault options at the public edge; throws `TypeError`/`RangeError` naming the option.
 *
 * @example
 * ```ts
 * validateFaults({ rate: 2 }); // RangeError: faults.rate must be between 0 and 1 …
 * ```
 */
export function validateFaults(faults: FaultOptions): void {
  if (typeof faults !== "object" || faults === null) throw new TypeError("faults must be an object like { rate: 0.1 } or { sequence: [500] }.");
  const { rate, statuses, delayMs, retryAfterSec, sequence, seed } = faults;
  if (rate !== undefined && (typeof rate !== "number" || !(rate >= 0 && rate <= 1))) {
    throw new RangeError(`faults.rate must be between 0 and 1 (a share of requests); got ${String(rate)}.`);
  }
  const allowed = (v: unknown) => (FAULT_STATUSES as readonly unknown[]).includes(v);
  if (statuses !== undefined) {
    if (!Array.isArray(statuses) || statuses.length === 0) throw new TypeError("faults.statuses must be a non-empty array, e.g. [429, 503].");
    for (const s of statuses) {
      if (s !== "delay" && !allowed(s)) throw new RangeError(`faults.statuses: ${String(s)} is not supported; use ${FAULT_STATUSES.join(", ")} or "delay".`);
    }
  }
  if (sequence !== undefined) {
    if (!Array.isArray(sequence)) throw new TypeError("faults.sequence must be an array, e.g. [500, 500, \"ok\"].");
    for (const s of sequence) {
      if (s !== "delay" && s !== "ok" && !allowed(s)) {
        throw new RangeError(`faults.sequence: ${String(s)} is not supported; use ${FAULT_STATUSES.join(", ")}, "delay" or "ok".`);
      }
    }
  }
  for (const [name, value, max] of [["delayMs", delayMs, 600_000], ["retryAfterSec", retryAfterSec, 3600]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > max)) {
      throw new RangeError(`faults.${name} must be an integer from 0 to ${max}; got ${String(value)}.`);
    }
  }
  if (seed !== undefined && !Number.isInteger(seed)) throw new TypeError(`faults.seed must be an integer; got ${String(seed)}.`);
}

type Decision = { kind: "status"; status: FaultStatus } | { kind: "delay"; ms: number } | undefined;

/** Decides, request by request, whether and how to fail. */
export class FaultInjector {
  private readonly sequence: FaultStep[];
  private readonly rate: number;
  private readonly choices: Array<FaultStatus | "delay">;
  private readonly delayMs: number;
  private readonly retryAfterSec?: number;
  private state: number;
  /** Faults answered so far, by status (or `delay`); for tests and `azmi serve` status lines. */
  readonly counts: Record<string, number> = {};

  constructor(options: FaultOptions) {
    this.sequence = [...(options.sequence ?? [])];
    this.rate = options.rate ?? 0;
    this.delayMs = options.delayMs ?? DEFAULT_FAULT_DELAY_MS;
    this.choices = options.statuses ?? [429, 410, 500, 503, ...(options.delayMs !== undefined ? (["delay"] as const) : [])];
    this.retryAfterSec = options.retryAfterSec;
    this.state = (options.seed ?? Math.floor(Math.random() * 2 ** 31)) >>> 0;
  }

  /** Whether any fault can still happen (lets the hot path skip the injector). */
  get active(): boolean {
    return this.sequence.length > 0 || this.rate > 0;
  }

  /**
   * Apply the next fault to `res`. Returns `true` when the request was
   * answered with a fault; `continueAfter` is called after a delay fault.
   */
  apply(res: ServerResponse, style: ErrorStyle, continueAfter: () => void): boolean {
    const decision = this.next();
    if (decision === undefined) return false;
    if (decision.kind === "delay") {
      this.count("delay");
      const timer = setTimeout(() => {
        if (!res.destroyed) continueAfter();
      }, decision.ms);
      res.once("close", () => clearTimeout(timer));
      return true;
    }
    const status = decision.status;
    this.count(String(status));
    if (status === 403) {
      const body = Buffer.from(DOCKER_UNREACHABLE_TEXT);
      res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": body.length, Server: "azmi" });
      res.end(body);
      return true;
    }
    const headers: Record<string, string> = {};
    if ((status === 429 || status === 503) && this.retryAfterSec !== undefined) headers["Retry-After"] = String(this.retryAfterSec);
    const [code, message] = MESSAGES[status];
    writeError(res, style, status, code, message, headers);
    return true;
  }

  private next(): Decision {
    const step = this.sequence.shift();
    if (step !== undefined) {
      if (step === "ok") return undefined;
      return step === "delay" ? { kind: "delay", ms: this.delayMs } : { kind: "status", status: step };
    }
    if (this.rate <= 0 || this.random() >= this.rate) return undefined;
    const pick = this.choices[Math.floor(this.random() * this.choices.length)]!;
    return pick === "delay" ? { kind: "delay", ms: this.delayMs } : { kind: "status", status: pick };
  }

  private count(key: string): void {
    this.counts[key] = (this.counts[key] ?? 0) + 1;
  }

  /** mulberry32: small, fast, seedable. */
  private random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
