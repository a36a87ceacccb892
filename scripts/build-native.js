#!/usr/bin/env node
// `npm install` / `npm run build:native`: builds build/Release/azmi.node with
// node-gyp (the one build of the addon, binding.gyp). A failed build never
// fails the install: azmi then uses its node:net fallback, and says so here
// and in `azmi doctor`.
//
//   node scripts/build-native.js           build unless an addon is already there
//   node scripts/build-native.js --force   always rebuild
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const force = process.argv.includes("--force");
const addon = path.join(root, "build", "Release", "azmi.node");

function findNodeGyp() {
  // npm sets this to its own bundled node-gyp when running lifecycle scripts.
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return fromNpm;
  const candidates = [
    path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    path.join(path.dirname(process.execPath), "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  try {
    candidates.unshift(require.resolve("node-gyp/bin/node-gyp.js", { paths: [root] }));
  } catch {}
  return candidates.find((p) => fs.existsSync(p));
}

// True when build/Release/azmi.node exists and is newer than every source.
function upToDate() {
  let built;
  try {
    built = fs.statSync(addon).mtimeMs;
  } catch {
    return false;
  }
  const sources = [path.join(root, "binding.gyp")];
  for (const f of fs.readdirSync(path.join(root, "native"))) {
    if (/\.(cc|h)$/.test(f)) sources.push(path.join(root, "native", f));
  }
  return sources.every((f) => fs.statSync(f).mtimeMs <= built);
}

function main() {
  if (!force && upToDate()) {
    console.log(`azmi: native addon already built (${path.relative(root, addon)}); use --force to rebuild`);
    return 0;
  }
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    console.log("azmi: node-gyp not found; the native addon was not built, the node:net fallback will be used");
    return 0;
  }
  const args = [nodeGyp, "rebuild"];
  // node-gyp cannot download headers on offline machines; when this Node
  // ships its own headers, point node-gyp at them. Elsewhere leave node-gyp's
  // normal behaviour (download or cache) alone.
  if (!process.env.npm_config_nodedir) {
    const prefix = path.resolve(process.execPath, "..", "..");
    if (fs.existsSync(path.join(prefix, "include", "node", "node.h"))) args.push(`--nodedir=${prefix}`);
  }
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (r.status === 0 && fs.existsSync(addon)) {
    console.log(`azmi: native addon built in ${Date.now() - started} ms (${path.relative(root, addon)})`);
    return 0;
  }
  const log = path.join(root, "build", "azmi-build.log");
  try {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, `${r.stdout || ""}\n${r.stderr || ""}\n${r.error ? String(r.error) : ""}`);
  } catch {}
  console.log(`azmi: native addon build failed (details: ${path.relative(root, log)}); the node:net fallback will be used`);
  return 0;
}

process.exitCode = main();
