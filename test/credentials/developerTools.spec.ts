import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { AzureCliCredential } from "../../src/credentials/azureCliCredential";
import { AzureDeveloperCliCredential } from "../../src/credentials/azureDeveloperCliCredential";
import { AzurePowerShellCredential } from "../../src/credentials/azurePowerShellCredential";
import { ErrorCode } from "../../src/errors";
import { commandsBelow } from "../support/processes";
import { fakeAccessToken } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { fakeTool, pathWith, tempDir, useLoopbackGuard } from "./support";

const SCOPE = "https://management.azure.com/.default";

describe("developer-tool credentials (real processes on a private PATH)", function () {
  const env = useCleanEnv();
  useLoopbackGuard();
  let dir: string;
  let empty: string;
  let savedPath: string | undefined;

  before(() => {
    dir = tempDir();
    empty = tempDir();
    savedPath = process.env.PATH;
  });
  after(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(empty, { recursive: true, force: true });
  });
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  for (const [Credential, tool] of [
    [AzureCliCredential, "az"],
    [AzurePowerShellCredential, "pwsh"],
    [AzureDeveloperCliCredential, "azd"],
  ] as const) {
    it(`${Credential.name}: ${tool} not on PATH ⇒ unavailable with the reason, nothing spawned`, async () => {
      env.set({ PATH: pathWith(empty) });
      const credential = new Credential();
      assert.equal(credential.describe(), `unavailable: ${tool} not found on PATH`);
      await assert.rejects(credential.getToken(SCOPE), (e: Error & { code: string; reason: string }) => {
        assert.equal(e.name, "CredentialUnavailableError");
        assert.equal(e.code, ErrorCode.CredentialUnavailable);
        assert.equal(e.reason, `${tool} not found on PATH`);
        assert.ok(e.message.startsWith(`${Credential.name} is unavailable: ${tool} not found on PATH.`));
        return true;
      });
    });
  }

  it("AzureCliCredential: a fake `az` printing get-access-token JSON ⇒ token, resource and expiry from it", async () => {
    const now = Math.floor(Date.now() / 1000);
    const access = fakeAccessToken({ aud: "https://management.azure.com", nbf: now - 10, exp: now + 3600, appid: "04b07795-8ddb-461a-bbee-02f9e1bf7b46" });
    const log = path.join(dir, "az.log");
    fakeTool(
      dir,
      "az",
      JSON.stringify({
        accessToken: access,
        expiresOn: new Date((now + 3600) * 1000).toISOString().replace("T", " ").slice(0, 26),
        expires_on: now + 3600,
        subscription: "00000000-0000-0000-0000-000000000001",
        tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        tokenType: "Bearer",
      }),
      { log },
    );
    env.set({ PATH: pathWith(dir) });
    const credential = new AzureCliCredential();
    assert.equal(credential.describe(), path.join(dir, "az"));
    const token = await credential.getToken(SCOPE);
    assert.equal(token.token, access);
    assert.equal(token.expiresOnTimestamp, (now + 3600) * 1000);
    assert.equal(token.resource, "https://management.azure.com");
    assert.equal(token.clientId, "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    assert.equal(token.notBeforeTimestamp, (now - 10) * 1000);
    assert.match(fs.readFileSync(log, "utf8"), /az account get-access-token --output json --resource https:\/\/management\.azure\.com\n/);
    // cached: a second call spawns nothing
    await credential.getToken(SCOPE);
    assert.equal(fs.readFileSync(log, "utf8").trim().split("\n").length, 1);
  });

  it("AzureCliCredential: `az` asking for login ⇒ unavailable (chains move on)", async () => {
    const sub = tempDir();
    try {
      fakeTool(sub, "az", "", { stderr: "ERROR: Please run 'az login' to setup account.", code: 1 });
      env.set({ PATH: pathWith(sub) });
      await assert.rejects(new AzureCliCredential().getToken(SCOPE), (e: Error & { reason: string }) => {
        assert.equal(e.name, "CredentialUnavailableError");
        assert.match(e.reason, /az login/);
        return true;
      });
    } finally {
      fs.rmSync(sub, { recursive: true, force: true });
    }
  });

  it("requestOptions.timeout bounds the caller that starts a request too, though @azure/identity's tools take none (a hanging az)", async () => {
    const sub = tempDir();
    try {
      // An az waiting on a network that never answers (by absolute path: the PATH holds nothing else).
      fs.writeFileSync(path.join(sub, "az"), "#!/bin/sh\nexec /bin/sleep 61\n", { mode: 0o755 });
      env.set({ PATH: pathWith(sub) });
      const started = performance.now();
      await assert.rejects(new AzureCliCredential().getToken(SCOPE, { requestOptions: { timeout: 300 } }), {
        name: "CredentialUnavailableError",
        code: ErrorCode.Timeout,
        message: /^AzureCliCredential: no token within requestOptions\.timeout \(300 ms\)/,
      });
      assert.ok(performance.now() - started < 5000, "answered by the timeout (generous bound for a loaded machine)");
    } finally {
      // The tool goes on (nothing can stop @azure/identity's): stop it here, as azmi serve and the bridge do at their end.
      for (const pid of commandsBelow(process.pid, ["/bin/sleep", "61"])) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // gone already
        }
      }
      fs.rmSync(sub, { recursive: true, force: true });
    }
  });

  it("AzureDeveloperCliCredential: a fake `azd` printing auth token JSON ⇒ token", async () => {
    const sub = tempDir();
    try {
      const now = Date.now();
      const access = fakeAccessToken({ aud: "https://management.azure.com", exp: Math.floor(now / 1000) + 3600 });
      fakeTool(sub, "azd", JSON.stringify({ token: access, expiresOn: new Date(now + 3600_000).toISOString() }));
      env.set({ PATH: pathWith(sub) });
      const token = await new AzureDeveloperCliCredential().getToken(SCOPE);
      assert.equal(token.token, access);
    } finally {
      fs.rmSync(sub, { recursive: true, force: true });
    }
  });

  it("rejects a bad processTimeoutInMs with a RangeError naming the option", () => {
    assert.throws(() => new AzureCliCredential({ processTimeoutInMs: -1 }), {
      name: "RangeError",
      message: "processTimeoutInMs must be a positive number of milliseconds; got -1.",
    });
    assert.throws(() => new AzureCliCredential({ processTimeoutInMs: "5000" as never }), {
      name: "RangeError",
      message: 'processTimeoutInMs must be a positive number of milliseconds; got the string "5000".',
    });
  });
});
