/**
 * The bridge process the PowerShell module starts once per session
 * (`node dist/src/bridge/main.js`, which loads this file's bundle). It reads JSON-line requests on
 * stdin and writes one JSON-line response per request on stdout (see
 * `protocol.ts`); nothing else is ever written to stdout. It exits when
 * stdin closes (the PowerShell session ended or removed the module), after
 * closing any local endpoint it started.
 *
 * Start-up is kept minimal: this file loads only `protocol.ts` and `ops.ts`;
 * the chain and the server are required by the first operation that needs them.
 *
 * @example
 * ```sh
 * printf '{"id":1,"op":"ping"}\n' | node dist/src/bridge/main.js
 * ```
 */
import { saveCodeCacheNow } from "../boot/bundle";
import { BridgeState, runOp } from "./ops";
import { HELLO, PROTOCOL_VERSION, toWireError, type BridgeResponse } from "./protocol";

/** A request line longer than this is refused (an environment block is a few KiB). */
const MAX_LINE_BYTES = 1024 * 1024;
/**
 * Most bytes of log output the bridge writes to stderr in its life. The
 * module keeps stderr only to explain a crash (Node writes a fatal error
 * straight to fd 2, past this limit), so AZURE_LOG_LEVEL=verbose in a
 * long session cannot grow it without bound. `-Debug` shows logs in-band.
 */
const STDERR_BUDGET_BYTES = 64 * 1024;

const state = new BridgeState();
let closing = false;
let tokenServed = false;
let codeCacheSaved = false;
/** Requests still being answered; stdin closing waits for them. */
const inFlight = new Set<Promise<void>>();

function write(response: BridgeResponse): void {
  if (closing && response.id !== 0) return;
  let line = JSON.stringify(response);
  // A lone surrogate (an endpoint's odd client_id, say) is written as a
  // \udXXX escape, which .NET's JSON reader refuses: the module would take
  // the whole answer for a stranger's. Such strings go out with U+FFFD in its
  // place. (Only then: the check is a scan of the line, the rewrite a second
  // stringify; "\ud" also matches an escaped backslash, which changes nothing.)
  if (line.includes("\\ud")) line = JSON.stringify(response, wellFormed);
  process.stdout.write(line + "\n");
}

/** JSON.stringify replacer: every string as well-formed UTF-16. */
function wellFormed(_key: string, value: unknown): unknown {
  return typeof value === "string" ? (value as string & { toWellFormed(): string }).toWellFormed() : value;
}

function redactText(text: string): string {
  return (require("../log") as typeof import("../log")).redact(text);
}

async function handle(line: string): Promise<void> {
  let id = -1;
  let verbose = false;
  let stopCapture: (() => string[]) | undefined;
  try {
    const request = JSON.parse(line) as { id?: unknown; op?: unknown; params?: unknown; env?: unknown; verbose?: unknown };
    if (typeof request !== "object" || request === null) throw new TypeError("request must be a JSON object");
    if (typeof request.id !== "number") throw new TypeError("request 'id' must be a number");
    id = request.id;
    if (typeof request.op !== "string") throw new TypeError("request 'op' must be a string");
    if (request.env !== undefined) {
      if (typeof request.env !== "object" || request.env === null) throw new TypeError("request 'env' must be an object");
      state.setEnv(request.env as Record<string, string>);
    }
    verbose = request.verbose === true;
    if (verbose) stopCapture = (require("./logCapture") as typeof import("./logCapture")).startLogCapture();
    const params = (typeof request.params === "object" && request.params !== null ? request.params : {}) as Record<string, unknown>;
    const outcome = await runOp(request.op, params, state, verbose);
    const response: BridgeResponse = { id, ok: true, result: outcome.result };
    if (request.op === "token") tokenServed = true;
    if (outcome.leaseMs) response.leaseMs = outcome.leaseMs;
    if (verbose && outcome.report !== undefined) response.report = outcome.report;
    if (stopCapture) response.log = stopCapture();
    write(response);
    // The bridge usually dies with its PowerShell session (a kill, no exit
    // handlers): save the start-up code cache once the token path has run.
    if (tokenServed && !codeCacheSaved) {
      codeCacheSaved = true;
      setImmediate(saveCodeCacheNow);
    }
  } catch (err) {
    try {
      const response: BridgeResponse = { id, ok: false, error: toWireError(err, redactText) };
      if ((err as { bridgeTimedOut?: unknown } | null)?.bridgeTimedOut === true) response.error.timedOut = true;
      const report = (err as { bridgeReport?: unknown } | null)?.bridgeReport;
      if (verbose && report !== undefined) response.report = report;
      if (stopCapture) response.log = stopCapture().map(redactText);
      write(response);
    } catch (reportError) {
      // Reporting the failure failed too (e.g. a core module that does not
      // load): still answer, so the caller is never left waiting. Only names
      // and codes go out here: the messages could not be redacted.
      const name = (value: unknown) => String((value as { name?: unknown } | null)?.name ?? typeof value);
      const code = (err as { code?: unknown } | null)?.code;
      write({
        id,
        ok: false,
        error: {
          code: typeof code === "string" ? code : "ERR_BRIDGE",
          name: "BridgeError",
          message: `the bridge failed (${name(err)}${typeof code === "string" ? ` ${code}` : ""}) and then failed to report it (${name(reportError)})`,
        },
      });
    }
  }
}

async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  await state.closeAll();
  // Developer tools a chain started (Get-AzManagedToken's, or a chain endpoint's) would outlive us under pid 1.
  (require("../descendants") as typeof import("../descendants")).stopDescendants();
  process.exit(code);
}

/**
 * Serve the bridge protocol on stdin/stdout until stdin closes.
 *
 * @example
 * ```ts
 * require("./server").main();
 * ```
 */
export function main(): void {
  // stdout carries the protocol and nothing else: a dependency that logs with
  // console.log must not corrupt it, so console output goes to stderr.
  console.log = console.info = console.debug = console.error;
  let stderrBudget = STDERR_BUDGET_BYTES;
  const writeStderr = process.stderr.write.bind(process.stderr) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (size > stderrBudget) return true;
    stderrBudget -= size;
    return writeStderr(chunk, ...rest);
  }) as typeof process.stderr.write;
  let buffered = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) {
        const done = handle(line).finally(() => inFlight.delete(done));
        inFlight.add(done);
      }
    }
    if (buffered.length > MAX_LINE_BYTES) {
      buffered = "";
      write({ id: -1, ok: false, error: { code: "ERR_BRIDGE", name: "RangeError", message: `request line longer than ${MAX_LINE_BYTES} bytes` } });
    }
  });
  process.stdin.on("end", () => void Promise.allSettled([...inFlight]).then(() => shutdown(0)));
  // The reader went away (PowerShell exited): nothing left to answer.
  process.stdout.on("error", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));
  write({ id: 0, ok: true, result: { hello: HELLO, protocol: PROTOCOL_VERSION, pid: process.pid, node: process.version } });
}
