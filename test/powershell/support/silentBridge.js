#!/usr/bin/env node
// A bridge that says hello and then never answers: the module must time out, not hang.
"use strict";
// With AZMI_TEST_BRIDGE_LOG set, each start and each request line is
// appended to that file, so a test can count what the module sent.
const log = (what) => process.env.AZMI_TEST_BRIDGE_LOG && require("node:fs").appendFileSync(process.env.AZMI_TEST_BRIDGE_LOG, `${what} ${process.pid}\n`);
log("start");
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: { hello: "azmi-bridge", protocol: 1, pid: process.pid } }) + "\n");
process.stdin.on("data", (d) => String(d).split("\n").filter(Boolean).forEach(() => log("request")));
process.stdin.on("end", () => process.exit(0));
