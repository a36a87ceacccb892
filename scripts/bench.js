#!/usr/bin/env node
// `npm run bench`: every claim's benchmark, one after another, each printing
// azmi beside its reference and the ratio. `npm run bench -- serve cli` runs
// only those. Long runs (soak, fuzzing) are separate scripts: see README.
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const BENCHES = {
  transport: ["node", ["dist/bench/transport.js"]],
  "managed-identity": ["node", ["dist/bench/managed-identity.js"]],
  import: ["node", ["dist/bench/import.js"]],
  chain: ["node", ["dist/bench/chain.js"]],
  cli: ["node", ["dist/bench/cli.js"]],
  serve: ["node", ["dist/bench/serve.js"]],
  "fault-matrix": ["node", ["dist/bench/fault-matrix.js"]],
  powershell: ["dotnet", ["pwsh", "-NoProfile", "-File", "bench/powershell.ps1"]],
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!BENCHES[name]) {
    console.error(`bench: unknown benchmark '${name}'; choose from ${Object.keys(BENCHES).join(", ")}`);
    process.exit(2);
  }
}
if (spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" }).status !== 0) process.exit(1);

let failed = 0;
for (const [name, [cmd, args]] of Object.entries(BENCHES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  console.log(`\n=== bench: ${name} ===`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.log(`bench ${name}: exited ${r.status} (a claim did not hold, or the bench could not run)`);
  }
}
process.exit(failed ? 1 : 0);
