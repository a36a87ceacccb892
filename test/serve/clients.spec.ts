/**
 * The real `@azure/identity` (ManagedIdentityCredential and
 * DefaultAzureCredential with AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential)
 * gets tokens from `azmi serve`, unchanged, in every dialect it supports;
 * each token validates against the served JWKS with the expected claims.
 * Each run is a fresh child process (MSAL selects its source once per process)
 * whose environment holds only one dialect's variables.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { startServer, type RunningServer } from "../../src/serve/server";
import { useTempHome } from "./support";

const CLIENT = path.join(__dirname, "fixtures", "identityClient.js");
const UAMI = "c1c1c1c1-2222-4333-8444-555555555555";
const ARC_DIR = "/var/opt/azcmagent/tokens";

interface ClientResult {
  ok: boolean;
  name?: string;
  message?: string;
  tokens?: Array<{ token: string; expiresOnTimestamp: number; refreshAfterTimestamp?: number }>;
}

function runClient(vars: Record<string, string>, args: Record<string, unknown>): Promise<ClientResult> {
  // Only what Node needs plus the dialect's variables: nothing else can steer the client (no proxies, no IMDS default).
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...vars };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLIENT, JSON.stringify(args)], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as ClientResult);
      } catch {
        reject(new Error(`client printed no result (${error?.message ?? ""}): ${stdout} ${stderr}`));
      }
    });
  });
}

describe("serve: real @azure/identity clients in every dialect", function () {
  this.timeout(120_000);
  const home = useTempHome();
  let server: RunningServer;
  let createdArcDir: string | undefined;
  before(async () => {
    if (!fs.existsSync(ARC_DIR)) {
      // MSAL JS only reads Arc key files from this folder; we are root in CI. Remember what we created.
      let top = ARC_DIR;
      while (!fs.existsSync(path.dirname(top))) top = path.dirname(top);
      fs.mkdirSync(ARC_DIR, { recursive: true, mode: 0o700 });
      createdArcDir = top;
    }
    server = await startServer({ env: home.env, identities: [{ clientId: UAMI, name: "client-test" }] });
  });
  after(async () => {
    await server?.close();
    if (createdArcDir !== undefined) {
      // Remove only empty folders this test created: never another suite's key files.
      for (let dir = ARC_DIR; dir.length >= createdArcDir.length; dir = path.dirname(dir)) {
        try {
          fs.rmdirSync(dir);
        } catch {
          break;
        }
      }
    }
  });

  async function verify(token: string, expected: { aud: string; appid: string }) {
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(server.jwksUri)), { issuer: server.issuer, audience: expected.aud });
    assert.equal(payload.tid, server.tenantId);
    assert.equal(payload.appid, expected.appid);
    assert.equal(typeof payload.oid, "string");
    return payload;
  }

  const cases: Array<{ dialect: keyof RunningServer["dialects"]; uami: boolean }> = [
    { dialect: "appService", uami: true },
    { dialect: "machineLearning", uami: true },
    { dialect: "cloudShell", uami: false },
    { dialect: "imds", uami: true },
    { dialect: "azureArc", uami: true },
  ];

  for (const { dialect, uami } of cases) {
    for (const credential of ["mi", "dac"] as const) {
      it(`${dialect}: ${credential === "mi" ? "ManagedIdentityCredential" : "DefaultAzureCredential"} gets a valid system-assigned token, cached on the second call`, async () => {
        if (dialect === "azureArc") fs.mkdirSync(ARC_DIR, { recursive: true, mode: 0o700 }); // other suites share this folder
        const vars = server.dialects[dialect];
        assert.ok(vars, `${dialect} dialect enabled (${server.arcDisabledReason ?? ""})`);
        const env = credential === "dac" ? { ...vars, AZURE_TOKEN_CREDENTIALS: "ManagedIdentityCredential" } : vars;
        const result = await runClient(env, { credential, scope: "https://management.azure.com/.default", calls: 2 });
        assert.ok(result.ok, `${result.name}: ${result.message}`);
        const [first, second] = result.tokens!;
        assert.equal(second!.token, first!.token);
        const payload = await verify(first!.token, { aud: "https://management.azure.com", appid: server.systemClientId });
        assert.ok(Math.abs(first!.expiresOnTimestamp - payload.exp! * 1000) < 5000, "expiresOnTimestamp matches exp");
      });
    }
    if (uami) {
      it(`${dialect}: ManagedIdentityCredential({ clientId }) gets the user-assigned identity's token`, async () => {
        if (dialect === "azureArc") fs.mkdirSync(ARC_DIR, { recursive: true, mode: 0o700 });
        const result = await runClient(server.dialects[dialect]!, { credential: "mi", scope: "https://vault.azure.net/.default", clientId: UAMI });
        assert.ok(result.ok, `${result.name}: ${result.message}`);
        await verify(result.tokens![0]!.token, { aud: "https://vault.azure.net", appid: UAMI });
      });
    }
  }

  it("imds: an unknown client id makes ManagedIdentityCredential unavailable (400 Identity not found)", async () => {
    const result = await runClient(server.dialects.imds, { credential: "mi", scope: "https://vault.azure.net/.default", clientId: "00000000-dead-4000-8000-000000000000" });
    assert.equal(result.ok, false, JSON.stringify(result));
    assert.equal(result.name, "CredentialUnavailableError", JSON.stringify(result));
  });
});
