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
 * 0600, written atomically), one file per bundle and variant (the CLI keeps
 * one per command, because each command runs different functions). It is
 * keyed by Node version, architecture, V8 flags and the bundle's size, mtime
 * and inode: V8 itself only checks the source's length, so content changes
 * of the same length must change the file name. A cache V8 rejects, a missing
 * or unreadable folder, or a read-only disk only cost speed, never an error.
 * The cache is written once, when a process that had none exits (or earlier,
 * when a long-lived process such as the bridge says it is warm).
 *
 * Falls back to the unbundled modules (returns `undefined`) when the bundle
 * is missing (esbuild unavailable at build time), older than the tsc output
 * it was made from (someone ran `tsc` alone), or `AZMI_BUNDLE=0`.
 * `AZMI_CODE_CACHE=0` keeps the bundle but skips the cache.
 *
 * Deliberately small (it runs before anything else): Node built-ins and `paths.ts` only.
 *
 * @example
 * ```ts
 * const cli = loadBundle<typeof import("../cli/main")>("cli", "cli/main.js", "token") ?? require("../cli/main");
 * ```
 */
import fs = require("node:fs");
import path = require("node:path");
import { azmiHome } from "../paths";

/** How the running code was loaded; `azmi doctor` shows it. */
export interface BootInfo {
  bundle: string | undefined;
  codeCache: "hit" | "miss" | "rejected" | "off" | "none";
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
  const why = unbundledReason(file, path.join(DIST_SRC, entry));
  if (why) {
    publish({ bundle: undefined, codeCache: "none", unbundledBecause: why });
    return undefined;
  }
  const bundleStat = fs.statSync(file);
  const source = fs.readFileSync(file, "utf8");
  const cacheFile = process.env.AZMI_CODE_CACHE === "0" ? undefined : cachePath(name, variant, bundleStat);
  let cachedData: Buffer | undefined;
  if (cacheFile) {
    try {
      cachedData = fs.readFileSync(cacheFile);
    } catch {
      // No cache yet (or unreadable): compile from source, write one at exit.
    }
  }
  const vm = require("node:vm") as typeof import("node:vm");
  // The CommonJS wrapper on the first line, so line numbers in stack traces match the bundle and its source map.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const codeCache: BootInfo["codeCache"] = !cacheFile ? "off" : !cachedData ? "miss" : script.cachedDataRejected ? "rejected" : "hit";
  publish({ bundle: name, codeCache });
  if (cacheFile && codeCache !== "hit") scheduleSave(script, cacheFile, cachePrefix(name, variant));

  const moduleLike = { exports: {} as T, id: file, filename: file, loaded: false };
  const bundleRequire = (require("node:module") as typeof import("node:module")).createRequire(file);
  (script.runInThisContext() as (...args: unknown[]) => void).call(moduleLike.exports, moduleLike.exports, bundleRequire, moduleLike, file, path.dirname(file));
  moduleLike.loaded = true;
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

function unbundledReason(bundleFile: string, entryFile: string): string | undefined {
  if (process.env.AZMI_BUNDLE === "0") return "AZMI_BUNDLE=0";
  let bundleMtime: number;
  try {
    bundleMtime = fs.statSync(bundleFile).mtimeMs;
  } catch {
    return "no bundle (esbuild was not available when azmi was built)";
  }
  try {
    // A bundle older than the tsc output it was made from is stale: `tsc`
    // ran without `npm run build`. Run what was just compiled instead.
    if (fs.statSync(entryFile).mtimeMs > bundleMtime) return "bundle older than dist/src (run npm run build)";
  } catch {
    // The unbundled entry is not shipped: the bundle is all there is.
  }
  return undefined;
}

function cachePath(name: string, variant: string, stat: fs.Stats): string | undefined {
  let home: string;
  try {
    home = azmiHome();
  } catch {
    return undefined; // no home directory to keep a cache in
  }
  // V8 rejects a cache made under other flags; keying by them avoids rewriting it on every alternation.
  const flags = process.execArgv.join(" ");
  const key = [process.version, process.arch, stat.size, Math.round(stat.mtimeMs), stat.ino, hash(flags)].join("-");
  return path.join(home, "cache", `${cachePrefix(name, variant)}${key}.v8`);
}

/** Every cache file of one bundle and variant starts with this, whatever its key. */
function cachePrefix(name: string, variant: string): string {
  return `${name}.${variant.replace(/[^\w]/g, "_")}.`;
}

/** A short non-cryptographic hash (FNV-1a), to keep file names short. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36);
}

function scheduleSave(script: import("node:vm").Script, cacheFile: string, prefix: string): void {
  let saved = false;
  const save = () => {
    if (saved) return;
    saved = true;
    try {
      const dir = path.dirname(cacheFile);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      removeOlderCaches(dir, path.basename(cacheFile), prefix);
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(tmp, cacheFile);
    } catch {
      // Read-only or full disk: the next process compiles from source, as without a cache.
    }
  };
  (globalThis as BootGlobal)[SAVE_NOW] = save;
  process.once("exit", save);
}

/** Caches of the same bundle and variant under an older key (previous version, Node upgrade) are dead weight. */
function removeOlderCaches(dir: string, keep: string, prefix: string): void {
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith(prefix) && f !== keep && f.endsWith(".v8")) fs.rmSync(path.join(dir, f), { force: true });
  }
}

function publish(info: BootInfo): void {
  (globalThis as BootGlobal)[BOOT_INFO] ??= info;
}
