#!/usr/bin/env node
// The `azmi` command. Kept tiny: everything lives in dist/src (built by `npm run build`).
"use strict";
require("../dist/src/boot/bundle.js").runCli(process.argv.slice(2));
