#!/usr/bin/env node
// Native unit tests (GoogleTest via ctest) for the plain-C++ core in native/:
// configures and builds native/test into native/test/build, runs ctest, and
// writes {passed, failed, skipped} to $AZMI_TEST_STATS for scripts/test.js.
//
//   node scripts/test-native.js            unit tests
//   AZMI_SANITIZE=1 node scripts/test-native.js   same, built with ASan+UBSan (native/test/build/san)
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const src = path.join(root, "native", "test");
const sanitize = process.env.AZMI_SANITIZE === "1";
// Both live under native/test/build/ (git-ignored).
const build = path.join(src, "build", sanitize ? "san" : "unit");

function report(stats) {
  if (process.env.AZMI_TEST_STATS) fs.writeFileSync(process.env.AZMI_TEST_STATS, JSON.stringify(stats));
}

function have(cmd) {
  return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
}

function run(cmd, args, quiet) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", stdio: quiet ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "inherit"] });
  return { status: r.status, out: `${r.stdout || ""}${quiet ? r.stderr || "" : ""}` };
}

function main() {
  if (!have("cmake") || !have("ctest")) {
    console.log("native tests skipped: cmake/ctest not installed");
    report({ passed: 0, failed: 0, skipped: 1 });
    return 0;
  }
  const configure = run("cmake", ["-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", `-DAZMI_SANITIZE=${sanitize ? "ON" : "OFF"}`], true);
  if (configure.status !== 0) {
    if (/GTest/.test(configure.out)) {
      console.log("native tests skipped: GoogleTest not found (apt-get install libgtest-dev)");
      report({ passed: 0, failed: 0, skipped: 1 });
      return 0;
    }
    console.log(configure.out);
    console.log("native tests: cmake configure failed");
    report({ passed: 0, failed: 1, skipped: 0 });
    return 1;
  }
  const compile = run("cmake", ["--build", build, "-j2"], true);
  if (compile.status !== 0) {
    console.log(compile.out);
    console.log("native tests: build failed");
    report({ passed: 0, failed: 1, skipped: 0 });
    return 1;
  }
  // ctest runs in the build dir (works with every cmake, unlike --test-dir).
  const r = spawnSync("ctest", ["--output-on-failure", "--timeout", "120"], { cwd: build, encoding: "utf8" });
  const out = `${r.stdout || ""}${r.stderr || ""}`;
  process.stdout.write(out.split("\n").filter((l) => /Test +#|tests passed|FAILED|Failure|Expected|Which is/.test(l)).join("\n") + "\n");
  const m = /(\d+)% tests passed, (\d+) tests failed out of (\d+)/.exec(out);
  if (!m) {
    console.log("native tests: could not read ctest's summary");
    report({ passed: 0, failed: 1, skipped: 0 });
    return 1;
  }
  const failed = Number(m[2]);
  const total = Number(m[3]);
  const skipped = (out.match(/\*\*\*Skipped|Not Run/g) || []).length;
  report({ passed: total - failed - skipped, failed, skipped });
  console.log(`native${sanitize ? " (ASan+UBSan)" : ""}: ${total - failed - skipped} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main();
