/**
 * autocannon, typed: it ships no types, so this is the part of its result
 * the serve benchmarks read. One copy for `serve.ts` and `serve-soak.ts`.
 *
 * @example
 * ```ts
 * import { autocannon } from "./autocannon";
 * const result = await autocannon({ url, connections: 64, duration: 10 });
 * ```
 */
export interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
}

export type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const autocannon = require("autocannon") as Cannon;
