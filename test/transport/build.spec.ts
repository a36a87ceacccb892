/**
 * scripts/build-native.js never fails an install: a broken build prints one
 * line naming the fallback and exits 0; an up-to-date addon is not rebuilt.
 * Runs on a scratch copy of the sources so the real build is untouched.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../netns/harness";

describe("scripts/build-native.js", function () {
  this.timeout(120000);
  let dir: string;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-build-"));
    fs.mkdirSync(path.join(dir, "native"));
    fs.mkdirSync(path.join(dir, "scripts"));
    fs.copyFileSync(path.join(REPO_ROOT, "binding.gyp"), path.join(dir, "binding.gyp"));
    fs.copyFileSync(path.join(REPO_ROOT, "scripts", "build-native.js"), path.join(dir, "scripts", "build-native.js"));
    for (const f of fs.readdirSync(path.join(REPO_ROOT, "native"))) {
      if (/\.(cc|h)$/.test(f)) fs.copyFileSync(path.join(REPO_ROOT, "native", f), path.join(dir, "native", f));
    }
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function run(...args: string[]): { status: number | null; stdout: string } {
    // Not under scripts/sanitize-native.sh's preloaded libasan: the
    // compiler and make are not ours to sanitize.
    const { LD_PRELOAD: _p, ASAN_OPTIONS: _a, UBSAN_OPTIONS: _u, ...env } = process.env;
    const r = spawnSync(process.execPath, [path.join(dir, "scripts", "build-native.js"), ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { ...env, NODE_PATH: path.join(REPO_ROOT, "node_modules") },
    });
    return { status: r.status, stdout: r.stdout };
  }

  it("a failing compile exits 0 with one line about the fallback and keeps a log", function () {
    fs.appendFileSync(path.join(dir, "native", "addon.cc"), "\n#error deliberately broken for the test\n");
    const r = run("--force");
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), "azmi: native addon build failed (details: build/azmi-build.log); the node:net fallback will be used");
    assert.match(fs.readFileSync(path.join(dir, "build", "azmi-build.log"), "utf8"), /deliberately broken/);
  });

  it("an addon newer than every source is not rebuilt without --force", function () {
    const addon = path.join(dir, "build", "Release", "azmi.node");
    fs.mkdirSync(path.dirname(addon), { recursive: true });
    fs.writeFileSync(addon, "placeholder");
    const later = new Date(Date.now() + 60000);
    fs.utimesSync(addon, later, later);
    const r = run();
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), "azmi: native addon already built (build/Release/azmi.node); use --force to rebuild");
    assert.equal(fs.readFileSync(addon, "utf8"), "placeholder");
  });
});

describe("the built addon's imports", () => {
  // Every function the addon imports is bound by a symbol lookup on its
  // first call, a cost of every fresh process's first token (README,
  // session 18): binding.gyp builds std::string's code into the addon, and
  // addon.cc defines __cxa_pure_virtual, which vtables name and which was
  // looked up at load time, in Node's own table.
  it("imports no std::string or container code and no __cxa_pure_virtual (ELF builds)", function () {
    if (process.platform !== "linux") this.skip(); // binding.gyp's flags are for GNU toolchains on ELF systems
    const addon = path.join(REPO_ROOT, "build", "Release", "azmi.node");
    if (!fs.existsSync(addon)) this.skip(); // no local build (the fallback transport is in use)
    const r = spawnSync("nm", ["-D", "--undefined-only", addon], { encoding: "utf8" });
    assert.equal(r.status, 0, `nm ${addon}: ${r.stderr}`);
    const imports = r.stdout.split("\n").map((line) => line.trim().split(/\s+/).pop()!).filter(Boolean);
    assert.ok(imports.includes("napi_create_function"), `nm listed the addon's imports: ${imports.join(" ")}`);
    const cxx = imports.filter((name) => /basic_string|_M_realloc_insert|_Hashtable|__cxa_pure_virtual/.test(name));
    assert.deepEqual(cxx, [], "imports that binding.gyp's flags or addon.cc should have kept inside the addon");
  });
});
