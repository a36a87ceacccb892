/**
 * Start-up cost guard: `import * as fs from "node:fs"` compiles to
 * `__importStar(require("node:fs"))`, which copies every export of the module
 * (~100 for node:fs) when the importing module loads. On the `azmi token`
 * path that cost ~2 M instructions per process (measured with callgrind when
 * two such imports crept into credential modules). azmi's sources take Node's
 * built-ins with `import fs = require("node:fs")`, or `require` them where
 * they are used.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { SRC, sourceFiles } from "./sources";


describe("hygiene: how src/ imports Node's built-ins", () => {
  it("never as `import * as X from \"node:...\"` (a copy of every export at load)", () => {
    const offenders = sourceFiles().flatMap((file) =>
      fs
        .readFileSync(file, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${path.relative(SRC, file)}:${i + 1}` }))
        .filter(({ line }) => /^import \* as \w+ from "node:/.test(line))
        .map(({ line, at }) => `${at}: ${line.trim()}  (use: import X = require("node:..."))`),
    );
    assert.deepEqual(offenders, []);
  });
});
