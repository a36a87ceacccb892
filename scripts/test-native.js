#!/usr/bin/env node
// Native tests for the plain-C++ core in native/ (GoogleTest + libFuzzer via
// ctest), in up to three builds under native/test/build/ (git-ignored):
//
//   unit  the GoogleTest unit tests                          (cmake, g++, libgtest-dev)
//   san   the same tests built with ASan + UBSan             (gcc's libasan/libubsan)
//   fuzz  a 50,000-run libFuzzer smoke over native/test/corpus (clang-14 + libclang-rt-14-dev)
//
// Writes the summed {passed, failed, skipped} to $AZMI_TEST_STATS for
// scripts/test.js. A build whose tools are missing is skipped with a reason.
//
//   node scripts/test-native.js                          all three
//   AZMI_NATIVE_CONFIGS=unit node scripts/test-native.js  just the unit build
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const src = path.join(root, "native", "test");
const wanted = (process.env.AZMI_NATIVE_CONFIGS || (process.env.AZMI_SANITIZE === "1" ? "san" : "unit,san,fuzz")).split(",");
const totals = { passed: 0, failed: 0, skipped: 0 };

function have(cmd) {
  return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
}

function clangFuzzerRuntime() {
  const r = spawnSync("clang++-14", ["-print-file-name=libclang_rt.fuzzer-x86_64.a"], { encoding: "utf8" });
  const rt = (r.stdout || "").trim();
  if (rt && fs.existsSync(rt)) return true;
  const dir = "/usr/lib/llvm-14/lib/clang";
  try {
    return fs.readdirSync(dir).some((v) => fs.existsSync(path.join(dir, v, "lib", "linux", "libclang_rt.fuzzer-x86_64.a")));
  } catch {
    return false;
  }
}

function sh(cmd, args, cwd, env) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, out: `${r.stdout || ""}${r.stderr || ""}` };
}

function skip(name, why) {
  console.log(`native ${name}: skipped (${why})`);
  totals.skipped += 1;
}

function runConfig(name, cmakeArgs, env) {
  const build = path.join(src, "build", name);
  const configure = sh("cmake", ["-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", ...cmakeArgs], root, env);
  if (configure.status !== 0) {
    if (/GTest/.test(configure.out)) return skip(name, "GoogleTest not found: apt-get install libgtest-dev");
    console.log(configure.out.slice(-3000));
    console.log(`native ${name}: cmake configure failed`);
    totals.failed += 1;
    return;
  }
  const compile = sh("cmake", ["--build", build, "-j2"], root, env);
  if (compile.status !== 0) {
    console.log(compile.out.slice(-5000));
    console.log(`native ${name}: build failed`);
    totals.failed += 1;
    return;
  }
  // ctest runs in the build dir (works with every cmake, unlike --test-dir).
  const r = sh("ctest", ["--output-on-failure", "--timeout", "300"], build, env);
  const lines = r.out.split("\n");
  const failedLines = lines.filter((l) => /\*\*\*Failed|Failure|Expected|Which is|ERROR: |SUMMARY: /.test(l));
  if (failedLines.length) console.log(failedLines.slice(0, 60).join("\n"));
  const m = /(\d+)% tests passed, (\d+) tests? failed out of (\d+)/.exec(r.out);
  if (!m) {
    console.log(r.out.slice(-3000));
    console.log(`native ${name}: could not read ctest's summary`);
    totals.failed += 1;
    return;
  }
  const failed = Number(m[2]);
  const total = Number(m[3]);
  const skipped = (r.out.match(/\*\*\*Skipped|Not Run/g) || []).length;
  totals.passed += total - failed - skipped;
  totals.failed += failed;
  totals.skipped += skipped;
  console.log(`native ${name}: ${total - failed - skipped} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
}

function main() {
  if (!have("cmake") || !have("ctest")) {
    skip("tests", "cmake/ctest not installed");
  } else {
    if (wanted.includes("unit")) runConfig("unit", ["-DAZMI_SANITIZE=OFF"]);
    if (wanted.includes("san")) runConfig("san", ["-DAZMI_SANITIZE=ON"], { ASAN_OPTIONS: "abort_on_error=0:detect_leaks=1", UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1" });
    if (wanted.includes("fuzz")) {
      if (!have("clang++-14")) skip("fuzz", "clang++-14 not installed: apt-get install clang-14");
      else if (!clangFuzzerRuntime()) skip("fuzz", "libFuzzer runtime missing: apt-get install libclang-rt-14-dev");
      else runConfig("fuzz", ["-DAZMI_FUZZ=ON", "-DAZMI_UNIT=OFF", "-DCMAKE_CXX_COMPILER=clang++-14"], { CXX: "clang++-14", CC: "clang-14" });
    }
  }
  if (process.env.AZMI_TEST_STATS) fs.writeFileSync(process.env.AZMI_TEST_STATS, JSON.stringify(totals));
  console.log(`native: ${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`);
  return totals.failed === 0 ? 0 : 1;
}

process.exitCode = main();
