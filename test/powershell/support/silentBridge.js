#!/usr/bin/env node
// A bridge that says hello and then never answers: the module must time out, not hang.
"use strict";
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: { hello: "azmi-bridge", protocol: 1, pid: process.pid } }) + "\n");
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
