/**
 * Where azmi keeps per-user files (probe memo, local endpoint state and
 * signing key): `$AZMI_HOME`, else `$XDG_STATE_HOME/azmi`, else `~/.azmi`.
 * The folder is created owner-only (0700); files in it are written 0600.
 */
import fs = require("node:fs");
import path = require("node:path");

export function azmiHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AZMI_HOME) return path.resolve(env.AZMI_HOME);
  if (env.XDG_STATE_HOME) return path.join(env.XDG_STATE_HOME, "azmi");
  return path.join(homeDirectory(), ".azmi");
}

/**
 * `os.homedir()`, which on POSIX is `$HOME` when that is set: read it
 * directly there, so a process that needs only this does not load `node:os`
 * (~0.3 ms of a CLI start).
 */
export function homeDirectory(): string {
  const home = process.platform === "win32" ? undefined : process.env.HOME;
  return home ? home : (require("node:os") as typeof import("node:os")).homedir();
}

/** `azmiHome()`, created owner-only if missing. */
export function ensureAzmiHome(env: NodeJS.ProcessEnv = process.env): string {
  const dir = azmiHome(env);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Write a file owner-only, atomically (temp file + rename), so readers never see half of it. */
export function writePrivateFile(file: string, data: string | Buffer): void {
  // Created exclusively ("wx") under a fresh name: a file or symlink planted
  // under the temp name makes the write fail instead of being followed.
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600, flag: "wx" });
  fs.renameSync(tmp, file);
}
