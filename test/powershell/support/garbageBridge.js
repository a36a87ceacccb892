#!/usr/bin/env node
// A program that is not the azmi bridge: answers every line with text that
// is not azmi's protocol. Used via $env:AZMI_BRIDGE in the Pester suite.
"use strict";
process.stdout.write("hello, I am not a bridge\n");
process.stdin.on("data", () => process.stdout.write("<html>garbage</html>\n"));
process.stdin.on("end", () => process.exit(0));
