#!/usr/bin/env node
// A program that says the azmi bridge's hello, then answers every request
// with a line that is not azmi's protocol (its id is not a number) but holds
// a token-shaped value: the module must report a protocol fault without that
// line reaching its errors or PowerShell's log (Logging.Tests.ps1). Used via
// $env:AZMI_BRIDGE.
"use strict";
process.stdout.write(`{"id":0,"ok":true,"result":{"hello":"azmi-bridge","protocol":1,"pid":${process.pid}}}\n`);
const token = process.env.AZMI_TEST_LEAKY_TOKEN || "eyJ0eXAiOiJKV1QifQ.eyJsZWFreSI6dHJ1ZX0.bGVha3lzaWduYXR1cmU";
process.stdin.on("data", (d) => {
  for (const _ of String(d).split("\n").filter(Boolean)) {
    process.stdout.write(`{"id":"one","ok":true,"result":{"access_token":"${token}"}}\n`);
  }
});
process.stdin.on("end", () => process.exit(0));
