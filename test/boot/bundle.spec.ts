/**
 * The start-up path (src/boot/bundle.ts, scripts/bundle.js): the CLI, the
 * package and the bridge run from their bundles through a V8 code cache kept
 * in `<AZMI_HOME>/cache`, and every way that can go wrong (no cache yet, a
 * corrupt or foreign cache, caching off, no bundle, a stale bundle, an
 * unwritable folder) only costs speed, never a wrong answer or an error.
 * Real processes against a real loopback App Service fake.
 */
import * as assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { startFakeAppService } from "../fakes/appService";
import type { Fake } from "../fakes/common";
import { cleanEnv, cleanupTemp, ROOT, runAzmi } from "../cli/support";

const BUNDLE_DIR = path.join(ROOT, "dist/src/bundle");

interface Startup {
  bundle: string | null;
  codeCache: string;
  unbundledBecause?: string;
}

async function doctorStartup(env: NodeJS.ProcessEnv): Promise<{ startup: Startup; winner: string | null }> {
  const r = await runAzmi(["doctor", "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { startup: Startup; winner: string | null };
  return json;
}

function cacheFiles(home: string): string[] {
  const dir = path.join(home, "cache");
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/**
 * A second "installed" copy of the package in a temp folder: what npm puts
 * in node_modules (package.json, bin, dist; no tsconfig.json, no src),
 * with node_modules and the built addon linked. The caller removes it.
 */
function installedCopy(): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-boot-copy-"));
  for (const entry of ["package.json", "bin", "dist", "build", "node_modules"]) {
    const from = path.join(ROOT, entry);
    if (entry === "dist" || entry === "bin") fs.cpSync(from, path.join(copy, entry), { recursive: true, preserveTimestamps: true });
    else if (fs.existsSync(from)) fs.symlinkSync(from, path.join(copy, entry));
  }
  return copy;
}

function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, args, { env, encoding: "utf8" }, (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** `azmi doctor --json` of the install at `root`. */
async function doctorIn(root: string, env: NodeJS.ProcessEnv): Promise<{ startup: Startup; winner: string | null }> {
  const r = await runNode([path.join(root, "bin/azmi.js"), "doctor", "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { startup: Startup; winner: string | null };
}

describe("start-up: bundles and the code cache", function () {
  this.timeout(60_000);
  let appService: Fake & { secret: string };
  let env: NodeJS.ProcessEnv;

  before(async function () {
    for (const name of ["cli.js", "cli-token.js", "azmi.js", "bridge.js"]) {
      assert.ok(fs.existsSync(path.join(BUNDLE_DIR, name)), `dist/src/bundle/${name} exists (npm run build / npm test make it)`);
    }
    appService = await startFakeAppService();
  });
  after(async () => {
    await appService.close();
    cleanupTemp();
  });
  beforeEach(() => {
    env = cleanEnv(appService.env);
  });

  it("the first azmi doctor writes a 0600 code cache for its command; the second one uses it", async () => {
    const first = await doctorStartup(env);
    assert.deepEqual(first.startup, { bundle: "cli", codeCache: "miss" });
    assert.equal(first.winner, "managed-identity");
    const files = cacheFiles(env.AZMI_HOME!);
    assert.equal(files.length, 1, files.join(", "));
    assert.match(files[0]!, /^cli\.doctor\./);
    assert.equal(fs.statSync(path.join(env.AZMI_HOME!, "cache", files[0]!)).mode & 0o777, 0o600);
    const second = await doctorStartup(env);
    assert.deepEqual(second.startup, { bundle: "cli", codeCache: "hit" });
    assert.equal(second.winner, "managed-identity");
  });

  it("the next processes that hit the cache rewrite it (to add what they compiled) up to generation 3, then leave it alone", async () => {
    const header = () => {
      const [file] = cacheFiles(env.AZMI_HOME!);
      const full = path.join(env.AZMI_HOME!, "cache", file!);
      const bytes = fs.readFileSync(full);
      return { line: bytes.toString("latin1", 0, bytes.indexOf(10)), mtimeMs: fs.statSync(full).mtimeMs, ino: fs.statSync(full).ino };
    };
    const generations: string[] = [];
    for (let i = 0; i < 3; i++) {
      await doctorStartup(env);
      generations.push(header().line.split(" ")[2]!);
    }
    assert.deepEqual(generations, ["1", "2", "3"]);
    assert.match(header().line, /^azmi-v8-cache 4 3 [1-9][0-9]*$/);
    const settled = header();
    assert.deepEqual((await doctorStartup(env)).startup, { bundle: "cli", codeCache: "hit" });
    assert.deepEqual(header(), settled, "generation 3 is final: not rewritten");
  });

  it("each command keeps its own cache; azmi token prints the same token shape from bundle and from dist/src", async () => {
    const bundled = await runAzmi(["token", "--output", "json"], env);
    assert.equal(bundled.code, 0, bundled.stderr);
    const unbundled = await runAzmi(["token", "--output", "json"], { ...env, AZMI_BUNDLE: "0" });
    assert.equal(unbundled.code, 0, unbundled.stderr);
    const keys = (out: string) => Object.keys(JSON.parse(out) as object).sort();
    assert.deepEqual(keys(bundled.stdout), keys(unbundled.stdout));
    await doctorStartup(env);
    // (azmi token runs from its own, smaller bundle: cli-token.js.)
    assert.deepEqual(
      cacheFiles(env.AZMI_HOME!).map((f) => f.split(".").slice(0, 2).join(".")),
      ["cli-token.token", "cli.doctor"],
    );
  });

  it("azmi token's bundle leaves the other commands out, and still runs them from dist/src when asked", async () => {
    const token = fs.readFileSync(path.join(BUNDLE_DIR, "cli-token.js"), "latin1");
    const full = fs.readFileSync(path.join(BUNDLE_DIR, "cli.js"), "latin1");
    for (const left of ["dist/src/serve/server.js", "dist/src/cli/serve.js", "dist/src/cli/doctor.js", "dist/src/cli/env.js"]) {
      assert.ok(full.includes(left) && !token.includes(left), left);
    }
    assert.ok(token.length < full.length * 0.7, `cli-token.js is ${token.length} bytes, cli.js ${full.length}`);
    // The left-out commands' requires point at the unbundled modules, from the bundle's own folder,
    // also when the boot runs it with bin/azmi.js's require (whose relative paths start at bin/).
    const copy = installedCopy();
    const entry = fs.readFileSync(path.join(copy, "bin/azmi.js"), "utf8").replace(
      "boot.runCli(process.argv.slice(2));",
      'boot.loadBundle("cli-token", "cli/main.js", "other").run(process.argv.slice(2));',
    );
    fs.writeFileSync(path.join(copy, "bin/token-bundle.js"), entry);
    // (Asynchronously: the fake endpoint answers from this process.)
    const doctor = await runNode([path.join(copy, "bin/token-bundle.js"), "doctor", "--json"], env);
    assert.equal(doctor.code, 0, `${doctor.stdout}\n${doctor.stderr}`);
    assert.equal((JSON.parse(doctor.stdout) as { winner: string; startup: Startup }).winner, "managed-identity");
    assert.deepEqual((JSON.parse(doctor.stdout) as { startup: Startup }).startup.bundle, "cli-token");
  });

  it("two installs of azmi share AZMI_HOME without deleting each other's caches", async () => {
    const copy = installedCopy();
    try {
      await doctorIn(ROOT, env);
      await doctorIn(copy, env);
      assert.equal(cacheFiles(env.AZMI_HOME!).length, 2, cacheFiles(env.AZMI_HOME!).join(", "));
      assert.deepEqual((await doctorIn(ROOT, env)).startup, { bundle: "cli", codeCache: "hit" });
      assert.deepEqual((await doctorIn(copy, env)).startup, { bundle: "cli", codeCache: "hit" });
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it("an installed package (no tsconfig.json; npm and tar set file times) uses its bundles whatever the times say", async () => {
    const copy = installedCopy();
    try {
      // Unpacked in an order that leaves every entry newer than its bundle.
      const old = new Date(Date.now() - 3_600_000);
      for (const name of fs.readdirSync(path.join(copy, "dist/src/bundle"))) fs.utimesSync(path.join(copy, "dist/src/bundle", name), old, old);
      assert.deepEqual((await doctorIn(copy, env)).startup, { bundle: "cli", codeCache: "miss" });
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it("the cache is named by the bundle's build id (a hash of its code), not by file times", async () => {
    await doctorStartup(env);
    const source = fs.readFileSync(path.join(BUNDLE_DIR, "cli.js"), "utf8");
    const id = /\/\/# azmi-build=([0-9a-f]{24})\n/.exec(source)?.[1];
    assert.ok(id, "scripts/bundle.js stamps a build id");
    assert.match(cacheFiles(env.AZMI_HOME!)[0]!, new RegExp(`\\.${id}\\.v8$`));
  });

  it("a bundle cut short on disk (or otherwise broken) falls back to dist/src instead of failing", async () => {
    const copy = installedCopy();
    try {
      const bundle = path.join(copy, "dist/src/bundle/cli.js");
      const whole = fs.readFileSync(bundle);
      // Cut short, or edited at its end (a line end an editor added): not
      // as scripts/bundle.js wrote it, so it is not even compiled.
      for (const edited of [whole.subarray(0, 5000), Buffer.concat([whole, Buffer.from("\n")])]) {
        fs.writeFileSync(bundle, edited);
        const r = await doctorIn(copy, env);
        assert.equal(r.startup.bundle, null);
        assert.equal(r.startup.unbundledBecause, "bundle not as scripts/bundle.js wrote it (cut short or edited): reinstall azmi, or run npm run build in a checkout");
        assert.equal(r.winner, "managed-identity");
      }
      // Whole, but damaged inside (and no code cache yet, which is keyed by
      // the build id the file names): V8 refuses it.
      const damaged = Buffer.from(whole);
      damaged.write("}}}{{{", Math.floor(whole.length / 2), "latin1");
      fs.writeFileSync(bundle, damaged);
      const r = await doctorIn(copy, env);
      assert.equal(r.startup.bundle, null);
      assert.equal(r.startup.unbundledBecause, "bundle failed to load (SyntaxError)");
      assert.equal(r.winner, "managed-identity");
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it("two runtimes (here: with and without a node flag) keep a cache each instead of deleting each other's", async () => {
    const flagged = (args: string[]) => runNode(["--no-warnings", path.join(ROOT, "bin/azmi.js"), ...args], env);
    for (let i = 0; i < 2; i++) {
      await doctorStartup(env);
      await flagged(["doctor", "--json"]);
    }
    assert.equal(cacheFiles(env.AZMI_HOME!).length, 2, cacheFiles(env.AZMI_HOME!).join(", "));
    assert.deepEqual((await doctorStartup(env)).startup.codeCache, "hit");
    assert.deepEqual((JSON.parse((await flagged(["doctor", "--json"])).stdout) as { startup: Startup }).startup.codeCache, "hit");
  });

  it("imported from ESM under a loader hook that hands Node CommonJS source (a require without a cache), the bundle still works", async function () {
    // Such hooks (transpilers, mocks) make Node load azmi's CommonJS files
    // through its ESM translator, whose require has no \`cache\`; the bundle
    // reads require.cache (is @azure/logger loaded?) on its first log line.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-esm-hook-"));
    try {
      fs.writeFileSync(
        path.join(dir, "hooks.mjs"),
        `import { readFile } from "node:fs/promises";
export async function load(url, context, next) {
  const r = await next(url, context);
  if (r.format === "commonjs" && r.source == null && url.startsWith("file:")) return { ...r, source: await readFile(new URL(url)), shortCircuit: true };
  return r;
}`,
      );
      fs.writeFileSync(path.join(dir, "register.mjs"), `import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);`);
      fs.writeFileSync(
        path.join(dir, "app.mjs"),
        `import azmi from ${JSON.stringify(path.join(ROOT, "dist/src/boot/package.js"))};
const out = { info: globalThis[Symbol.for("azmi.boot.info")] };
const token = await azmi.getManagedToken({ resource: "https://vault.azure.net", only: "managed-identity" });
out.token = typeof token.access_token === "string" && token.access_token.length > 0;
try {
  await azmi.getManagedToken({ resource: "https://vault.azure.net", only: "environment" });
} catch (e) {
  out.unavailable = e.name;
}
console.log(JSON.stringify(out));`,
      );
      const r = await runNode(["--import", path.join(dir, "register.mjs"), path.join(dir, "app.mjs")], { ...env, AZURE_LOG_LEVEL: "info" });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { info: { bundle?: string }; token: boolean; unavailable: string };
      assert.equal(out.info.bundle, "azmi", "the package's bundle ran");
      assert.equal(out.token, true);
      assert.equal(out.unavailable, "AggregateAuthenticationError", "azmi's own error, not a TypeError");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("loaded into another JavaScript context (a test runner's sandbox), azmi runs dist/src there: its classes are that context's", function () {
    const script = `
      const vm = require("node:vm"), fs = require("node:fs"), path = require("node:path");
      const context = vm.createContext({ process, Buffer, console });
      // A minimal Jest-like loader: every azmi file is compiled in the sandbox.
      const load = (file) => {
        const fn = vm.runInContext("(function (exports, require, module, __filename, __dirname) {" + fs.readFileSync(file, "utf8") + "\\n})", context, { filename: file });
        const module = { exports: {} };
        const local = (id) => (id.startsWith(".") ? load(require.resolve(path.resolve(path.dirname(file), id))) : require(id));
        fn(module.exports, local, module, file, path.dirname(file));
        return module.exports;
      };
      const azmi = load(${JSON.stringify(path.join(ROOT, "dist/src/boot/package.js"))});
      const info = vm.runInContext("globalThis", context)[Symbol.for("azmi.boot.info")];
      const error = new azmi.AzmiError("ERR_X", "x");
      console.log(JSON.stringify({ info, sandboxError: error instanceof vm.runInContext("Error", context), mainError: error instanceof Error }));`;
    const r = spawnSync(process.execPath, ["-e", script], { env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      info: { codeCache: "none", unbundledBecause: "not loaded by Node's own module loader (a test runner's sandbox?)" },
      sandboxError: true,
      mainError: false,
    });
  });

  it("a damaged cache (bytes flipped past the header) is caught by its seal instead of crashing V8, replaced, and the command still answers", async () => {
    await doctorStartup(env);
    const [file] = cacheFiles(env.AZMI_HOME!);
    const full = path.join(env.AZMI_HOME!, "cache", file!);
    const bytes = fs.readFileSync(full);
    // Flip bytes past the header at scattered places, as damage falls. Not
    // every 97th byte, as this did: whenever the data's length is a multiple
    // of 97, that flips the same bytes in both copies, the seal cannot see it,
    // and V8 crashes on them. Damage repeating at exactly the distance between
    // the copies is not what disks do.
    let x = 0x2545f491;
    for (let n = 0; n < bytes.length / 97; n++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bytes[64 + (x % (bytes.length - 64))]! ^= 0xff;
    }
    fs.writeFileSync(full, bytes);
    const after = await doctorStartup(env);
    assert.deepEqual(after.startup, { bundle: "cli", codeCache: "rejected" });
    assert.equal(after.winner, "managed-identity");
    assert.deepEqual((await doctorStartup(env)).startup, { bundle: "cli", codeCache: "hit" }, "rewritten after the rejection");
  });

  it("a cache cut short (or with bytes appended) fails its seal: rejected, rewritten, and the command still answers", async () => {
    await doctorStartup(env);
    const full = () => path.join(env.AZMI_HOME!, "cache", cacheFiles(env.AZMI_HOME!)[0]!);
    const whole = fs.readFileSync(full());
    for (const damaged of [whole.subarray(0, whole.length - 1), whole.subarray(0, 100), Buffer.concat([whole, Buffer.from([0])])]) {
      fs.writeFileSync(full(), damaged);
      const after = await doctorStartup(env);
      assert.deepEqual(after.startup, { bundle: "cli", codeCache: "rejected" }, `length ${damaged.length} of ${whole.length}`);
      assert.equal(after.winner, "managed-identity");
      assert.equal((await doctorStartup(env)).startup.codeCache, "hit", "rewritten after the rejection");
    }
  });

  it("a cache others could have written is not used (a code cache is code): open folder, open file, symlink; then it is closed and rewritten", async () => {
    await doctorStartup(env);
    const dir = path.join(env.AZMI_HOME!, "cache");
    const full = () => path.join(dir, cacheFiles(env.AZMI_HOME!)[0]!);
    // 1. The folder opened to everyone.
    fs.chmodSync(dir, 0o777);
    assert.equal((await doctorStartup(env)).startup.codeCache, "untrusted");
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700, "the folder is closed again");
    assert.equal((await doctorStartup(env)).startup.codeCache, "hit", "and the cache rewritten");
    // 2. The file writable by others.
    fs.chmodSync(full(), 0o666);
    assert.equal((await doctorStartup(env)).startup.codeCache, "untrusted");
    assert.equal(fs.statSync(full()).mode & 0o777, 0o600);
    // 3. A symlink where the file should be (to a real cache elsewhere).
    const original = full();
    const elsewhere = path.join(env.AZMI_HOME!, "elsewhere.v8");
    fs.renameSync(original, elsewhere);
    fs.symlinkSync(elsewhere, original);
    assert.equal((await doctorStartup(env)).startup.codeCache, "untrusted");
    assert.ok(!fs.lstatSync(full()).isSymbolicLink(), "replaced by a real file");
  });

  it("a cache folder that is a symlink, or a per-user folder others can write, is neither read nor written", async () => {
    await doctorStartup(env);
    const home = env.AZMI_HOME!;
    const dir = path.join(home, "cache");
    // 1. The per-user folder opened to others: they could swap the cache folder.
    fs.chmodSync(home, 0o777);
    try {
      assert.equal((await doctorStartup(env)).startup.codeCache, "untrusted");
    } finally {
      fs.chmodSync(home, 0o700);
    }
    // 2. The cache folder replaced by a symlink to a folder holding a valid cache.
    const real = path.join(home, "real-cache");
    fs.renameSync(dir, real);
    fs.symlinkSync(real, dir);
    const before = fs.readdirSync(real).map((f) => [f, fs.statSync(path.join(real, f)).mtimeMs]);
    assert.equal((await doctorStartup(env)).startup.codeCache, "untrusted");
    assert.deepEqual(fs.readdirSync(real).map((f) => [f, fs.statSync(path.join(real, f)).mtimeMs]), before, "nothing written through the link");
    assert.equal(fs.statSync(real).mode & 0o777, 0o700);
  });

  it("a cache that is not a cache at all (empty, garbage) only costs speed", async () => {
    await doctorStartup(env);
    const [file] = cacheFiles(env.AZMI_HOME!);
    const full = path.join(env.AZMI_HOME!, "cache", file!);
    for (const junk of [Buffer.alloc(0), Buffer.from("not a V8 code cache"), fs.readFileSync(path.join(BUNDLE_DIR, "cli.js"))]) {
      fs.writeFileSync(full, junk);
      const r = await doctorStartup(env);
      assert.equal(r.startup.bundle, "cli");
      assert.ok(["rejected", "miss"].includes(r.startup.codeCache), r.startup.codeCache);
      assert.equal(r.winner, "managed-identity");
    }
  });

  it("AZMI_CODE_CACHE=0 keeps the bundle and writes no cache; AZMI_BUNDLE=0 runs dist/src", async () => {
    const off = await doctorStartup({ ...env, AZMI_CODE_CACHE: "0" });
    assert.deepEqual(off.startup, { bundle: "cli", codeCache: "off" });
    assert.deepEqual(cacheFiles(env.AZMI_HOME!), []);
    const unbundled = await doctorStartup({ ...env, AZMI_BUNDLE: "0" });
    assert.deepEqual(unbundled.startup, { bundle: null, codeCache: "none", unbundledBecause: "AZMI_BUNDLE=0" });
    assert.equal(unbundled.winner, "managed-identity");
  });

  it("an AZMI_HOME that cannot be written (a file in its place) still answers, without a cache", async () => {
    const blocked = path.join(os.tmpdir(), `azmi-boot-blocked-${process.pid}`);
    fs.writeFileSync(blocked, "not a folder");
    try {
      const r = await doctorStartup({ ...env, AZMI_HOME: blocked });
      assert.equal(r.startup.bundle, "cli");
      assert.equal(r.winner, "managed-identity");
    } finally {
      fs.rmSync(blocked, { force: true });
    }
  });

  it("a bundle older than the tsc output it came from is not used (someone ran tsc alone)", async () => {
    // On a copy (the shared checkout's bundle is never touched); its tsconfig.json makes it a source checkout.
    const copy = installedCopy();
    try {
      fs.copyFileSync(path.join(ROOT, "tsconfig.json"), path.join(copy, "tsconfig.json"));
      const old = new Date(Date.now() - 3_600_000);
      fs.utimesSync(path.join(copy, "dist/src/bundle/cli.js"), old, old);
      const r = await doctorIn(copy, env);
      assert.deepEqual(r.startup, { bundle: null, codeCache: "none", unbundledBecause: "bundle older than dist/src (run npm run build)" });
      assert.equal(r.winner, "managed-identity");
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it("every bundle is ASCII, so the boot's latin1 read of it is exact", () => {
    for (const name of ["azmi", "cli", "bridge"]) {
      const bytes = fs.readFileSync(path.join(ROOT, "dist/src/bundle", `${name}.js`));
      const at = bytes.findIndex((b) => b > 0x7f);
      assert.equal(at, -1, `dist/src/bundle/${name}.js has a non-ASCII byte at offset ${at}: keep esbuild's charset "ascii" in scripts/bundle.js`);
    }
  });

  it("require('azmi') (package.json main) gets the bundled package with the full API, and caches it", async function () {
    const main = path.join(ROOT, (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { main: string }).main);
    const script = `
      const azmi = require(${JSON.stringify(main)});
      const info = globalThis[Symbol.for("azmi.boot.info")];
      const names = Object.keys(azmi).sort();
      new azmi.ManagedIdentityCredential().getToken("https://vault.azure.net/.default").then((t) => {
        console.log(JSON.stringify({ info, names, token: typeof t.token, cred: azmi.CredentialUnavailableError.name }));
      });`;
    // Asynchronous: the fake answers from this process's event loop.
    const run = () =>
      new Promise<{ info: Startup; names: string[]; token: string; cred: string }>((resolve, reject) => {
        execFile(process.execPath, ["-e", script], { env, encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`${error.message}\n${stderr}`));
          else resolve(JSON.parse(stdout) as { info: Startup; names: string[]; token: string; cred: string });
        });
      });
    const first = await run();
    assert.deepEqual(first.info, { bundle: "azmi", codeCache: "miss" });
    assert.equal(first.token, "string");
    assert.equal(first.cred, "CredentialUnavailableError", "class names survive bundling");
    const unbundled = Object.keys(require(path.join(ROOT, "dist/src/index.js")) as object).sort();
    assert.deepEqual(first.names, unbundled, "same exports as dist/src/index.js");
    assert.deepEqual((await run()).info, { bundle: "azmi", codeCache: "hit" });
  });

  it("an ES module imports azmi by name, as it imports @azure/identity, and the import loads no server", async function () {
    // Named imports of a CommonJS package are the names Node's lexer finds in
    // package.js's text (scripts/bundle.js writes them); before, every one of
    // them failed with "Named export not found".
    const main = path.join(ROOT, (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { main: string }).main);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-esm-"));
    try {
      const file = path.join(dir, "app.mjs");
      fs.writeFileSync(
        file,
        [
          `import { DefaultAzureCredential, ManagedIdentityCredential, getManagedToken, startServer, CredentialUnavailableError } from ${JSON.stringify(pathToFileURL(main).href)};`,
          `import * as ns from ${JSON.stringify(pathToFileURL(main).href)};`,
          `const names = Object.keys(ns).filter((n) => n !== "default").sort();`,
          `const httpLoaded = process.moduleLoadList.includes("NativeModule http");`,
          `const token = await new ManagedIdentityCredential().getToken("https://vault.azure.net/.default");`,
          `const server = await startServer({ port: 0 });`,
          `await server.close();`,
          `console.log(JSON.stringify({ names, httpLoaded, token: typeof token.token, dac: typeof DefaultAzureCredential, msi: typeof getManagedToken, err: CredentialUnavailableError.name, url: server.url.startsWith("http://127.0.0.1:") }));`,
        ].join("\n"),
      );
      const r = await runNode([file], env);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as { names: string[]; httpLoaded: boolean; token: string; dac: string; msi: string; err: string; url: boolean };
      const cjs = Object.keys(require(path.join(ROOT, "dist/src/index.js")) as object).sort();
      assert.deepEqual(out.names, cjs, "every CommonJS export is a named ESM export");
      assert.equal(out.httpLoaded, false, "importing azmi from ESM (which reads every export) does not load the server's node:http");
      assert.deepEqual(
        { token: out.token, dac: out.dac, msi: out.msi, err: out.err, url: out.url },
        { token: "string", dac: "function", msi: "function", err: "CredentialUnavailableError", url: true },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an error a script leaves unhandled shows one short source line, not kilobytes of minified bundle", async function () {
    // Node prints the source line of an uncaught error's top frame; the
    // bundles are minified, so their lines must stay short (scripts/bundle.js
    // lineLimit). Before: one 20 KB line of code above the message.
    const r = await runNode(["-e", `require(${JSON.stringify(ROOT)}).getManagedToken("https://vault.azure.net")`], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /AzmiError: getManagedToken needs an options object/);
    assert.match(r.stderr, /bundle[\\/]azmi\.js:\d+/, "the error came from the bundle (the case this test is about)");
    const longest = Math.max(...r.stderr.split("\n").map((l) => l.length));
    assert.ok(longest <= 400, `longest stderr line is ${longest} characters:\n${r.stderr.slice(0, 600)}`);
    for (const name of ["cli.js", "cli-token.js", "azmi.js", "bridge.js"]) {
      const lines = fs.readFileSync(path.join(BUNDLE_DIR, name), "utf8").split("\n");
      const long = lines.filter((l) => l.length > 400 && !l.startsWith("//# sourceMappingURL=")).length;
      assert.equal(long, 0, `${name}: ${long} lines longer than 400 characters (lineLimit is approximate: esbuild breaks where it can)`);
    }
  });

  it("under --enable-source-maps, an error from the bundle names src/*.ts lines, as unbundled dist/src does", async function () {
    // Node maps only code its own loader compiled; run through vm.Script,
    // the bundle's source map was ignored and traces named bundle/azmi.js.
    const script = `Promise.resolve().then(() => require(${JSON.stringify(ROOT)}).getManagedToken("https://vault.azure.net")).catch((e) => {
      console.log(JSON.stringify({ stack: e.stack, info: globalThis[Symbol.for("azmi.boot.info")] }));
    });`;
    for (const flags of [["--enable-source-maps"], []]) {
      const r = await runNode([...flags, "-e", script], env);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { stack: string; info: Startup };
      assert.equal(out.info.bundle, "azmi", "the package ran from its bundle");
      const top = out.stack.split("\n").find((l) => l.trimStart().startsWith("at "))!;
      if (flags.length) assert.match(top, /[\\/]src[\\/][\w/\\-]+\.ts:\d+:\d+\)?$/, out.stack);
      else assert.match(top, /bundle[\\/]azmi\.js:\d+/, "without the flag, the code cache path is unchanged");
    }
  });

  it("each bundle is one wrapper function, which the boot compiles as the file is and Node's loader runs as a plain module; both name the file's own lines", async function () {
    // The boot compiles the file up to the function's end, without its call
    // (a slice V8 takes without copying the ~270 KB: src/boot/bundle.ts
    // BUNDLE_HEAD). The source-map comment is the last line, where the
    // source-map standard (ECMA-426) and tools that scan files look for it.
    const { BUNDLE_HEAD, BUNDLE_TAIL } = require(path.join(ROOT, "dist/src/boot/bundle.js")) as { BUNDLE_HEAD: string; BUNDLE_TAIL: string };
    for (const name of ["cli.js", "cli-token.js", "azmi.js", "bridge.js"]) {
      const text = fs.readFileSync(path.join(BUNDLE_DIR, name), "latin1");
      assert.ok(text.startsWith(BUNDLE_HEAD), `${name} starts with the wrapper's head`);
      assert.ok(text.endsWith(`${BUNDLE_TAIL}//# sourceMappingURL=${name}.map\n`), `${name} ends with the wrapper's call, then its source-map comment`);
    }
    // An error made in the bundle: the top frame's line and column,
    // read back from the file, are where it is made, through the code cache (a
    // slice of the file) and through Node's own loader alike.
    const script = `const file = ${JSON.stringify(path.join(BUNDLE_DIR, "azmi.js"))};
      const azmi = process.argv[1] === "direct" ? require(file) : require(${JSON.stringify(ROOT)});
      try { new azmi.ManagedIdentityCredential({ clientId: 5 }); } catch (e) {
        const [, line, column] = /azmi\\.js:(\\d+):(\\d+)/.exec(e.stack);
        const text = require("fs").readFileSync(file, "latin1").split("\\n")[line - 1].slice(column - 1);
        console.log(JSON.stringify({ name: e.name, text, info: globalThis[Symbol.for("azmi.boot.info")] ?? null }));
      }`;
    for (const how of ["package", "direct"]) {
      const r = await runNode(["-e", script, how], env);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { name: string; text: string; info: Startup | null };
      assert.equal(out.name, "TypeError");
      assert.match(out.text, /^new TypeError\(`ManagedIdentityCredential: /, `${how}: the frame names the line and column where the error is made`);
      if (how === "package") assert.equal(out.info?.bundle, "azmi", "the package ran from its bundle, through the boot");
      else assert.equal(out.info, null, "the file required directly ran without the boot");
    }
    // And the source map, one line longer for the wrapper's head, still
    // leads to the very line in src/*.ts (Node's loader runs the bundle then).
    const mapped = await runNode(["--enable-source-maps", "-e", `try { new (require(${JSON.stringify(ROOT)}).ManagedIdentityCredential)({ clientId: 5 }); } catch (e) { console.log(e.stack); }`], env);
    assert.equal(mapped.code, 0, mapped.stderr);
    const at = /[\\/](src[\\/]credentials[\\/]managedIdentityCredential\.ts):(\d+):(\d+)/.exec(mapped.stdout);
    assert.ok(at, mapped.stdout);
    const tsLine = fs.readFileSync(path.join(ROOT, at[1]!), "utf8").split("\n")[Number(at[2]) - 1]!;
    assert.match(tsLine.slice(Number(at[3]) - 1), /^new TypeError\(`ManagedIdentityCredential: /, `${at[0]}: ${tsLine}`);
  });

  it("azmi and require('azmi') start from one file: the boot is inlined, so Node's loader reads no other file of ours before the bundle", async function () {
    // A preload that lists every file Node's CommonJS loader compiles (the bundle itself is run through vm, not the loader).
    const recorder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "azmi-loader-")), "record.js");
    fs.writeFileSync(
      recorder,
      `const M = require("module"); const seen = []; const orig = M.prototype._compile;
       M.prototype._compile = function (c, f) { seen.push(f); return orig.call(this, c, f); };
       process.on("exit", () => require("fs").writeSync(2, "LOADED " + JSON.stringify(seen.filter((f) => f.startsWith(${JSON.stringify(ROOT)}) && !f.includes("node_modules"))) + "\\n"));`,
    );
    const loaded = (stderr: string) => JSON.parse(stderr.split("\n").find((l) => l.startsWith("LOADED "))!.slice(7)) as string[];
    const bin = path.join(ROOT, "bin/azmi.js");
    const version = await runNode(["--require", recorder, bin, "--version"], env);
    assert.equal(version.code, 0, version.stderr);
    assert.deepEqual(loaded(version.stderr), [bin]);
    const main = path.join(ROOT, "dist/src/boot/package.js");
    const pkg = await runNode(["--require", recorder, "-e", `const a = require(${JSON.stringify(ROOT)}); if (typeof a.DefaultAzureCredential !== "function") process.exit(1);`], env);
    assert.equal(pkg.code, 0, pkg.stderr);
    assert.deepEqual(loaded(pkg.stderr), [main]);
    fs.rmSync(path.dirname(recorder), { recursive: true, force: true });
  });

  it("a cache file is its header and V8's data twice; damage to either copy, or a length that does not match, is rejected", async () => {
    await doctorStartup(env);
    const full = path.join(env.AZMI_HOME!, "cache", cacheFiles(env.AZMI_HOME!)[0]!);
    const whole = fs.readFileSync(full);
    const newline = whole.indexOf(10);
    const [, , generation, length] = whole.toString("latin1", 0, newline).split(" ");
    const n = Number(length);
    assert.equal(generation, "1");
    assert.equal(whole.length, newline + 1 + 2 * n, "header, then two copies");
    const first = whole.subarray(newline + 1, newline + 1 + n);
    assert.ok(first.equals(whole.subarray(newline + 1 + n)), "the copies are equal");
    const damaged: Array<[string, Buffer]> = [];
    for (const [name, at] of [["first copy", newline + 1 + 1000], ["second copy", newline + 1 + n + 1000], ["last byte", whole.length - 1]] as const) {
      const bytes = Buffer.from(whole);
      bytes[at] ^= 0x01; // one bit
      damaged.push([`a bit flipped in the ${name}`, bytes]);
    }
    const zeroed = Buffer.from(whole);
    zeroed.fill(0, newline + 1 + n + 4096, newline + 1 + n + 8192); // a lost block in the second copy
    damaged.push(["a zeroed block", zeroed]);
    damaged.push(["a header whose length is one short", Buffer.concat([Buffer.from(`azmi-v8-cache 4 1 ${n - 1}\n`, "latin1"), whole.subarray(newline + 1)])]);
    damaged.push(["the previous format (a checksum, one copy)", Buffer.concat([Buffer.from("azmi-v8-cache 3 1 0123456789abcdef\n", "latin1"), first])]);
    damaged.push(["a length with a leading zero", Buffer.concat([Buffer.from(`azmi-v8-cache 4 1 0${n}\n`, "latin1"), whole.subarray(newline + 1)])]);
    damaged.push(["a header with a field more", Buffer.concat([Buffer.from(`azmi-v8-cache 4 1 ${n} x\n`, "latin1"), whole.subarray(newline + 1)])]);
    damaged.push(["a length larger than any cache (not read)", Buffer.concat([Buffer.from("azmi-v8-cache 4 1 999999999\n", "latin1"), whole.subarray(newline + 1)])]);
    for (const [what, bytes] of damaged) {
      fs.writeFileSync(full, bytes);
      const after = await doctorStartup(env);
      assert.deepEqual(after.startup, { bundle: "cli", codeCache: "rejected" }, what);
      assert.equal(after.winner, "managed-identity", what);
    }
    fs.writeFileSync(full, whole);
    assert.deepEqual((await doctorStartup(env)).startup, { bundle: "cli", codeCache: "hit" }, "the undamaged file still hits");
  });

  it("the boot's copy of the per-user folder rule agrees with paths.ts", function () {
    // Both read the process's HOME (as os.homedir() does), so both run in the child, under the case's environment.
    const cases: NodeJS.ProcessEnv[] = [
      { AZMI_HOME: "/x/y" },
      { AZMI_HOME: "rel/dir" },
      { XDG_STATE_HOME: "/state" },
      { HOME: os.homedir() },
      { HOME: "/tmp/another-home" },
      {}, // no HOME at all: os.homedir() (the password database) for both
    ];
    for (const c of cases) {
      const script = `process.env = ${JSON.stringify(c)};
        const b = require(${JSON.stringify(path.join(ROOT, "dist/src/boot/bundle.js"))});
        const p = require(${JSON.stringify(path.join(ROOT, "dist/src/paths.js"))});
        console.log(JSON.stringify([b.cacheFolder(), require("node:path").join(p.azmiHome(), "cache")]));`;
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const [boot, paths] = JSON.parse(r.stdout) as [string, string];
      assert.equal(boot, paths, JSON.stringify(c));
      if (c.HOME && !c.AZMI_HOME && !c.XDG_STATE_HOME) assert.equal(boot, path.join(c.HOME, ".azmi", "cache"));
      if (c.AZMI_HOME) assert.equal(boot, path.join(path.resolve(c.AZMI_HOME), "cache"));
    }
  });
});
