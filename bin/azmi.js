#!/usr/bin/env node
// The `azmi` command. Kept tiny: everything lives in dist/src (built by `npm run build`).
"use strict";
require("../dist/src/boot/cli.js").run(process.argv.slice(2));
