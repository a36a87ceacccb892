#!/usr/bin/env node
// `npm test`: builds, then runs every suite (mocha, native ctest, Pester) and
// ends with one line `N passed, N failed` summed over all of them.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const totals = { passed: 0, failed: 0, skipped: 0 };

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  return r.status === null ? 1 : r.status;
}

function suite(name, fn) {
  console.log(`\n=== ${name} ===`);
  const stats = path.join(os.tmpdir(), `azmi-stats-${process.pid}-${name.replace(/\W+/g, "_")}.json`);
  fs.rmSync(stats, { force: true });
  const status = fn(stats);
  let counted = null;
  try {
    counted = JSON.parse(fs.readFileSync(stats, "utf8"));
  } catch {}
  if (counted) {
    totals.passed += counted.passed;
    totals.failed += counted.failed;
    totals.skipped += counted.skipped || 0;
    if (status !== 0 && counted.failed === 0) totals.failed += 1; // crashed after counting
  } else if (status !== 0) {
    console.log(`${name}: exited ${status} without reporting counts`);
    totals.failed += 1;
  }
}

// The start-up bundles (scripts/bundle.js) are part of the build: the CLI and
// bridge tests run them, so they must be made from this very tsc output.
if (run("npx", ["tsc", "-p", "tsconfig.json"]) !== 0 || run(process.execPath, ["scripts/bundle.js"]) !== 0) {
  console.log("TypeScript build failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

// Per-user files (probe memo, server state, issuer key) go to a throwaway
// folder, so a test run never touches the developer's own ~/.azmi.
if (!process.env.AZMI_HOME) process.env.AZMI_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-test-home-"));
// Network rule: tests talk only to loopback. Where a test runs a real
// developer tool (az, azd, pwsh, dotnet), its own telemetry upload must not
// try the internet either; the tests that run them also set this per tool.
Object.assign(process.env, {
  AZURE_CORE_COLLECT_TELEMETRY: "no",
  AZURE_DEV_COLLECT_TELEMETRY: "no",
  POWERSHELL_TELEMETRY_OPTOUT: "1",
  DOTNET_CLI_TELEMETRY_OPTOUT: "1",
});

const only = process.argv.slice(2);
const wanted = (name) => only.length === 0 || only.includes(name);

// What the suites run that lives in this checkout, brought here so that a
// fresh clone's `npm install && npm test` needs nothing else: pwsh (pinned in
// .config/dotnet-tools.json) and Pester for the Pester suite and the bridge
// specs, the reference clients (.NET Azure.Identity built, Python's and az from
// Debian) for test/clients. Both scripts are idempotent (~10 s when all is
// there) and reach only NuGet and Debian. A setup that fails is reported and
// the run goes on: the tests that need it then fail, naming the script.
if (wanted("mocha") || wanted("pwsh")) {
  for (const setup of ["scripts/setup-pwsh.sh", "scripts/setup-clients.sh"]) {
    if (run("bash", [setup]) !== 0) console.log(`npm test: ${setup} failed (see above); the tests that need what it prepares will fail`);
  }
}

if (wanted("mocha")) {
  suite("mocha", (stats) =>
    run("npx", ["mocha", "--reporter", path.join(root, "scripts/mocha-reporter.js")], {
      env: { ...process.env, AZMI_TEST_STATS: stats },
    }),
  );
}

for (const extra of ["scripts/test-native.js", "scripts/test-pwsh.js"]) {
  const name = path.basename(extra, ".js").replace("test-", "");
  if (wanted(name) && fs.existsSync(path.join(root, extra))) {
    suite(name, (stats) => run(process.execPath, [extra], { env: { ...process.env, AZMI_TEST_STATS: stats } }));
  }
}

const skipped = totals.skipped ? `, ${totals.skipped} skipped` : "";
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exit(totals.failed === 0 ? 0 : 1);
