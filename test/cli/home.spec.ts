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
import { cleanEnv, cleanupTemp, runAzmi, tempDir } from "./support";

describe("an azmi folder that cannot be made", function () {
  this.timeout(60_000);
  after(cleanupTemp);

  const unusable = (): Array<[string, string, string]> => {
    const dir = tempDir("azmi-home-");
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "");
    const dangling = path.join(dir, "dangling");
    fs.symlinkSync(path.join(dir, "nowhere"), dangling);
    return [
      ["a path under /proc (Node's recursive mkdir never returned)", "/proc/azmi-home-test", "ENOENT"],
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
        new RegExp(`^azmi serve: azmi's folder ${home.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(from AZMI_HOME\\) cannot be created: ${code} \\([^)]+(\\([^)]*\\))?[^)]*\\)\\. Set AZMI_HOME to a folder you can write \\(or unset it for ~/\\.azmi\\)\\.\\n$`),
        what,
      );
    }
  });

  it("the other commands end too (the code cache is simply not written there)", async () => {
    const home = "/proc/azmi-home-test";
    for (const args of [["--version"], ["token", "--only", "managed-identity"], ["doctor", "--json"], ["env"]]) {
      const r = await runAzmi(args, cleanEnv({ AZMI_HOME: home }), 15_000);
      assert.notEqual(r.code, null, `${args.join(" ")} ended by a signal`);
      assert.ok([0, 3].includes(r.code!), `${args.join(" ")}: exit ${r.code} ${r.stderr}`);
    }
  });

  it("makeDirectory makes what is missing, owner-only, accepts an existing folder, and throws (not loops) where a parent takes no children", function () {
    const base = tempDir("azmi-mkdir-");
    const deep = path.join(base, "a", "b", "c");
    makeDirectory(deep, 0o700);
    assert.ok(fs.statSync(deep).isDirectory());
    if (os.platform() !== "win32") assert.equal(fs.statSync(path.join(base, "a")).mode & 0o777, 0o700);
    makeDirectory(deep, 0o700); // already there: fine
    fs.symlinkSync(deep, path.join(base, "link"));
    makeDirectory(path.join(base, "link"), 0o700); // a symlink to a folder is a folder, as with `recursive`
    assert.throws(() => makeDirectory("/proc/azmi-home-test/x", 0o700), { code: "ENOENT" });
    fs.writeFileSync(path.join(base, "f"), "");
    assert.throws(() => makeDirectory(path.join(base, "f"), 0o700), { code: "EEXIST" });
  });
});
