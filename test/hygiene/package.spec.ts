/**
 * What `npm pack` ships: what a user needs to run azmi (the CLI, the bundles,
 * the addon's sources, the PowerShell module with its shipped core), and no
 * build output of this machine (the module's local ReadyToRun core, the C#
 * project's bin/ and obj/, which package.json's "files" would otherwise take
 * with module/ whatever .gitignore says).
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../../..");

function packedFiles(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, maxBuffer: 16 << 20 }, (error, stdout) => {
      if (error) return reject(error);
      const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
      resolve(pack!.files.map((f) => f.path));
    });
  });
}

describe("hygiene: the npm package", function () {
  this.timeout(60_000);

  it("ships the CLI, the bundles, the addon's sources and the module with its shipped core, and no local build output", async () => {
    const files = await packedFiles();
    for (const needed of ["bin/azmi.js", "dist/src/bundle/azmi.js", "dist/src/bundle/cli.js", "dist/src/bundle/cli-token.js", "binding.gyp", "native/exchange.cc", "module/Azmi/Azmi.psd1", "module/Azmi/lib/Azmi.Core.dll", "module/src/AzmiCore.cs"]) {
      assert.ok(files.includes(needed), `${needed} is not in the package`);
    }
    const local = files.filter((f) => /^module\/Azmi\/bin\/|^module\/src\/(bin|obj)\/|^\.pwsh-r2r\/|^test\/|^build\//.test(f));
    assert.deepEqual(local, [], "build output of this machine in the package");
  });
});
