/**
 * The per-user state file of a running `azmi serve`: `azmiHome()/serve.json`
 * (0600, in the 0700 azmi folder), so `azmi env` in another shell can print
 * the variables that point a client at it.
 *
 * The file contains the header secrets (`IDENTITY_HEADER`, `MSI_SECRET`).
 * That is deliberate: it is a local, per-user, owner-only file, the same
 * trust boundary as the server's own process, and `azmi env` needs them.
 * It is removed when the server closes; a file left by a dead process is
 * ignored and removed by {@link readServerState}.
 *
 * @example
 * ```ts
 * const state = readServerState();
 * if (state) for (const [k, v] of Object.entries(state.env)) console.log(`export ${k}=${v}`);
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");
import { AzmiError, ErrorCode } from "../errors";
import { azmiHome, createPrivateFile, ensureAzmiHome, readOwnFile, writePrivateFile } from "../paths";

export interface ServerState {
  url: string;
  port: number;
  host: string;
  pid: number;
  issuer: "local" | "chain";
  /** OIDC issuer URL (local issuer only). */
  oidcIssuer?: string;
  /** Flat union of the variables (as `RunningServer.env`). */
  env: Record<string, string>;
  /** Minimal variable set per dialect (as `RunningServer.dialects`). */
  dialects: Record<string, Record<string, string>>;
  /** ISO time the server started. */
  startedAt: string;
}

/**
 * Path of the state file.
 *
 * @example
 * ```ts
 * serverStatePath(); // ~/.azmi/serve.json
 * ```
 */
export function serverStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(azmiHome(env), "serve.json");
}

/**
 * Write the state file (owner-only, atomic).
 *
 * @example
 * ```ts
 * writeServerState(state); // returns the path written
 * ```
 */
export function writeServerState(state: ServerState, env: NodeJS.ProcessEnv = process.env): string {
  ensureAzmiHome(env);
  const file = serverStatePath(env);
  try {
    writePrivateFile(file, `${JSON.stringify(state, null, 2)}\n`);
  } catch (error) {
    throw stateFileError(file, error);
  }
  return file;
}

/**
 * Write the state file only if there is none: `"taken"` when another file is
 * there already (the caller decides whether it names a live server, then
 * replaces it with `writeServerState`). Two servers started at the same
 * moment with one azmi folder both found no state file at their start; this
 * lets exactly one of them claim it (`createPrivateFile`).
 *
 * @example
 * ```ts
 * if (claimServerState(state) === "taken") { ...check the server it names...; writeServerState(state); }
 * ```
 */
export function claimServerState(state: ServerState, env: NodeJS.ProcessEnv = process.env): string | "taken" {
  ensureAzmiHome(env);
  const file = serverStatePath(env);
  try {
    return createPrivateFile(file, `${JSON.stringify(state, null, 2)}\n`) ? file : "taken";
  } catch (error) {
    throw stateFileError(file, error);
  }
}

function stateFileError(file: string, error: unknown): AzmiError {
  return new AzmiError(ErrorCode.StateFile, `Cannot write ${file} (${(error as NodeJS.ErrnoException).code}); check that the folder is yours and writable, or start without the state file.`, { cause: error });
}

/**
 * Remove the state file if it still describes this server (another server
 * started later may have replaced it).
 *
 * @example
 * ```ts
 * removeServerState(process.pid, url);
 * ```
 */
export function removeServerState(pid: number, url: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = serverStatePath(env);
  let current: ServerState | undefined;
  try {
    current = readRaw(file);
  } catch {
    // Not a file this server wrote: leave it.
  }
  if (current && current.pid === pid && current.url === url) {
    try {
      fs.unlinkSync(file);
    } catch {
      // Gone already.
    }
  }
}

/**
 * The state of the running server, or `undefined` when none runs (a file
 * left by a process that is gone is removed). Throws `AzmiError`
 * (`ERR_STATE_FILE`) when the file is not one this user wrote (a symlink,
 * another user's file, one others can write).
 *
 * @example
 * ```ts
 * readServerState()?.env.IDENTITY_ENDPOINT;
 * ```
 */
export function readServerState(env: NodeJS.ProcessEnv = process.env): ServerState | undefined {
  const file = serverStatePath(env);
  const state = readRaw(file);
  if (state === undefined) return undefined;
  if (!isAlive(state.pid)) {
    try {
      fs.unlinkSync(file);
    } catch {
      // Another reader cleaned it first.
    }
    return undefined;
  }
  const wrong = shapeProblem(state);
  if (wrong !== undefined) {
    throw new AzmiError(
      ErrorCode.StateFile,
      `The azmi state file ${file} is not what azmi serve writes (${wrong}); delete it and restart the server.`,
    );
  }
  return state;
}

/**
 * What in a parsed state file is not the shape `writeServerState` writes
 * (variables as name → string maps), else `undefined`. A file edited by hand
 * otherwise reached `azmi env` as JavaScript errors ("v.replace is not a function").
 */
function shapeProblem(state: ServerState): string | undefined {
  const isVariables = (value: unknown) =>
    value !== null && typeof value === "object" && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
  if (!isVariables(state.env)) return "env is not a set of variables";
  const dialects: unknown = state.dialects;
  if (dialects === null || typeof dialects !== "object" || Array.isArray(dialects)) return "dialects is not an object";
  for (const [name, vars] of Object.entries(dialects)) {
    if (vars !== undefined && !isVariables(vars)) return `dialects.${name.slice(0, 40)} is not a set of variables`;
  }
  if (state.host !== undefined && typeof state.host !== "string") return "host is not a string";
  return undefined;
}

/**
 * The state file's contents; throws `ERR_STATE_FILE` for a file another user
 * could have planted (see `readOwnFile`): its variables go into the user's
 * shell through `eval "$(azmi env)"`.
 */
function readRaw(file: string): ServerState | undefined {
  const read = readOwnFile(file);
  if (read.refused !== undefined) {
    throw new AzmiError(
      ErrorCode.StateFile,
      `The azmi state file ${file} ${read.refused}; azmi only trusts a regular file it wrote itself. Delete it, and keep azmi's folder (AZMI_HOME) private to you.`,
    );
  }
  const text = read.text;
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as ServerState;
    if (typeof value.pid !== "number" || typeof value.url !== "string" || typeof value.env !== "object") return undefined;
    return value;
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` exists (another user's counts: EPERM).
 *
 * @example
 * ```ts
 * isAlive(state.pid); // false once that server has exited
 * ```
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive but someone else's process.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
