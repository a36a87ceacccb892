#!/usr/bin/env node
// Bundles the tsc output into four single files under dist/src/bundle/
// (and minifies the two boot files that load them, in place):
//   azmi.js   the package (what `require("azmi")` loads), from dist/src/index.js
//   cli.js    the `azmi` command, from dist/src/cli/main.js
//   cli-token.js  the same without serve, doctor and env, for `azmi token` (LEFT_OUT below)
//   bridge.js the PowerShell module's Node bridge, from dist/src/bridge/server.js
//
// Why: a fresh process that requires ~30 small CommonJS files spends most of
// its start-up in the module loader (resolve, stat, realpath, package scope,
// compile), not in azmi's code. One file per entry point, loaded through a
// V8 code cache by src/boot/bundle.ts, removes that. Lazy `require`s stay lazy
// (esbuild keeps each module in its own closure, run on first use).
//
// The bundles sit in dist/src/bundle/, at the same depth as every other
// dist/src/<area>/ folder, so paths the code computes from __dirname (the
// package root, the native addon) stay right. npm packages stay external.
//
// esbuild is a dev dependency. Where it is missing (an install without dev
// dependencies, a platform esbuild does not ship for), this prints one line
// and exits 0: azmi then runs from dist/src as before, only slower to start.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const out = path.join(root, "dist/src/bundle");
const ENTRIES = {
  azmi: "dist/src/index.js",
  cli: "dist/src/cli/main.js",
  "cli-token": "dist/src/cli/main.js",
  bridge: "dist/src/bridge/server.js",
};

/**
 * `azmi token` gets a bundle of its own without the other commands (serve,
 * doctor, env and what only they use: the server, the local issuer, the
 * Docker and shell helpers), about a third smaller than cli.js. A fresh
 * process reads the bundle, copies it into a string and faults in fresh
 * pages for both: ~9 µs per KB here, ~1 ms of a 60 ms `azmi token`. Those
 * commands' `require`s stay in it, pointing at the unbundled modules
 * (dist/src/cli/*.js, by absolute path from the bundle's own `__dirname`:
 * the boot runs a bundle with its caller's `require`, which in bin/azmi.js
 * resolves relative paths from bin/), so the bundle still runs any command;
 * the boot only gives it `token`. (External, then re-pointed in the text:
 * esbuild's synchronous API takes no plugins, and only dist/src/cli/ modules
 * require these three names.)
 */
const LEFT_OUT = { "cli-token": ["serve", "doctor", "env"] };

function repointLeftOut(name, text) {
  const names = LEFT_OUT[name];
  if (!names) return text;
  let count = 0;
  const out = text.replace(new RegExp(`require\\("\\./(${names.join("|")})"\\)`, "g"), (_, m) => {
    count++;
    return `require(require("node:path").join(__dirname,"..","cli","${m}.js"))`;
  });
  if (count < names.length) throw new Error(`bundle ${name}: expected a require of each of ${names.join(", ")}, re-pointed ${count}`);
  return out;
}

let esbuild;
try {
  esbuild = require("esbuild");
} catch {
  console.log("azmi: esbuild is not installed, so no start-up bundles were built; azmi runs from dist/src (slower start).");
  writeEntryFiles();
  process.exit(0);
}

/** What every output here is: CommonJS for Node 20, minified, with a linked source map, written by us. */
const MINIFIED_CJS = {
  write: false,
  platform: "node",
  format: "cjs",
  target: "node20",
  // Whitespace and syntax only: identifiers keep their names, so class and
  // function names (credential names in reports, error names) stay exactly
  // as written. No collision renaming either: esbuild wraps each CommonJS
  // file in its own closure. (keepNames would do the same at a cost: a
  // defineProperty per function at start-up.) Smaller files read and scan
  // faster; the linked source map gives readable stack traces back.
  minifyWhitespace: true,
  minifySyntax: true,
  charset: "ascii", // one-byte strings in V8, whatever the source held
  // Short lines: Node prints the source line of an uncaught error's top
  // frame, and an unhandled rejection from a one-line bundle dumped ~20 KB of
  // minified code into the user's terminal.
  lineLimit: 120,
  sourcemap: "linked",
  logLevel: "warning",
};

// The boot loader (inlined into bin/azmi.js and package.json's main by
// writeEntryFiles, which writes package.js whole) is compiled from source by
// every process: strip its comments and whitespace in place (~20 KB to
// ~8 KB: ~0.5 ms less to scan), before the entry files and the bundles, which
// include boot/bundle.js, are made from it. The source map still leads to
// src/boot/bundle.ts (esbuild chains tsc's map).
{
  const file = path.join(root, "dist/src/boot/bundle.js");
  const result = esbuild.buildSync({ ...MINIFIED_CJS, entryPoints: [file], outfile: file, allowOverwrite: true, bundle: false });
  for (const out of result.outputFiles) writeAtomic(out.path, out.text);
}

writeEntryFiles();

// The wrapper every bundle is written in, as the boot reads it (see
// BUNDLE_HEAD in src/boot/bundle.ts): one function the boot compiles as the
// file is, without a copy, and Node's own loader runs as a plain module.
const { BUNDLE_HEAD, BUNDLE_TAIL } = require(path.join(root, "dist/src/boot/bundle.js"));

fs.mkdirSync(out, { recursive: true });
for (const [name, entry] of Object.entries(ENTRIES)) {
  const outfile = path.join(out, `${name}.js`);
  const external = (LEFT_OUT[name] ?? []).map((m) => `./${m}`);
  const result = esbuild.buildSync({ ...MINIFIED_CJS, entryPoints: [path.join(root, entry)], outfile, bundle: true, packages: "external", external });
  for (const file of result.outputFiles) {
    let text = file.text;
    if (file.path === outfile) {
      text = repointLeftOut(name, text);
      // The build id: a hash of the file as written, wrapper included, on
      // its own line at the end of the function (line numbers stay those of
      // the map). The code cache is keyed by it, not by file times, which
      // npm and tar rewrite. The source-map comment stays the file's last
      // line, after the call.
      const map = text.lastIndexOf("//# sourceMappingURL=");
      const parts = [BUNDLE_HEAD, text.slice(0, map), "//# azmi-build=", BUNDLE_TAIL, `${text.slice(map).trimEnd()}\n`];
      const id = crypto.createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 24);
      text = `${parts[0]}${parts[1]}${parts[2]}${id}${parts[3]}${parts[4]}`;
    } else if (file.path === `${outfile}.map`) {
      // The wrapper's head is one line more above the code: the map's first
      // line (";" ends a line in its mappings) maps nothing.
      const sourceMap = JSON.parse(text);
      sourceMap.mappings = `;${sourceMap.mappings}`;
      text = JSON.stringify(sourceMap);
    }
    writeAtomic(file.path, text);
  }
}

/**
 * The two files a process starts azmi from, `bin/azmi.js` (the `azmi`
 * command) and `dist/src/boot/package.js` (package.json's main), each with
 * the boot loader (`dist/src/boot/bundle.js`, as built: minified when
 * esbuild ran) inlined, so neither pays a second module load before the
 * bundle: resolving, realpath, package scope, reading and compiling one more
 * file cost ~1 ms of a 45 ms `azmi token` here. The boot's code runs
 * unchanged inside a function that gives it its own `exports` and the
 * `__dirname` it has in dist/src/boot (its paths are computed from it); its
 * `require` and `module` are the entry file's own, so the checks it makes
 * on them (a full `require.cache`, a module made by Node's loader) mean what
 * they mean in dist/src/boot. `bin/azmi.js` is therefore a build output, not
 * a source file (.gitignore); `src/boot/package.ts` and `bundle.ts` are
 * where this code is written.
 */
function writeEntryFiles() {
  let boot = fs
    .readFileSync(path.join(root, "dist/src/boot/bundle.js"), "utf8")
    .replace(/^\/\/# sourceMappingURL=.*$/m, "")
    .trimEnd();
  // The boot's own `exports` renamed (by esbuild, which knows identifiers
  // from strings): Node's lexer, which finds an ES importer's names in
  // package.js's text, would otherwise offer `loadBundle`, `runCli`, … as
  // names of the package. (Without esbuild they stay, as undefined names.)
  let param = "exports";
  if (esbuild) {
    boot = esbuild.transformSync(boot, { define: { exports: "bootExports" }, platform: "neutral", minifyWhitespace: true, minifySyntax: true, charset: "ascii", lineLimit: 120 }).code.trimEnd();
    param = "bootExports";
  }
  const inline = (dirname) => [`const boot = {};`, `(function (${param}, __dirname) {`, boot, `})(boot, ${dirname});`];
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  const bin = path.join(root, "bin/azmi.js");
  writeAtomic(
    bin,
    [
      "#!/usr/bin/env node",
      "// The `azmi` command. Built by scripts/bundle.js from src/boot/bundle.ts (edit that, not this):",
      "// the boot loader, inlined, then the CLI bundle through the start-up code cache.",
      '"use strict";',
      ...inline('require("node:path").join(__dirname, "..", "dist", "src", "boot")'),
      "boot.runCli(process.argv.slice(2));",
      "",
    ].join("\n"),
  );
  fs.chmodSync(bin, 0o755);
  writeAtomic(
    path.join(root, "dist/src/boot/package.js"),
    [
      "// What `require(\"azmi\")` loads. Built by scripts/bundle.js from src/boot/package.ts and bundle.ts:",
      "// the boot loader, inlined, then the package bundle through the start-up code cache.",
      '"use strict";',
      ...inline("__dirname"),
      'module.exports = boot.loadBundle("azmi", "index.js") ?? require("../index");',
      "// Never runs: the names for `import { DefaultAzureCredential } from \"azmi\"` in ESM, which Node",
      "// finds by scanning this file's text (cjs-module-lexer), not by running it.",
      `0 && (module.exports = { ${esmNames().join(", ")} });`,
      "",
    ].join("\n"),
  );
}

/**
 * The package's export names, for ESM importers. Node gives an ES module that
 * imports a CommonJS one only the names its lexer sees in the text, and
 * package.js assigns `module.exports` a value it computes, as the unbundled
 * index.js defines its lazy getters in a loop: without this annotation (the
 * one esbuild and tsc write for the same reason) named imports fail.
 */
function esmNames() {
  const names = Object.keys(require(path.join(root, "dist/src/index.js")));
  return names.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== "default");
}

/** A process starting during the build reads the old file or the new one, never half of one. */
function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
