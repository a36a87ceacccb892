/**
 * The bridge's wire format: one JSON object per line on stdin (requests) and
 * stdout (responses), UTF-8, `\n`-terminated. The PowerShell module is the
 * other end (`AzmiCore.Request` in `module/src/AzmiCore.cs`, or the script
 * path's `Invoke-AzmiBridge` in `module/Azmi/Private/Azmi.ScriptBridge.ps1`); it
 * checks the hello by its exact prefix `{"id":0,"ok":true,"result":{"hello":"azmi-bridge",`
 * (the key order `server.ts` writes) before parsing anything else.
 *
 * - On start the bridge writes a hello line with `id: 0`, so a client can tell
 *   a real bridge from a program that prints something else.
 * - Request: `{"id":1,"op":"token","params":{...},"env":{...}?,"verbose":true?}`.
 *   `env`, when present, is the caller's whole environment; it replaces the
 *   bridge's until the next `env`. (PowerShell sends it only when it changed.)
 * - Response: `{"id":1,"ok":true,"result":{...}}` or
 *   `{"id":1,"ok":false,"error":{"code","name","message"}}`; with `verbose`,
 *   also `report` (the chain report) and `log` (redacted log lines). A
 *   `token` answer carries `leaseMs`: how long the caller may reuse it for an
 *   identical request while its environment is unchanged (see `ops.ts`).
 *
 * @example
 * ```text
 * <- {"id":0,"ok":true,"result":{"hello":"azmi-bridge","protocol":1,"pid":4242}}
 * -> {"id":1,"op":"token","params":{"resource":"https://vault.azure.net"}}
 * <- {"id":1,"ok":true,"result":{"access_token":"…","expires_in":"3599",…}}
 * ```
 */
import { ErrorCode } from "../errors";

/** Bumped when a change would confuse an older module. */
export const PROTOCOL_VERSION = 1;

/** The first line the bridge writes (`result` of the `id: 0` response). */
export const HELLO = "azmi-bridge";

/** Operations the bridge answers. */
export const OPS = ["token", "chain", "serve.start", "serve.stop", "ping"] as const;
export type BridgeOp = (typeof OPS)[number];

/** One request line. */
export interface BridgeRequest {
  id: number;
  op: BridgeOp;
  params?: Record<string, unknown>;
  env?: Record<string, string>;
  verbose?: boolean;
}

/** An error as it crosses the bridge: facts only, message already redacted. */
export interface WireError {
  code: string;
  name: string;
  message: string;
  /** For an aggregate error, each link's error in order. */
  errors?: WireError[];
  statusCode?: number;
  /** A token call's own `timeoutMs` ended it (not a link's own deadline, whatever the code). */
  timedOut?: true;
  /** Starting a server with the state file: the server that holds it (pid, url, stateFile). */
  otherServer?: { pid: number; url: string; stateFile: string };
}

/** One response line. */
export type BridgeResponse =
  | { id: number; ok: true; result: unknown; report?: unknown; log?: string[]; leaseMs?: number }
  | { id: number; ok: false; error: WireError; report?: unknown; log?: string[] };

/**
 * Turn anything thrown into a {@link WireError}, passing messages through
 * `redact` (the log module's, loaded by the caller) so no token crosses.
 *
 * @example
 * ```ts
 * toWireError(new AzmiError("ERR_INVALID_ARGUMENT", "x must be a string"), redact) // { code: "ERR_INVALID_ARGUMENT", name: "AzmiError", ... }
 * ```
 */
export function toWireError(err: unknown, redact: (text: string) => string, depth = 0): WireError {
  const e = (err ?? {}) as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown; statusCode?: unknown; otherServer?: unknown };
  const name = typeof e.name === "string" ? e.name : "Error";
  // Every error azmi raises on purpose has a code (bad input is ERR_INVALID_ARGUMENT);
  // one without is a fault inside the bridge or the core, not the caller's input.
  const code = typeof e.code === "string" ? e.code : ErrorCode.Bridge;
  const message = redact(typeof e.message === "string" ? e.message : String(err));
  const wire: WireError = { code, name, message };
  if (typeof e.statusCode === "number") wire.statusCode = e.statusCode;
  if (Array.isArray(e.errors) && depth < 2) wire.errors = e.errors.map((inner) => toWireError(inner, redact, depth + 1));
  const other = e.otherServer as { pid?: unknown; url?: unknown; stateFile?: unknown } | undefined;
  if (other && typeof other.pid === "number" && typeof other.url === "string" && typeof other.stateFile === "string") {
    wire.otherServer = { pid: other.pid, url: redact(other.url), stateFile: redact(other.stateFile) };
  }
  return wire;
}
