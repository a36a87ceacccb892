#!/usr/bin/env node
// A program that is not the azmi bridge: answers every line with text that
// is not azmi's protocol. Used via $env:AZMI_BRIDGE in the Pester suite.
"use strict";
// With AZMI_TEST_BRIDGE_LOG set, each start and each request line is
// appended to that file, so a test can count what the module sent.
const log = (what) => process.env.AZMI_TEST_BRIDGE_LOG && require("node:fs").appendFileSync(process.env.AZMI_TEST_BRIDGE_LOG, `${what} ${process.pid}\n`);
log("start");
process.stdout.write("hello, I am not a bridge\n");
process.stdin.on("data", (d) => {
  String(d).split("\n").filter(Boolean).forEach(() => log("request"));
  process.stdout.write("<html>garbage</html>\n");
});
process.stdin.on("end", () => process.exit(0));
