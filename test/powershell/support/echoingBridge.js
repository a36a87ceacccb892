#!/usr/bin/env node
// A bridge that says hello, then echoes part of its first request to stderr
// and dies with exit code 3: the environment variables named in
// $AZMI_TEST_ECHO_NAMES, as the request's JSON carries them (or as it
// inherited them). What a broken bridge prints must not put a secret into the
// module's error. With AZMI_TEST_ECHO_CUT=n the echo is padded so that the
// last 1500 characters (the most of a crash's output an error quotes) start n
// characters into the first name (JSON only). Used via $env:AZMI_BRIDGE in the Pester suite.
"use strict";
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: { hello: "azmi-bridge", protocol: 1, pid: process.pid } }) + "\n");
let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  const end = buffered.indexOf("\n");
  if (end < 0) return;
  const env = JSON.parse(buffered.slice(0, end)).env || process.env;
  const picked = {};
  for (const name of (process.env.AZMI_TEST_ECHO_NAMES || "").split(",").filter(Boolean)) picked[name] = env[name];
  // AZMI_TEST_ECHO_FORMAT=inspect: as Node prints an object (single-quoted values), e.g. in a crash report;
  // env: as a shell prints its environment (NAME=value lines, unquoted).
  const format = process.env.AZMI_TEST_ECHO_FORMAT;
  let text =
    format === "inspect"
      ? require("node:util").inspect(picked)
      : format === "env"
        ? Object.entries(picked).map(([name, value]) => `${name}=${value}`).join("\n")
        : JSON.stringify(picked);
  const cut = Number(process.env.AZMI_TEST_ECHO_CUT || 0);
  if (cut > 0) {
    // The first name starts at index 2, after '{"'.
    const kept = text.slice(2 + cut);
    text = "x".repeat(100) + text.slice(0, 2 + cut) + kept + "y".repeat(Math.max(0, 1500 - kept.length));
  }
  process.stderr.write(text + "\n");
  process.exit(3);
});
process.stdin.on("end", () => process.exit(0));
