#!/usr/bin/env node
// A bridge that says hello, then dies on the first request with a message on
// stderr and exit code 3: the module must report it (BridgeFailed) and start
// a new bridge on the next call. Used via $env:AZMI_BRIDGE in the Pester suite.
"use strict";
// With AZMI_TEST_BRIDGE_LOG set, each start and each request line is
// appended to that file, so a test can count what the module sent.
const log = (what) => process.env.AZMI_TEST_BRIDGE_LOG && require("node:fs").appendFileSync(process.env.AZMI_TEST_BRIDGE_LOG, `${what} ${process.pid}\n`);
log("start");
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: { hello: "azmi-bridge", protocol: 1, pid: process.pid } }) + "\n");
process.stdin.once("data", () => {
  log("request");
  process.stderr.write("Error: boom, the bridge broke\n    at fake (crashingBridge.js:1:1)\n");
  process.exit(3);
});
