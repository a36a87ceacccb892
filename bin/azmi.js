#!/usr/bin/env node
// The `azmi` command. Kept tiny: everything lives in dist/src/cli (built by `npm run build`).
"use strict";
require("../dist/src/cli/main.js").run(process.argv.slice(2));
