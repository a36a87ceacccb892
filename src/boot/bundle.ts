/**
 * Loads one of azmi's single-file bundles (`dist/src/bundle/<name>.js`, made
 * by `scripts/bundle.js` from the tsc output) through a V8 code cache, so a
 * fresh process neither walks the module loader for ~30 files nor compiles
 * again the functions it ran last time. This is what makes `azmi token`, the
 * first token after `require("azmi")` and the PowerShell bridge's start-up
 * cheap; Node 20 has no built-in compile cache (`module.enableCompileCache`
 * came in Node 22), so this is the small piece it would otherwise do.
 *
 * The cache lives in the per-user folder (`<azmiHome>/cache/`, 0700; files
 * 0600, written atomically under an exclusive temp name), one file per
 * bundle and variant (the CLI keeps one per command: each runs different
 * functions), install and runtime (Node version, binary, flags), named by
 * the bundle's build id (a hash of its code that scripts/bundle.js writes
 * into it: V8 itself only checks the source's length, and file times lie
 * after npm or tar). It is read only when no other user could have written
 * it (a code cache is code; see `readSealedCache`), and sealed against
 * damage with a second copy of its bytes (see `sealCache`). A cache V8
 * rejects, a missing or unreadable folder, or a read-only disk only cost
 * speed, never an error.
 * The first process without a cache writes it at exit, and the next two
 * that hit it rewrite it (or earlier, when a long-lived process such as the
 * bridge says it is warm).
 *
 * Falls back to the unbundled modules (returns `undefined`) when the bundle
 * is missing (esbuild unavailable at build time), fails to load, is not as
 * scripts/bundle.js wrote it (cut short or edited), is older than the tsc
 * output it was made from (in a source checkout: someone ran `tsc` alone),
 * when azmi runs in another JavaScript context than Node's
 * main one (a test runner's sandbox), or with `AZMI_BUNDLE=0`.
 * `AZMI_CODE_CACHE=0` keeps the bundle but skips the cache, and so does
 * `--enable-source-maps` (the bundle is then required, so traces map to `src/*.ts`).
 *
 * Deliberately one small file with no imports of ours (it runs before
 * anything else, and every extra CommonJS file costs ~0.5–1 ms of start-up).
 *
 * @example
 * ```ts
 * const cli = loadBundle<typeof import("../cli/main")>("cli", "cli/main.js", "token") ?? require("../cli/main");
 * runCli(process.argv.slice(2)); // what bin/azmi.js does
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");

/** How the running code was loaded; `azmi doctor` shows it. */
export interface BootInfo {
  bundle: string | undefined;
  codeCache: "hit" | "miss" | "rejected" | "untrusted" | "off" | "none";
  /** Why the unbundled modules were used, when they were. */
  unbundledBecause?: string;
}

/** Where the loaded bundle publishes its `BootInfo` and its "warm now" hook (shared with the bundle's own copy of this file). */
const BOOT_INFO = Symbol.for("azmi.boot.info");
const SAVE_NOW = Symbol.for("azmi.boot.saveCodeCache");

type BootGlobal = { [BOOT_INFO]?: BootInfo; [SAVE_NOW]?: () => void };

/** dist/src/boot → dist/src */
const DIST_SRC = path.resolve(__dirname, "..");

/**
 * Every bundle is written by scripts/bundle.js as one CommonJS wrapper
 * function, its head on a line of its own, called on the line after its
 * end, then the source-map comment as the file's last line (where the
 * source-map standard looks for it):
 *
 *     (function (exports, require, module, __filename, __dirname) {
 *     …the bundle…
 *     }).call(this, exports, require, module, __filename, __dirname)
 *     //# sourceMappingURL=azmi.js.map
 *
 * Node's own loader runs the file as it is (that is how `--enable-source-maps`
 * loads it). Here the script V8 compiles is the file up to the function's
 * end, a slice of the text read, which V8 takes as it is: the wrapper used
 * to be added around the text in memory, and V8 then copied all ~270 KB into
 * one flat string before compiling it (~0.8 ms of a fresh process's
 * `require("azmi")` here, where each fresh page costs a fault: README,
 * session 20).
 */
export const BUNDLE_HEAD = "(function (exports, require, module, __filename, __dirname) {\n";
export const BUNDLE_TAIL = "\n}).call(this, exports, require, module, __filename, __dirname)\n";
/** What may follow the tail: the source-map comment, one line. */
const SOURCE_MAP_MARK = "//# sourceMappingURL=";

/**
 * Load bundle `name`, or `undefined` to tell the caller to `require` the
 * unbundled `entry` (relative to dist/src) instead.
 *
 * @example
 * ```ts
 * module.exports = loadBundle("azmi", "index.js") ?? require("../index");
 * ```
 */
export function loadBundle<T>(name: string, entry: string, variant = name): T | undefined {
  const file = path.join(DIST_SRC, "bundle", `${name}.js`);
  const why = unbundledReason();
  if (why) return unbundled(why);
  let bundle: BundleFile;
  try {
    // With source maps on, Node's loader reads the bundle itself (see runBundle).
    bundle = process.sourceMapsEnabled ? { source: undefined, mtimeMs: fs.statSync(file).mtimeMs } : readBundle(file);
  } catch {
    return unbundled("no bundle (esbuild was not available when azmi was built)");
  }
  if (isStale(bundle.mtimeMs, path.join(DIST_SRC, entry))) return unbundled("bundle older than dist/src (run npm run build)");
  const functionEnd = bundle.source === undefined ? 0 : wrappedFunctionEnd(bundle.source);
  if (functionEnd < 0) return unbundled("bundle not as scripts/bundle.js wrote it (cut short or edited): reinstall azmi, or run npm run build in a checkout");
  try {
    return runBundle<T>(name, file, variant, bundle.source, functionEnd);
  } catch (e) {
    // A bundle that does not compile or run (cut short on disk, a bad build)
    // must not take azmi down: the caller runs dist/src instead.
    return unbundled(`bundle failed to load (${(e as Error)?.name ?? "error"})`);
  }
}

function unbundled(why: string): undefined {
  publish({ bundle: undefined, codeCache: "none", unbundledBecause: why });
  return undefined;
}

interface BundleFile {
  /** Absent where Node's loader is to read the bundle. */
  source: string | undefined;
  mtimeMs: number;
}

/**
 * The bundle's code and modification time, with the very calls the cache
 * read makes (open, fstat, read, close, a latin1 string): every distinct Node
 * API costs a fresh process ~0.2 ms the first time it runs (V8 compiles
 * Node's own functions lazily too), so `readFileSync` and `statSync` here
 * cost more than reading the file. Latin1 is exact: bundles are ASCII
 * (esbuild's `charset: "ascii"`), and it is a plain copy into a one-byte
 * string where UTF-8 is decoded.
 */
function readBundle(file: string): { source: string; mtimeMs: number } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    const stat = fs.fstatSync(fd);
    const bytes = Buffer.allocUnsafe(stat.size);
    return { source: bytes.toString("latin1", 0, readFully(fd, bytes, 0)), mtimeMs: stat.mtimeMs };
  } finally {
    fs.closeSync(fd);
  }
}

function runBundle<T>(name: string, file: string, variant: string, source: string | undefined, functionEnd: number): T {
  // Node maps stack traces (--enable-source-maps, or NODE_OPTIONS) only for
  // code its own loader compiled: a vm.Script's sourceMappingURL is ignored,
  // so traces named bundle lines instead of src/*.ts. A process that asks for
  // maps gets the bundle through require (its map carries the sources), without
  // the code cache: mapping every stack costs more than the cache saves.
  if (source === undefined) {
    const exports = require(file) as T;
    publish({ bundle: name, codeCache: "off" });
    return exports;
  }
  const prefix = cachePrefix(name, variant);
  const cacheFile = process.env.AZMI_CODE_CACHE === "0" ? undefined : cachePath(prefix, source);
  let cache: SealedCache | undefined;
  let damaged = false;
  let untrusted = cacheFile === UNTRUSTED;
  if (typeof cacheFile === "string") {
    const read = readSealedCache(cacheFile);
    untrusted = read === UNTRUSTED;
    damaged = read === DAMAGED;
    if (typeof read === "object") cache = read;
  }
  const cachedData = cache?.data;
  const vm = require("node:vm") as typeof import("node:vm");
  // The wrapper function without its call (see BUNDLE_HEAD): the script's
  // value is the function, and its lines are the file's.
  const script = new vm.Script(source.slice(0, functionEnd), { filename: file, cachedData });
  const codeCache: BootInfo["codeCache"] = !cacheFile
    ? "off"
    : untrusted
      ? "untrusted"
      : damaged || script.cachedDataRejected
        ? "rejected"
        : !cachedData
          ? "miss"
          : "hit";
  // A hit is rewritten by the next few processes too: each one's cache holds
  // what it deserialized plus what it compiled, so paths the first process
  // never took (a later getToken, another output format) join the cache.
  const generation = codeCache === "hit" ? cache!.generation + 1 : 1;
  if (typeof cacheFile === "string" && generation <= CACHE_GENERATIONS) scheduleSave(script, cacheFile, prefix, generation);

  const moduleLike = { exports: {} as T, id: file, filename: file, loaded: false };
  // This file's own require, not createRequire(file) (which loads
  // node:module: ~0.7 ms in a process started from a file): a bundle only
  // requires Node's modules, packages (resolved the same from boot/ as from
  // bundle/, both under dist/src) and absolute paths; esbuild inlined every
  // relative import. But only a full one: where an ESM loader hook hands Node
  // CommonJS source, a file's require has no `cache`, which the bundle reads.
  const bundleRequire = typeof require.cache === "object" && require.cache !== null ? require : (require("node:module") as typeof import("node:module")).createRequire(file);
  (script.runInThisContext() as (...args: unknown[]) => void).call(moduleLike.exports, moduleLike.exports, bundleRequire, moduleLike, file, path.dirname(file));
  moduleLike.loaded = true;
  publish({ bundle: name, codeCache });
  return moduleLike.exports;
}

/**
 * How this process's azmi code was loaded (bundle, code cache), or
 * `undefined` when nothing went through `loadBundle` (e.g. tests that
 * require dist/src directly).
 *
 * @example
 * ```ts
 * bootInfo()?.codeCache; // "hit" on the second `azmi token`
 * ```
 */
export function bootInfo(): BootInfo | undefined {
  return (globalThis as BootGlobal)[BOOT_INFO];
}

/**
 * Tell the loader the process is warm (its main path has run), so the code
 * cache is written now rather than at exit. For long-lived processes (the
 * bridge): their "exit" may be a kill that skips exit handlers. No-op when
 * there is nothing to write.
 *
 * @example
 * ```ts
 * write(firstResponse); saveCodeCacheNow();
 * ```
 */
export function saveCodeCacheNow(): void {
  (globalThis as BootGlobal)[SAVE_NOW]?.();
}

function unbundledReason(): string | undefined {
  if (process.env.AZMI_BUNDLE === "0") return "AZMI_BUNDLE=0";
  // A bundle runs in Node's main JavaScript context through Node's own
  // loader. Where azmi was loaded by another loader (a test runner's, such
  // as Jest's, which also runs modules in a sandbox context), its classes,
  // `instanceof` and module mocks must be that loader's: run dist/src.
  // (`module` is then not a Node Module; cheaper than comparing contexts.)
  if (!isNodeModule(module)) {
    return "not loaded by Node's own module loader (a test runner's sandbox?)";
  }
  return undefined;
}

/**
 * Only in a source checkout (npm packages ship no tsconfig.json, and npm or
 * tar set file times that say nothing): a bundle older than the tsc output
 * it was made from is stale, because `tsc` ran without `npm run build`. Run
 * what was just compiled instead. (`statSync`, not `existsSync`: the trust
 * checks use it anyway, so it costs no extra first use.)
 */
function isStale(bundleMtimeMs: number, entryFile: string): boolean {
  if (!fs.statSync(path.join(DIST_SRC, "..", "..", "tsconfig.json"), { throwIfNoEntry: false })) return false;
  const entry = fs.statSync(entryFile, { throwIfNoEntry: false }); // none: the bundle is all there is
  return entry !== undefined && entry.mtimeMs > bundleMtimeMs;
}

/**
 * Where the bundle's wrapper function ends (its call starts), or -1 when
 * the text does not start and end as scripts/bundle.js writes it (see
 * BUNDLE_HEAD): cut short, or edited (even a line end added by an editor).
 * No regex: a fresh process compiles each on its first runs.
 */
function wrappedFunctionEnd(source: string): number {
  if (!source.startsWith(BUNDLE_HEAD)) return -1;
  const tail = source.lastIndexOf(BUNDLE_TAIL);
  if (tail < 0) return -1;
  const after = tail + BUNDLE_TAIL.length;
  const lastLine = after === source.length || (source.startsWith(SOURCE_MAP_MARK, after) && source.indexOf("\n", after) === source.length - 1);
  return lastLine ? tail + "\n})".length : -1;
}

/**
 * Whether `m` was made by Node's CommonJS loader: its class has the loader's
 * static `_load` and `_resolveFilename` (a test runner's module is a plain
 * object). Not `m instanceof require("node:module")`: loading node:module
 * costs ~0.7 ms in a process started from a file, and nothing else on azmi's
 * start-up path needs it.
 */
function isNodeModule(m: object): boolean {
  const loader = (m as { constructor?: { _load?: unknown; _resolveFilename?: unknown } }).constructor;
  return typeof loader?._load === "function" && typeof loader._resolveFilename === "function";
}

/**
 * The folder the code caches live in (`<azmiHome>/cache`), or `undefined`
 * when there is no home directory to keep one in.
 *
 * @example
 * ```ts
 * cacheFolder(); // "/home/me/.azmi/cache"
 * ```
 */
export function cacheFolder(): string | undefined {
  const home = stateHome();
  return home === undefined ? undefined : path.join(home, "cache");
}

/**
 * Where this bundle's cache lives: `<cacheFolder>/<prefix><build id>.v8`,
 * `undefined` when there is nowhere to keep one (or the bundle carries no
 * build id), `UNTRUSTED` when the folder is not one only this user can write.
 */
function cachePath(prefix: string, source: string): string | undefined | typeof UNTRUSTED {
  const folder = cacheFolder();
  if (!folder) return undefined; // no home directory to keep a cache in
  // Without uids (Windows) ownership cannot be checked here: only the
  // per-user profile's own folder is trusted, not a chosen AZMI_HOME.
  if (typeof process.getuid !== "function" && (process.env.AZMI_HOME || process.env.XDG_STATE_HOME)) return UNTRUSTED;
  const at = source.lastIndexOf(BUILD_ID_MARK);
  const id = at < 0 ? "" : source.slice(at + BUILD_ID_MARK.length, source.indexOf("\n", at));
  if (!isLowerHex(id, 24)) return undefined; // built by something else than scripts/bundle.js
  return path.join(folder, `${prefix}${id}.v8`);
}

/** The line scripts/bundle.js writes into every bundle: a hash of its code. */
const BUILD_ID_MARK = "//# azmi-build=";

/**
 * `text` is exactly `length` lowercase hex digits. A loop, not a regex: a
 * fresh process compiles each regex on its first runs (~30–60 µs apiece),
 * and this file runs before anything else in every `azmi` command.
 */
function isLowerHex(text: string | undefined, length: number): boolean {
  if (text === undefined || text.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * `paths.ts`'s `azmiHome()`, repeated here so the boot loads no other file of
 * ours (test/boot/bundle.spec.ts checks the two agree).
 */
function stateHome(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AZMI_HOME) return path.resolve(env.AZMI_HOME);
  if (env.XDG_STATE_HOME) return path.join(env.XDG_STATE_HOME, "azmi");
  try {
    // As paths.ts's homeDirectory(): $HOME on POSIX, without loading node:os.
    const home = process.platform === "win32" ? undefined : process.env.HOME;
    return path.join(home ? home : (require("node:os") as typeof import("node:os")).homedir(), ".azmi");
  } catch {
    return undefined;
  }
}

/** Every cache file of one bundle, variant and install starts with this, whatever its key. */
function cachePrefix(name: string, variant: string): string {
  // The install's folder and the runtime too, so that neither two copies of
  // azmi (two projects, a global CLI and a local one) nor two runtimes (Node
  // versions or builds, flags: V8 rejects a cache made under other flags)
  // delete each other's caches as "older": only this install's own old builds go.
  const runtime = `${process.version}\0${process.arch}\0${process.execPath}\0${process.execArgv.join(" ")}\0${process.env.NODE_OPTIONS ?? ""}`;
  // (Names and variants are azmi's own constants — bundle names, the CLI's
  // command names or "other" — never user input, so they are file-name safe.)
  return `${name}.${variant}.${hash(DIST_SRC)}.${hash(runtime)}.`;
}

/** A short non-cryptographic hash (FNV-1a), to keep file names short. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36);
}

function scheduleSave(script: import("node:vm").Script, cacheFile: string, prefix: string, generation: number): void {
  let saved = false;
  const save = () => {
    if (saved) return;
    saved = true;
    try {
      const dir = path.dirname(cacheFile);
      // The per-user folder and its cache folder, nothing above them; not
      // `recursive`: Node 20's recursive mkdir never returns for a path
      // under /proc (see paths.ts's makeDirectory, which this file cannot import).
      for (const d of [path.dirname(dir), dir]) {
        try {
          fs.mkdirSync(d, { mode: 0o700 });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
      }
      if (!ownFolder(dir)) return; // someone else's, or opened up and not ours to fix: write nothing there
      removeOlderCaches(dir, path.basename(cacheFile), prefix);
      const sealed = sealCache(script.createCachedData(), generation);
      // A fresh temp name created exclusively ("wx"): a file or symlink
      // planted under it makes the write fail instead of being followed.
      const tmp = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      fs.writeFileSync(tmp, sealed, { mode: 0o600, flag: "wx" });
      fs.renameSync(tmp, cacheFile);
    } catch {
      // Read-only or full disk: the next process compiles from source, as without a cache.
    }
  };
  (globalThis as BootGlobal)[SAVE_NOW] = save;
  process.once("exit", save);
}

/** What `readSealedCache` returns for a cache that others could have written. */
const UNTRUSTED = Symbol("untrusted");
/** What `readSealedCache` returns for a cache that is cut short, not ours, or whose two copies differ. */
const DAMAGED = Symbol("damaged");

/**
 * The cache file's V8 data, checked (see `sealCache`), `undefined` when there
 * is none, `DAMAGED`, or `UNTRUSTED` when it or its folder could have been
 * written by another user: a code cache is code, and the seal only catches
 * damage, not a forgery. So the file must be a regular file (not a symlink)
 * owned by this user, and neither it nor its folder writable by group or
 * others (POSIX; on Windows the per-user profile's ACLs do this job). One
 * open, two fstat/stat calls; the header is read first, then both copies of
 * the data in one read, and V8 gets the first copy in place (no copy).
 */
function readSealedCache(file: string): SealedCache | undefined | typeof UNTRUSTED | typeof DAMAGED {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? undefined : UNTRUSTED;
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || !safeOwner(stat) || !trustedFolder(path.dirname(file))) return UNTRUSTED;
    const head = Buffer.allocUnsafe(MAX_HEADER_BYTES);
    const header = parseHeader(head.subarray(0, readFully(fd, head, 0)));
    if (!header || stat.size !== header.bytes + 2 * header.length) return DAMAGED;
    const both = Buffer.allocUnsafe(2 * header.length);
    if (readFully(fd, both, header.bytes) !== both.length) return DAMAGED;
    const data = both.subarray(0, header.length);
    return data.equals(both.subarray(header.length)) ? { generation: header.generation, data } : DAMAGED;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Read into all of `into` from `position`; how many bytes were there. */
function readFully(fd: number, into: Uint8Array, position: number): number {
  let read = 0;
  while (read < into.length) {
    const n = fs.readSync(fd, into, read, into.length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return read;
}

/** Owned by this user and not writable by group or others (always true where there are no uids). */
function safeOwner(stat: fs.Stats): boolean {
  if (typeof process.getuid !== "function") return true;
  return stat.uid === process.getuid() && (stat.mode & 0o022) === 0;
}

/**
 * The cache folder is a real folder (not a symlink someone could point
 * elsewhere), ours and closed to others, and so is the per-user folder that
 * holds it (otherwise whoever can write there could swap the cache folder).
 */
function trustedFolder(dir: string): boolean {
  const stat = fs.lstatSync(dir);
  return stat.isDirectory() && safeOwner(stat) && safeOwner(fs.statSync(path.dirname(dir)));
}

/**
 * Whether `dir` is fit to write caches into: `trustedFolder`, after closing
 * again (0700) a cache folder of ours that someone opened up, as `paths.ts`
 * does for the per-user folder. Never touches anything behind a symlink.
 */
function ownFolder(dir: string): boolean {
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) return false;
  if (typeof process.getuid === "function" && stat.uid === process.getuid() && (stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  return trustedFolder(dir);
}

/**
 * A cache file is one header line, `azmi-v8-cache 4 <generation> <length>\n`,
 * then V8's data twice. Why a seal at all: release builds of V8 check a code
 * cache's version, flags and length but not its bytes, and a damaged one
 * crashes the process (SIGSEGV) on every start until deleted (tested). Node
 * 22's own compile cache checks a hash for the same reason.
 *
 * Why a second copy rather than a checksum: damage that disks, file systems
 * and editors do (a flipped bit, a zeroed or lost block, bytes cut or added)
 * never writes the same bytes at the same place in both copies, so comparing
 * them catches it, and a fresh process compares a 110–175 KB cache with one
 * `memcmp` in ~0.1 ms where the fastest checksum it can compute costs ~1.1 ms
 * (a WebAssembly FNV-1a, mostly WebAssembly's own first-use set-up;
 * `node:crypto` costs ~4 ms to load, a JavaScript loop ~5 ms before it is
 * optimised). The second copy is read from the page cache with the first.
 * Forgery is not this seal's job: the ownership checks above are.
 */
const CACHE_MAGIC = "azmi-v8-cache 4 ";
/** How many processes write the cache: the first, then the next ones that hit it (see `loadBundle`). */
const CACHE_GENERATIONS = 3;

interface SealedCache {
  generation: number;
  data: Buffer;
}

function sealCache(data: Buffer, generation: number): Buffer {
  return Buffer.concat([Buffer.from(`${CACHE_MAGIC}${generation} ${data.length}\n`, "latin1"), data, data]);
}

/** No bundle's cache comes near this (they are 110–180 KB): a larger length is damage, not a reason to read that much. */
const MAX_CACHE_BYTES = 32 * 1024 * 1024;

/** The header's length limit (it is ~30 bytes: magic, generation, a length). */
const MAX_HEADER_BYTES = 80;

/** The header at the start of `head`, or `undefined` when it is not one of ours. */
function parseHeader(head: Buffer): { generation: number; length: number; bytes: number } | undefined {
  const end = head.indexOf(10); // the header's newline
  if (end < 0) return undefined;
  const header = head.toString("latin1", 0, end);
  if (!header.startsWith(CACHE_MAGIC)) return undefined;
  const fields = header.slice(CACHE_MAGIC.length).split(" ");
  const [generation, length] = fields;
  if (fields.length !== 2 || generation === undefined || generation.length !== 1 || generation < "1" || generation > "9") return undefined;
  if (!isDecimal(length, 9) || length === "0" || Number(length) > MAX_CACHE_BYTES) return undefined;
  return { generation: Number(generation), length: Number(length), bytes: end + 1 };
}

/** 1 to `maxDigits` decimal digits, without a leading zero (a loop, not a regex: see `isLowerHex`). */
function isDecimal(text: string | undefined, maxDigits: number): boolean {
  if (text === undefined || text.length === 0 || text.length > maxDigits || (text.length > 1 && text.charCodeAt(0) === 0x30)) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** Caches of the same bundle, variant, install and runtime under another build id (an older build) are dead weight. */
function removeOlderCaches(dir: string, keep: string, prefix: string): void {
  const now = Date.now();
  for (const f of fs.readdirSync(dir)) {
    const full = path.join(dir, f);
    if (f.startsWith(prefix) && f !== keep && f.endsWith(".v8")) fs.rmSync(full, { force: true });
    // A writer killed between write and rename leaves its temp file: gone after a minute.
    else if (f.endsWith(".tmp") && now - fs.lstatSync(full).mtimeMs > 60_000) fs.rmSync(full, { force: true });
  }
}

function publish(info: BootInfo): void {
  (globalThis as BootGlobal)[BOOT_INFO] ??= info;
}

type Cli = typeof import("../cli/main");

/** Commands with a code cache of their own (each runs different functions); anything else (help, typos) shares one. */
const CACHED_COMMANDS = new Set(["token", "doctor", "serve", "env"]);

/**
 * What `bin/azmi.js` runs: the CLI bundle through the code cache, or the
 * unbundled `cli/main.ts` where there is no bundle.
 *
 * @example
 * ```js
 * require("../dist/src/boot/bundle.js").runCli(process.argv.slice(2));
 * ```
 */
export function runCli(argv: readonly string[]): void {
  const command = argv[0] ?? "";
  const variant = CACHED_COMMANDS.has(command) ? command : "other";
  // `azmi token` has a bundle without the other commands (a third smaller to read: scripts/bundle.js).
  const bundle = command === "token" ? "cli-token" : "cli";
  // A computed path, so bundles that include this file (for bootInfo) do not pull in the whole CLI.
  (loadBundle<Cli>(bundle, "cli/main.js", variant) ?? (require(path.join(DIST_SRC, "cli", "main.js")) as Cli)).run(argv);
}
