#!/usr/bin/env node
// The Pester suite of the Azmi PowerShell module, as `npm test` runs it:
// checks that pwsh 7.6.9 (repo-local dotnet tool) and Pester are installed,
// then runs test/powershell/Invoke-AzmiPester.ps1 in a clean, loopback-only
// environment and writes {passed, failed, skipped} to $AZMI_TEST_STATS.
// It never skips: a machine without pwsh FAILS, saying how to install it.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const PESTER_VERSION = "5.7.1";
const SETUP = "bash scripts/setup-pwsh.sh";

function writeStats(stats) {
  if (process.env.AZMI_TEST_STATS) fs.writeFileSync(process.env.AZMI_TEST_STATS, JSON.stringify(stats));
}

function fail(message) {
  console.error(`pwsh tests: ${message}`);
  writeStats({ passed: 0, failed: 1, skipped: 0 });
  process.exit(1);
}

// `dotnet pwsh` runs the version pinned in .config/dotnet-tools.json; AZMI_PWSH may name another pwsh,
// or a pwsh.dll to run with dotnet (such as the ReadyToRun copy scripts/setup-pwsh-r2r.sh prints).
const pwshOverride = process.env.AZMI_PWSH;
const pwsh = !pwshOverride ? ["dotnet", "pwsh"] : pwshOverride.endsWith(".dll") ? ["dotnet", pwshOverride] : [pwshOverride];
const probe = spawnSync(pwsh[0], [...pwsh.slice(1), "-NoProfile", "-NonInteractive", "-Command", "$PSVersionTable.PSVersion.ToString()"], {
  cwd: root,
  encoding: "utf8",
  timeout: 60_000,
});
if (probe.error || probe.status !== 0) {
  fail(`PowerShell 7.6.9 is not available (${pwsh.join(" ")}: ${probe.error ? probe.error.message : (probe.stderr || probe.stdout).trim().split("\n")[0]}). Install it with: ${SETUP}`);
}
const version = probe.stdout.trim();
if (!fs.existsSync(path.join(root, ".psmodules", "Pester", PESTER_VERSION, "Pester.psd1"))) {
  fail(`Pester ${PESTER_VERSION} is not in .psmodules/. Install it with: ${SETUP}`);
}
for (const built of ["dist/src/bridge/main.js", "dist/test/powershell/support/cloudShellFake.js"]) {
  if (!fs.existsSync(path.join(root, built))) fail(`${built} is missing; build first with: npm run build`);
}

// A clean environment: no identity variables from the machine, IMDS pointed
// at a dead loopback port (nothing may reach 169.254.169.254), and a
// throwaway AZMI_HOME.
const env = { ...process.env };
for (const name of Object.keys(env)) {
  if (/^(MSI_|IDENTITY_|IMDS_ENDPOINT$|AZURE_|AZMI_BRIDGE$|AZMI_NODE$|DEFAULT_IDENTITY_CLIENT_ID$)/.test(name)) delete env[name];
}
env.AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:9";
env.AZMI_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-pwsh-home-"));
env.POWERSHELL_TELEMETRY_OPTOUT = "1";
env.DOTNET_CLI_TELEMETRY_OPTOUT = "1";
// Network rule: a chain walk that reaches the developer-tool links runs the
// real az/azd when they are installed; their telemetry upload must not try
// the internet, also when this script runs alone (npm test sets these too).
env.AZURE_CORE_COLLECT_TELEMETRY = "no";
env.AZURE_DEV_COLLECT_TELEMETRY = "no";
env.DOTNET_NOLOGO = "1";
const stats = path.join(env.AZMI_HOME, "pester-stats.json");

console.log(`pwsh ${version}, Pester ${PESTER_VERSION}`);
const run = spawnSync(
  pwsh[0],
  [...pwsh.slice(1), "-NoProfile", "-NonInteractive", "-File", path.join(root, "test/powershell/Invoke-AzmiPester.ps1"), "-StatsFile", stats],
  { cwd: root, env, stdio: "inherit", timeout: 20 * 60_000 },
);
let counted = null;
try {
  counted = JSON.parse(fs.readFileSync(stats, "utf8").replace(/^\uFEFF/, ""));
} catch {}
fs.rmSync(env.AZMI_HOME, { recursive: true, force: true });
if (!counted) fail(`Pester ended (${run.error ? run.error.message : `exit ${run.status}`}) without reporting counts`);
writeStats(counted);
process.exit(run.status === 0 && counted.failed === 0 ? 0 : 1);
