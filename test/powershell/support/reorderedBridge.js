#!/usr/bin/env node
// A bridge whose hello has its keys in another order (valid protocol, just
// not the exact prefix the module checks first), answering every request
// with a fixed token. Used via $env:AZMI_BRIDGE in the Pester suite.
"use strict";
const write = (value) => process.stdout.write(JSON.stringify(value) + "\n");
write({ ok: true, id: 0, result: { protocol: 1, hello: "azmi-bridge", pid: process.pid } });
let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  let i;
  while ((i = buffered.indexOf("\n")) >= 0) {
    const request = JSON.parse(buffered.slice(0, i));
    buffered = buffered.slice(i + 1);
    const now = Math.floor(Date.now() / 1000);
    write({
      id: request.id,
      ok: true,
      result: {
        access_token: "reordered-hello-token",
        expires_in: "3600",
        expires_on: String(now + 3600),
        not_before: String(now),
        resource: request.params.resource,
        token_type: "Bearer",
      },
    });
  }
});
process.stdin.on("end", () => process.exit(0));
