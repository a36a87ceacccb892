#!/usr/bin/env node
// A bridge that records what the module sends: every request line is appended
// to $AZMI_TEST_BRIDGE_LOG exactly as it arrived, and a 'token' request is
// answered with a token for exactly the resource (or scope) it named, so a
// test can assert what reached the bridge. Other ops get an error answer.
// No lease is offered, so every call is a request. Used via $env:AZMI_BRIDGE
// in the Pester suite.
"use strict";
const fs = require("node:fs");
const write = (value) => process.stdout.write(JSON.stringify(value) + "\n");
write({ id: 0, ok: true, result: { hello: "azmi-bridge", protocol: 1, pid: process.pid } });
let buffered = "";
let issued = 0;
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  let i;
  while ((i = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    if (process.env.AZMI_TEST_BRIDGE_LOG) fs.appendFileSync(process.env.AZMI_TEST_BRIDGE_LOG, line + "\n");
    const request = JSON.parse(line);
    if (request.op !== "token") {
      write({ id: request.id, ok: false, error: { code: "ERR_INVALID_ARGUMENT", name: "ArgumentError", message: `recordingBridge answers only 'token', not '${request.op}'.` } });
      continue;
    }
    const params = request.params || {};
    const now = Math.floor(Date.now() / 1000);
    write({
      id: request.id,
      ok: true,
      result: {
        access_token: `recorded-${++issued}`,
        expires_in: "3600",
        expires_on: String(now + 3600),
        not_before: String(now),
        resource: params.resource !== undefined ? params.resource : String(params.scope).replace(/\/\.default$/, ""),
        token_type: "Bearer",
      },
    });
  }
});
process.stdin.on("end", () => process.exit(0));
