/**
 * The CLI's pure pieces, in process: shell quoting (a value with quotes or
 * `$` survives every shell format), container address rewriting, the
 * doctor waterfall with and without colour, and the output formats.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describeVars, forContainers, formatEnv, isLoopbackHost, loadCommand } from "../../src/cli/dialects";
import { formatStartToken } from "../../src/cli/start";
import { renderWaterfall } from "../../src/cli/doctor";
import { exitCodeFor, useColor } from "../../src/cli/output";
import { formatToken } from "../../src/cli/token";
import type { DiagnoseResult } from "../../src/msi";

describe("azmi CLI: rendering", function () {
  const tricky = { A: "it's $HOME `x` \"q\"", B: "http://127.0.0.1:4000/msi/token" };

  it("bash exports survive a real shell round trip, whatever the value", () => {
    const script = formatEnv(tricky, "bash") + 'printf "%s\\n%s" "$A" "$B"';
    const r = spawnSync("/bin/bash", ["-c", script], { encoding: "utf8", env: {} });
    assert.equal(r.stdout, `${tricky.A}\n${tricky.B}`);
  });

  it("pwsh doubles single quotes", () => {
    assert.equal(formatEnv({ A: "it's" }, "pwsh"), "$env:A = 'it''s'\n");
  });

  it("formatEnv never prints values for docker or compose (they get an env file: test/cli/env-file.spec.ts)", () => {
    for (const shell of ["docker", "compose"]) {
      assert.throws(() => formatEnv({ IDENTITY_HEADER: "x".repeat(64) }, shell as "bash"), {
        name: "TypeError",
        message: `formatEnv: shell must be bash or pwsh (got '${shell}'); containers get an env file from writeDockerEnvFile`,
      });
    }
  });

  it("containers get host.docker.internal for loopback and wildcard hosts only", () => {
    assert.deepEqual(
      forContainers({
        a: "http://127.0.0.1:4000/x",
        b: "http://localhost:4000",
        c: "http://0.0.0.0:4000/x",
        d: "http://10.1.2.3:4000/x",
        e: "not a url 127.0.0.1",
        f: "http://127.0.0.10.example.com/x",
      }),
      {
        a: "http://host.docker.internal:4000/x",
        b: "http://host.docker.internal:4000",
        c: "http://host.docker.internal:4000/x",
        d: "http://10.1.2.3:4000/x",
        e: "not a url 127.0.0.1",
        f: "http://127.0.0.10.example.com/x",
      },
    );
    assert.equal(isLoopbackHost("127.0.0.2"), true);
    assert.equal(isLoopbackHost("0.0.0.0"), false);
  });

  it("describeVars shows values of addresses and ids only; anything else (a new secret too) by name", () => {
    assert.deepEqual(
      describeVars({
        IDENTITY_ENDPOINT: "http://127.0.0.1:4000/msi/token",
        IDENTITY_HEADER: "s3cr3t-s3cr3t-s3cr3t",
        MSI_SECRET: "s3cr3t-2",
        DEFAULT_IDENTITY_CLIENT_ID: "5e29463d-71df-4cd1-a3d7-aa33c1df9f7b",
        SOME_FUTURE_VAR: "unknown",
      }),
      [
        "IDENTITY_ENDPOINT=http://127.0.0.1:4000/msi/token",
        "IDENTITY_HEADER (secret, not shown)",
        "MSI_SECRET (secret, not shown)",
        "DEFAULT_IDENTITY_CLIENT_ID=5e29463d-71df-4cd1-a3d7-aa33c1df9f7b",
        "SOME_FUTURE_VAR (secret, not shown)",
      ],
    );
  });

  it("loadCommand: bash and pwsh forms, --dialect only when not the default, --home quoted when needed", () => {
    assert.equal(loadCommand("azmi", "bash"), 'eval "$(azmi env)"');
    assert.equal(loadCommand("azmi", "pwsh"), "azmi env --shell pwsh | Invoke-Expression");
    assert.equal(loadCommand("azmi", "bash", "imds", "/tmp/a"), 'eval "$(azmi env --dialect imds --home /tmp/a)"');
    assert.equal(loadCommand("azmi", "pwsh", "app-service", "/Users/Jane O'Doe/.azmi"), "azmi env --shell pwsh --home '/Users/Jane O''Doe/.azmi' | Invoke-Expression");
  });

  it("loadCommand's bash line hands a path with spaces, quotes and $ to azmi unchanged (real bash)", () => {
    const home = "/tmp/it's $HOME `x` dir";
    // A stand-in azmi that prints an export of the arguments it got, as azmi env would print variables.
    const script = `azmi() { printf 'export GOT=%q\\n' "$*"; }; ${loadCommand("azmi", "bash", "cloud-shell", home)}; printf %s "$GOT"`;
    const r = spawnSync("/bin/bash", ["-c", script], { encoding: "utf8", env: {}, stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, `env --dialect cloud-shell --home ${home}`);
  });

  it("npm start's token: in full on a terminal, else its length and how to get it (every other field kept)", () => {
    const msi = {
      access_token: "eyJhbGciOi.eyJhdWQiOi.c2lnbmF0dXJl",
      expires_in: "86399",
      expires_on: "2000086400",
      not_before: "2000000000",
      resource: "https://management.azure.com/",
      token_type: "Bearer",
      client_id: "5e29463d-71df-4cd1-a3d7-aa33c1df9f7b",
    };
    assert.equal(formatStartToken(msi, true), formatToken(msi, "msi"));
    assert.equal(
      formatStartToken(msi, false),
      '{"access_token":"<redacted: 34 chars; use azmi token to print it>","expires_in":"86399","expires_on":"2000086400","not_before":"2000000000","resource":"https://management.azure.com/","token_type":"Bearer","client_id":"5e29463d-71df-4cd1-a3d7-aa33c1df9f7b"}\n',
    );
  });

  const report: DiagnoseResult = {
    resource: "https://management.azure.com/",
    scope: "https://management.azure.com//.default",
    links: [
      { link: "environment", credential: "EnvironmentCredential", outcome: "unavailable", reason: "not set", ms: 1 },
      { link: "managed-identity", credential: "ManagedIdentityCredential", outcome: "selected", reason: "IMDS at 127.0.0.1:1", ms: 3 },
      { link: "azure-cli", credential: "AzureCliCredential", outcome: "skipped", reason: "not tried", ms: 0 },
    ],
    winner: "managed-identity",
    transport: "native",
    ms: 4,
    tokenAcquired: true,
  };

  it("the waterfall places each bar after the previous one on a 32-column axis", () => {
    const text = renderWaterfall(report, false);
    const rows = text.split("\n").filter((l) => l.startsWith("  "));
    assert.equal(rows[0], "  environment       ○ unavailable |████████                        |    1.0 ms  not set");
    assert.equal(rows[1], "  managed-identity  ✔ selected    |        ████████████████████████|    3.0 ms  IMDS at 127.0.0.1:1");
    assert.equal(rows[2], "  azure-cli         · skipped     |                                |      -    not tried");
    assert.ok(!text.includes("\x1b["));
  });

  it("colours outcomes only when asked", () => {
    const text = renderWaterfall(report, true);
    assert.ok(text.includes("\x1b[32m✔ selected   \x1b[0m"));
    assert.ok(text.includes("\x1b[33m○ unavailable\x1b[0m"));
  });

  it("colour only on a TTY without NO_COLOR or TERM=dumb", () => {
    const tty = { isTTY: true } as NodeJS.WriteStream;
    assert.equal(useColor(tty, {}), true);
    assert.equal(useColor(tty, { NO_COLOR: "1" }), false);
    assert.equal(useColor(tty, { TERM: "dumb" }), false);
    assert.equal(useColor({ isTTY: false } as NodeJS.WriteStream, {}), false);
  });

  it("exit codes follow error names and codes, including @azure/identity's", () => {
    assert.equal(exitCodeFor(Object.assign(new Error("x"), { name: "CredentialUnavailableError" })), 3);
    assert.equal(exitCodeFor(Object.assign(new Error("x"), { name: "AggregateAuthenticationError" })), 3);
    assert.equal(exitCodeFor(Object.assign(new Error("x"), { name: "AuthenticationError" })), 4);
    assert.equal(exitCodeFor(Object.assign(new Error("x"), { code: "ERR_INVALID_ARGUMENT" })), 2);
    assert.equal(exitCodeFor(new Error("boom")), 1);
    assert.equal(exitCodeFor(undefined), 1);
  });

  it("json output omits refreshAfterTimestamp for tokens of 2 h or less", () => {
    const msi = {
      access_token: "t0k3n-value-1234",
      expires_in: "3599",
      expires_on: "2000003600",
      not_before: "2000000000",
      resource: "https://x",
      token_type: "Bearer",
    };
    assert.equal(
      formatToken(msi, "json", "azure-cli"),
      '{"token":"t0k3n-value-1234","expiresOnTimestamp":2000003600000,"tokenType":"Bearer","link":"azure-cli"}\n',
    );
    assert.equal(
      formatToken({ ...msi, expires_on: "2000086400" }, "json", "managed-identity"),
      '{"token":"t0k3n-value-1234","expiresOnTimestamp":2000086400000,"refreshAfterTimestamp":2000043200000,"tokenType":"Bearer","link":"managed-identity"}\n',
    );
    assert.equal(
      formatToken({ ...msi, client_id: "" }, "msi"),
      '{"access_token":"t0k3n-value-1234","expires_in":"3599","expires_on":"2000003600","not_before":"2000000000","resource":"https://x","token_type":"Bearer"}\n',
    );
  });
});
