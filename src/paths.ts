/**
 * Where azmi keeps per-user files (probe memo, local endpoint state and
 * signing key): `$AZMI_HOME`, else `$XDG_STATE_HOME/azmi`, else `~/.azmi`.
 * The folder is created owner-only (0700); files in it are written 0600.
 */
import fs = require("node:fs");
import path = require("node:path");
import { AzmiError, ErrorCode } from "./errors";

export function azmiHome(env: NodeJS.ProcessEnv = process.env): string {
  switch (azmiHomeChosenBy(env)) {
    case "AZMI_HOME":
      return path.resolve(env.AZMI_HOME!);
    case "XDG_STATE_HOME":
      return path.join(env.XDG_STATE_HOME!, "azmi");
    default:
      return path.join(homeDirectory(), ".azmi");
  }
}

/**
 * Which variable `azmiHome` follows, for messages that tell the user what to change.
 *
 * @example
 * ```ts
 * azmiHomeChosenBy({ XDG_STATE_HOME: "/state" }); // "XDG_STATE_HOME"
 * ```
 */
export function azmiHomeChosenBy(env: NodeJS.ProcessEnv = process.env): "AZMI_HOME" | "XDG_STATE_HOME" | "HOME" {
  return env.AZMI_HOME ? "AZMI_HOME" : env.XDG_STATE_HOME ? "XDG_STATE_HOME" : "HOME";
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

/**
 * `azmiHome()`, created owner-only if missing. An existing folder of ours
 * that others can open is closed again (0700, as the code cache does for its
 * own), unless it is a shared sticky folder such as /tmp; one that belongs to another user is refused (`ERR_STATE_FILE`): its
 * owner could replace or delete whatever azmi writes there (a chosen
 * `AZMI_HOME=/tmp/azmi`, a shared `XDG_STATE_HOME`).
 *
 * @example
 * ```ts
 * const dir = ensureAzmiHome(); // "/home/me/.azmi", 0700, ours
 * ```
 */
export function ensureAzmiHome(env: NodeJS.ProcessEnv = process.env): string {
  const dir = azmiHome(env);
  try {
    makeDirectory(dir, 0o700);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const chosenBy = azmiHomeChosenBy(env);
    const fix =
      chosenBy === "AZMI_HOME"
        ? "Set AZMI_HOME to a folder you can write, or unset it for ~/.azmi."
        : chosenBy === "XDG_STATE_HOME"
          ? "Fix or unset XDG_STATE_HOME, or set AZMI_HOME to a folder you can write."
          : "Set AZMI_HOME to a folder you can write.";
    // The part of the path that failed, when it is not the folder itself (a link to nothing on the way).
    const where = typeof err.path === "string" && path.resolve(err.path) !== dir ? ` at ${err.path}` : "";
    throw new AzmiError(ErrorCode.StateFile, `azmi's folder ${dir} (from ${chosenBy}) cannot be created: ${err.code ?? "error"}${where}, ${describeMkdirError(e)}. ${fix}`);
  }
  if (typeof process.getuid !== "function") return dir; // Windows: the profile's ACLs do this job
  const st = fs.statSync(dir);
  if (st.uid !== process.getuid()) {
    throw new AzmiError(
      ErrorCode.StateFile,
      `azmi's folder ${dir} belongs to another user (uid ${st.uid}), who could replace what azmi writes there. Use a folder of your own: set AZMI_HOME (or unset it for ~/.azmi).`,
    );
  }
  // A sticky folder (/tmp, /var/tmp, /dev/shm: AZMI_HOME=/tmp as root) is
  // shared by design, not azmi's: closing it would lock every other user out
  // (and drop the sticky bit). What azmi reads there is checked file by file.
  if ((st.mode & 0o077) !== 0 && (st.mode & 0o1000) === 0) {
    try {
      fs.chmodSync(dir, 0o700);
    } catch {
      // A filesystem without Unix modes (vfat, some CIFS/drvfs mounts) refuses chmod: use it as before.
    }
  }
  return dir;
}

/**
 * `fs.mkdirSync(dir, { recursive: true, mode })`, but one that always
 * returns: Node 20's recursive mkdir loops forever, at full CPU, when a parent
 * exists yet refuses children with ENOENT (any path under /proc). Creates
 * what is missing, outermost first, and lets the last error out. Something
 * other than a folder already at `dir` (a file, a dangling symlink) is an
 * error too, as with `recursive`.
 *
 * @example
 * ```ts
 * makeDirectory("/home/me/.azmi/keys", 0o700);
 * ```
 */
export function makeDirectory(dir: string, mode: number): void {
  try {
    fs.mkdirSync(dir, { mode });
  } catch (e) {
    if (isFolder(dir)) return; // there already (or another process made it first), as `recursive` accepts
    const parent = path.dirname(dir);
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || parent === dir) throw e;
    makeDirectory(parent, mode);
    try {
      fs.mkdirSync(dir, { mode }); // ENOENT again (a parent that takes no children): thrown, not retried
    } catch (again) {
      if (!isFolder(dir)) throw again;
    }
  }
}

/** A folder (or a link to one) is at `path`; false for anything else, nothing, or an error. */
function isFolder(p: string): boolean {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false;
  }
}

/** What a failed mkdir means, in words (its `code` is printed beside it). */
function describeMkdirError(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case "EEXIST":
      return "something that is not a folder is in the way (a file, or a symlink to nothing)";
    case "ENOENT":
      return "a folder on the way cannot hold it";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOTDIR":
      return "a file is in the way of the path";
    default:
      return "the folder could not be made";
  }
}

/** Write a file owner-only, atomically (temp file + rename), so readers never see half of it. */
export function writePrivateFile(file: string, data: string | Buffer): void {
  const tmp = writePrivateTemp(file, data);
  fs.renameSync(tmp, file);
}

/**
 * Write a file owner-only and whole, but only where nothing is yet: false
 * (and nothing written) when something is at `file` already, e.g. what
 * another process created at the same moment. Written under a temp name, then
 * hard-linked into place (a link never replaces); where the file system has
 * no hard links, the final name is created exclusively instead ("wx" never
 * follows a planted link either).
 *
 * @example
 * ```ts
 * if (!createPrivateFile(keyFile, pem)) useTheirs(keyFile);
 * ```
 */
export function createPrivateFile(file: string, data: string | Buffer): boolean {
  const tmp = writePrivateTemp(file, data);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS" && code !== "EOPNOTSUPP") throw error;
    try {
      fs.writeFileSync(file, data, { mode: 0o600, flag: "wx" });
      return true;
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw inner;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** `data` in a fresh owner-only file beside `file`; its name. */
function writePrivateTemp(file: string, data: string | Buffer): string {
  // Created exclusively ("wx") under a fresh name: a file or symlink planted
  // under the temp name makes the write fail instead of being followed.
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600, flag: "wx" });
  return tmp;
}

/**
 * Read a file azmi wrote into its folder, refusing one another user could
 * have planted there (a shared or world-writable `AZMI_HOME`): a symbolic
 * link, anything but a regular file, a file owned by someone else or
 * writable by group/others. Such a file would otherwise steer azmi (a state
 * file's variables end up in `eval "$(azmi env)"`; a probe memo turns
 * managed identity off). Opened without following a symlink, checked on the
 * open descriptor (no swap between check and read). Where there are no uids
 * (Windows) only the symlink and file-type checks apply.
 *
 * @example
 * ```ts
 * const r = readOwnFile(path.join(azmiHome(), "serve.json"));
 * if (r.text !== undefined) JSON.parse(r.text); else if (r.refused) console.error(r.refused);
 * ```
 */
export function readOwnFile(file: string): { text?: string; refused?: string } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return { refused: "is a symbolic link" };
    return code === "ENOENT" || code === "ENOTDIR" ? {} : { refused: `cannot be read (${code})` };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { refused: "is not a regular file" };
    const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
    if (uid !== undefined && st.uid !== uid) return { refused: `belongs to another user (uid ${st.uid})` };
    if (uid !== undefined && (st.mode & 0o022) !== 0) return { refused: `is writable by other users (mode 0${(st.mode & 0o777).toString(8)})` };
    return { text: fs.readFileSync(fd, "utf8") };
  } finally {
    fs.closeSync(fd);
  }
}
