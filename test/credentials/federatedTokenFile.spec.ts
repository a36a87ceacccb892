import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { ChainedTokenCredential } from "../../src/credentials/chainedTokenCredential";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";
import { WorkloadIdentityCredential } from "../../src/credentials/workloadIdentityCredential";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { within } from "./support";

/**
 * A federated token file that is missing, unreadable or empty is this
 * machine's problem: the error names the file and the setting that points
 * at it and says what to do, instead of "Entra ID did not issue a token
 * (ENOENT …)"; and it is "unavailable" in both links that use the file
 * (workload identity and managed identity's token exchange), so a chain
 * moves on as @azure/identity's does (its managed identity throws
 * AuthenticationRequiredError there), instead of stopping at managed
 * identity with an AuthenticationError.
 */
describe("federated token file problems (workload identity, token exchange)", function () {
  const env = useCleanEnv();
  let entra: EntraFake;
  let dir: string;

  before(async () => {
    entra = await startEntraFake({ clients: { "wi-app": { federatedToken: "federated-assertion-value" } } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-fedfile-"));
  });
  after(async () => {
    await entra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const SCOPE = "https://vault.azure.net/.default";
  const setEnv = (file: string) =>
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "wi-app", AZURE_FEDERATED_TOKEN_FILE: file, AZURE_AUTHORITY_HOST: entra.authorityHost });
  const hint = /workload identity webhook mounts this file/;

  it("WorkloadIdentityCredential: a missing file is unavailable, naming the file and AZURE_FEDERATED_TOKEN_FILE", async () => {
    const missing = path.join(dir, "missing-token");
    setEnv(missing);
    const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true, agent: entra.agent() });
    await assert.rejects(credential.getToken(SCOPE), (e: Error & { reason?: string }) => {
      assert.equal(e.name, "CredentialUnavailableError");
      assert.equal(e.reason, `the federated token file ${missing} (AZURE_FEDERATED_TOKEN_FILE) cannot be read (ENOENT: no such file or directory)`);
      assert.match(e.message, hint);
      assert.doesNotMatch(e.message, /Entra ID did not issue/);
      return true;
    });
    assert.equal(entra.tokenRequests().length, 0);
  });

  it("WorkloadIdentityCredential: an empty file given as tokenFilePath says so and names the option", async () => {
    const empty = path.join(dir, "empty-token");
    fs.writeFileSync(empty, "  \n");
    setEnv("/unused");
    const credential = new WorkloadIdentityCredential({ tokenFilePath: empty, disableInstanceDiscovery: true, agent: entra.agent() });
    await assert.rejects(credential.getToken(SCOPE), (e: Error & { reason?: string }) => {
      assert.equal(e.name, "CredentialUnavailableError");
      assert.equal(e.reason, `the federated token file ${empty} (tokenFilePath) is empty`);
      return true;
    });
  });

  it("ManagedIdentityCredential (token exchange): a missing file is unavailable, not an authentication failure", async () => {
    const missing = path.join(dir, "missing-token");
    setEnv(missing);
    await assert.rejects(new ManagedIdentityCredential().getToken(SCOPE), (e: Error & { code?: string }) => {
      assert.equal(e.name, "CredentialUnavailableError");
      assert.equal(e.code, "ERR_INVALID_ENVIRONMENT");
      assert.match(e.message, /^ManagedIdentityCredential: token exchange \(workload identity\) for client wi-app via [^:]+:\d+: /);
      assert.ok(e.message.includes(`the federated token file ${missing} (AZURE_FEDERATED_TOKEN_FILE) cannot be read (ENOENT: no such file or directory).`), e.message);
      assert.match(e.message, hint);
      return true;
    });
  });

  it("a named pipe, a device or a huge file is refused before it is read, in both links (a pipe's read never ended, not even at exit)", async function () {
    if (process.platform === "win32") this.skip();
    const fifo = path.join(dir, "token-fifo");
    require("node:child_process").execFileSync("mkfifo", [fifo]);
    const huge = path.join(dir, "huge-token");
    fs.writeFileSync(huge, Buffer.alloc(2 * 1024 * 1024, "a"));
    // The huge file first: without the check it fails cleanly (read, sent, refused), before a pipe could block.
    const cases: Array<[string, RegExp]> = [
      [huge, /is 2097152 bytes, far more than a token or certificate holds \(azmi reads at most 1048576 bytes\)/],
      [fifo, /is a named pipe \(FIFO\), not a regular file: reading it could wait forever/],
      ["/dev/zero", /is a character device, not a regular file: reading it could wait forever/],
    ];
    for (const [file, why] of cases) {
      setEnv(file);
      const wi = new WorkloadIdentityCredential({ disableInstanceDiscovery: true, agent: entra.agent() });
      await assert.rejects(within(wi.getToken(SCOPE), 3000, fifo), (e: Error & { reason?: string }) => {
        assert.equal(e.name, "CredentialUnavailableError", e.message);
        assert.ok(e.reason?.startsWith(`the federated token file ${file} (AZURE_FEDERATED_TOKEN_FILE) `), e.reason);
        assert.match(e.reason!, why);
        return true;
      });
      await assert.rejects(within(new ManagedIdentityCredential().getToken(SCOPE), 3000, fifo), (e: Error & { code?: string }) => {
        assert.equal(e.name, "CredentialUnavailableError", e.message);
        assert.equal(e.code, "ERR_INVALID_ENVIRONMENT");
        assert.match(e.message, why);
        return true;
      });
    }
    assert.equal(entra.tokenRequests().length, 0);
  });

  it("a chain moves on past both links to the next credential (as @azure/identity's chain does)", async () => {
    setEnv(dir); // a directory: EISDIR
    const fallback: TokenCredential & { credentialName: string } = {
      credentialName: "FallbackCredential",
      getToken: async () => ({ token: "fallback-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const chain = new ChainedTokenCredential(
      new WorkloadIdentityCredential({ disableInstanceDiscovery: true, agent: entra.agent() }),
      new ManagedIdentityCredential(),
      fallback,
    );
    const { token, report, error } = await chain.getTokenWithReport(SCOPE);
    assert.equal(error, undefined, String((error as Error | undefined)?.message));
    assert.equal(token?.token, "fallback-token");
    assert.deepEqual(
      report.links.map((l) => [l.link, l.outcome]),
      [["workload-identity", "unavailable"], ["managed-identity", "unavailable"], ["FallbackCredential", "selected"]],
    );
    for (const l of report.links.slice(0, 2)) assert.match(l.reason, /\(AZURE_FEDERATED_TOKEN_FILE\) cannot be read \(EISDIR: it is a directory\)/);
  });
});
