/**
 * Token exchange (AKS workload identity) end to end: our credential in a
 * child process (so NODE_EXTRA_CA_CERTS can make it trust the HTTPS Entra
 * fake) exchanges the federated token file at the fake; every MI endpoint
 * that is also configured stays untouched (checklist 45).
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { startFakeAppService } from "../fakes/appService";
import { startEntraFake } from "../fakes/entra";
import { startFakeImds } from "../fakes/imds";
import { cleanupHomes, tempHome } from "./helpers";

const CLIENT = "7a4c5b3e-1111-4222-8333-944455556666";

function runChild(env: NodeJS.ProcessEnv, timeBudgetMs = 20_000): Promise<{ results: Array<{ ok: boolean; ms: number; token?: string; name?: string; code?: string; message?: string }>; describe: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, "childClient.js"), JSON.stringify({ calls: 1, timeBudgetMs })], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      try {
        resolve({ ...JSON.parse(stdout.trim().split("\n").pop()!), killed: error?.killed === true });
      } catch {
        reject(new Error(`child failed: ${error?.message ?? ""}\n${stderr}`));
      }
    });
  });
}

describe("managed-identity/token exchange", function () {
  this.timeout(60_000);
  after(cleanupHomes);

  it("exchanges the federated token at Entra; App Service and IMDS get nothing", async () => {
    const federated = "fed_assertion_0123456789abcdef";
    const entra = await startEntraFake({ clients: { [CLIENT]: { federatedToken: federated } } });
    const app = await startFakeAppService();
    const imds = await startFakeImds();
    const home = tempHome();
    const file = path.join(home, "azure-identity-token");
    fs.writeFileSync(file, `${federated}\n`);
    const base = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AZMI_HOME: home,
      ...app.env,
      ...imds.env,
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: entra.tenant,
      AZURE_FEDERATED_TOKEN_FILE: file,
      AZURE_AUTHORITY_HOST: entra.authorityHost,
      NODE_EXTRA_CA_CERTS: entra.caFile,
    };
    try {
      const ok = await runChild(base);
      assert.ok(ok.results[0]!.ok, JSON.stringify(ok.results[0]));
      assert.equal(ok.results[0]!.token, entra.issued[0]);
      assert.match(ok.describe, /^token exchange \(workload identity\) for client 7a4c5b3e-1111-4222-8333-944455556666 via 127\.0\.0\.1:\d+$/);
      const [req] = entra.tokenRequests();
      assert.equal(req!.form.client_assertion, federated, "the trimmed file contents");
      assert.equal(req!.form.client_id, CLIENT);
      assert.equal(req!.form.scope, "https://vault.azure.net/.default");
      assert.equal(app.requests.length + imds.requests.length, 0);

      fs.writeFileSync(file, "fed_wrong_assertion_value_42");
      const refused = (await runChild(base)).results[0]!;
      assert.equal(refused.ok, false);
      assert.equal(refused.name, "AuthenticationError", refused.message);
      assert.match(refused.message!, /^ManagedIdentityCredential: token exchange \(workload identity\) for client .* failed: /);
      assert.ok(!refused.message!.includes("fed_wrong_assertion_value_42"));
      assert.equal(app.requests.length + imds.requests.length, 0);
    } finally {
      await entra.close();
      await app.close();
      await imds.close();
    }
  });

  it("an authority that accepts the connection and never answers ends the call at its time budget, not never", async () => {
    // @azure/identity's own requests did not all get the abort signal (MSAL's
    // discovery GET went out without it and without a timeout): the call,
    // and a DefaultAzureCredential behind it, waited for good.
    // And each request @azure/identity makes gets the budget as its own
    // timeout, so the request given up on closes its socket: the child,
    // which has nothing else to do, exits by itself (before, it waited
    // until the authority let go).
    const sockets: net.Socket[] = [];
    const silent: net.Server = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const home = tempHome();
    const file = path.join(home, "azure-identity-token");
    fs.writeFileSync(file, "fed_assertion_0123456789abcdef\n");
    try {
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AZMI_HOME: home,
        AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
        AZURE_CLIENT_ID: CLIENT,
        AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        AZURE_FEDERATED_TOKEN_FILE: file,
        AZURE_AUTHORITY_HOST: `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
      };
      const started = performance.now();
      const child = await runChild(env, 1_500);
      const [result] = child.results;
      assert.equal(child.killed, false, `the child did not exit by itself (killed after ${Math.round(performance.now() - started)} ms)`);
      assert.equal(result!.ok, false);
      assert.equal(result!.name, "CredentialUnavailableError", result!.message);
      assert.equal(result!.code, "ERR_BUDGET_EXCEEDED");
      assert.match(result!.message!, /did not answer within the 1500 ms time budget \(timeBudgetMs\)/);
      assert.ok(result!.ms < 3_500, `the call ended after ${Math.round(result!.ms)} ms, not at its 1500 ms budget`);
      assert.ok(sockets.length > 0, "the authority was asked");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
