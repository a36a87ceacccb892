#!/usr/bin/env node
// A bridge that says hello, then dies on the first request with a message on
// stderr and exit code 3: the module must report it (BridgeFailed) and start
// a new bridge on the next call. Used via $env:AZMI_BRIDGE in the Pester suite.
"use strict";
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: { hello: "azmi-bridge", protocol: 1, pid: process.pid } }) + "\n");
process.stdin.once("data", () => {
  process.stderr.write("Error: boom, the bridge broke\n    at fake (crashingBridge.js:1:1)\n");
  process.exit(3);
});
