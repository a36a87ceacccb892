/**
 * An azmi folder (AZMI_HOME) that cannot be made: every command still ends,
 * with one line naming the folder, the variable that chose it and the fix.
 * The /proc case is the one that hung: Node 20's recursive mkdir loops
 * forever at full CPU when a parent exists but refuses children (ENOENT).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeDirectory } from "../../src/paths";
import { spawn } from "node:child_process";
import { cleanEnv, cleanupTemp, collect, runAzmi, tempDir } from "./support";

describe("an azmi folder that cannot be made", function () {
  this.timeout(60_000);
  after(cleanupTemp);

  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const onLinux = process.platform === "linux";

  const unusable = (): Array<[string, string, string]> => {
    const dir = tempDir("azmi-home-");
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "");
    const dangling = path.join(dir, "dangling");
    fs.symlinkSync(path.join(dir, "nowhere"), dangling);
    return [
      ...(onLinux ? [["a path under /proc (Node's recursive mkdir never returned)", "/proc/azmi-home-test", "ENOENT"] as [string, string, string]] : []),
      ["a file", file, "EEXIST"],
      ["a symlink to nothing", dangling, "EEXIST"],
      ["a path through a file", path.join(file, "sub"), "ENOTDIR"],
    ];
  };

  it("azmi serve ends at once with one line naming the folder, AZMI_HOME and the fix (exit 1)", async () => {
    for (const [what, home, code] of unusable()) {
      const r = await runAzmi(["serve"], cleanEnv({ AZMI_HOME: home }), 15_000);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, "", what);
      assert.match(
        r.stderr,
        new RegExp(`^azmi serve: azmi's folder ${escape(home)} \\(from AZMI_HOME\\) cannot be created: ${code}, [^.]+\\. Set AZMI_HOME to a folder you can write, or unset it for ~/\\.azmi\\.\\n$`),
        what,
      );
    }
  });

  it("a link to nothing on the way is named, and the advice follows the variable that chose the folder", async () => {
    const dir = tempDir("azmi-home-");
    const dangling = path.join(dir, "dangling");
    fs.symlinkSync(path.join(dir, "nowhere"), dangling);
    const viaAzmiHome = await runAzmi(["serve"], cleanEnv({ AZMI_HOME: path.join(dangling, "sub") }), 15_000);
    assert.equal(
      viaAzmiHome.stderr,
      `azmi serve: azmi's folder ${path.join(dangling, "sub")} (from AZMI_HOME) cannot be created: EEXIST at ${dangling}, something that is not a folder is in the way (a file, or a symlink to nothing). Set AZMI_HOME to a folder you can write, or unset it for ~/.azmi.\n`,
    );
    const viaXdg = await runAzmi(["serve"], cleanEnv({ AZMI_HOME: undefined, XDG_STATE_HOME: dangling }), 15_000);
    assert.match(viaXdg.stderr, new RegExp(`\\(from XDG_STATE_HOME\\) cannot be created: .*\\. Fix or unset XDG_STATE_HOME, or set AZMI_HOME to a folder you can write\\.\\n$`));
    const viaHome = await runAzmi(["serve"], cleanEnv({ AZMI_HOME: undefined, HOME: dangling }), 15_000);
    assert.match(viaHome.stderr, new RegExp(`^azmi serve: azmi's folder ${escape(path.join(dangling, ".azmi"))} \\(from HOME\\) cannot be created: .*\\. Set AZMI_HOME to a folder you can write\\.\\n$`));
  });

  it("the other commands end too (the code cache is simply not written there)", async function () {
    if (!onLinux) this.skip();
    const home = "/proc/azmi-home-test";
    for (const args of [["--version"], ["token", "--only", "managed-identity"], ["doctor", "--json"], ["env"]]) {
      const r = await runAzmi(args, cleanEnv({ AZMI_HOME: home }), 15_000);
      assert.notEqual(r.code, null, `${args.join(" ")} ended by a signal`);
      assert.ok([0, 3].includes(r.code!), `${args.join(" ")}: exit ${r.code} ${r.stderr}`);
    }
  });

  it("makeDirectory throws (does not loop) where a parent takes no children: checked in a child, so a loop cannot hang this run", async function () {
    if (!onLinux) this.skip();
    const script = `const { makeDirectory } = require(${JSON.stringify(path.join(__dirname, "../../src/paths.js"))});
      try { makeDirectory("/proc/azmi-home-test/x", 0o700); console.log("made?"); } catch (e) { console.log(e.code); }`;
    const r = await collect(spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] }), 15_000);
    assert.equal(r.stdout, "ENOENT\n", r.stderr);
  });

  it("makeDirectory: six processes making the same deep folder at once all succeed (another one making a level first is fine)", async () => {
    // Each process makes the same 200 deep folders in the same order, so they race level by level.
    const base = tempDir("azmi-race-");
    const script = `const path = require("node:path");
      const { makeDirectory } = require(${JSON.stringify(path.join(__dirname, "../../src/paths.js"))});
      for (let i = 0; i < 200; i++) makeDirectory(path.join(process.argv[1], String(i), "a", "b", "c", "d", "e", "f"), 0o700);
      console.log("ok");`;
    const runs = await Promise.all(Array.from({ length: 6 }, () => collect(spawn(process.execPath, ["-e", script, base], { stdio: ["ignore", "pipe", "pipe"] }), 30_000)));
    for (const r of runs) assert.deepEqual([r.code, r.stdout], [0, "ok\n"], r.stderr);
  });

  it("makeDirectory makes what is missing, owner-only, accepts an existing folder, and refuses a file in the way", function () {
    const base = tempDir("azmi-mkdir-");
    const deep = path.join(base, "a", "b", "c");
    makeDirectory(deep, 0o700);
    assert.ok(fs.statSync(deep).isDirectory());
    if (os.platform() !== "win32") assert.equal(fs.statSync(path.join(base, "a")).mode & 0o777, 0o700);
    makeDirectory(deep, 0o700); // already there: fine
    fs.symlinkSync(deep, path.join(base, "link"));
    makeDirectory(path.join(base, "link"), 0o700); // a symlink to a folder is a folder, as with `recursive`
    fs.writeFileSync(path.join(base, "f"), "");
    assert.throws(() => makeDirectory(path.join(base, "f"), 0o700), { code: "EEXIST" });
  });
});
