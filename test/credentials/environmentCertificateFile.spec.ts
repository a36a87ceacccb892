import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { within } from "./support";

/**
 * An unreadable or non-PEM AZURE_CLIENT_CERTIFICATE_PATH is a configuration
 * error: still an AuthenticationError that stops the chain (as in
 * @azure/identity), but the message names the file, the variable and the
 * fix, not only "ENOENT: no such file or directory, open '…'".
 */
describe("EnvironmentCredential: certificate file problems name the file and AZURE_CLIENT_CERTIFICATE_PATH", function () {
  const env = useCleanEnv();
  let entra: EntraFake;
  let dir: string;

  before(async () => {
    entra = await startEntraFake({ clients: { app: { secret: "unused-secret-value" } } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-certfile-"));
  });
  after(async () => {
    await entra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const attempt = async (certificatePath: string) => {
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "app", AZURE_CLIENT_CERTIFICATE_PATH: certificatePath, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new EnvironmentCredential({ disableInstanceDiscovery: true, agent: entra.agent() });
    return credential.getToken("https://vault.azure.net/.default").then(
      () => assert.fail("expected a failure"),
      (e: Error & { statusCode?: number }) => e,
    );
  };

  it("a missing file", async () => {
    const missing = path.join(dir, "missing.pem");
    const e = await attempt(missing);
    assert.equal(e.name, "AuthenticationError");
    assert.equal(
      e.message,
      `EnvironmentCredential authentication failed: the certificate file ${missing} (AZURE_CLIENT_CERTIFICATE_PATH) cannot be read (ENOENT: no such file or directory). Point AZURE_CLIENT_CERTIFICATE_PATH at a PEM file that holds the certificate and its private key (AZURE_CLIENT_CERTIFICATE_PASSWORD when the key is encrypted).`,
    );
    assert.equal(entra.tokenRequests().length, 0);
  });

  it("a huge file, a named pipe or a device is refused before it is read (a pipe's read never ended, not even at exit)", async function () {
    if (process.platform === "win32") this.skip();
    const fifo = path.join(dir, "cert-fifo");
    require("node:child_process").execFileSync("mkfifo", [fifo]);
    const huge = path.join(dir, "huge.pem");
    fs.writeFileSync(huge, Buffer.alloc(2 * 1024 * 1024, "a"));
    // The huge file first: without the check it fails cleanly (read, not PEM), before a pipe could block.
    const cases = [
      [huge, "2097152 bytes, far more than a token or certificate holds (azmi reads at most 1048576 bytes): is it the right file?"],
      [fifo, "a named pipe (FIFO), not a regular file: reading it could wait forever"],
      ["/dev/zero", "a character device, not a regular file: reading it could wait forever"],
    ] as const;
    for (const [file, what] of cases) {
      const e = await within(attempt(file), 3000, fifo);
      assert.equal(e.name, "AuthenticationError");
      assert.equal(
        e.message,
        `EnvironmentCredential authentication failed: the certificate file ${file} (AZURE_CLIENT_CERTIFICATE_PATH) is ${what}. Point AZURE_CLIENT_CERTIFICATE_PATH at a PEM file that holds the certificate and its private key (AZURE_CLIENT_CERTIFICATE_PASSWORD when the key is encrypted).`,
      );
    }
    assert.equal(entra.tokenRequests().length, 0);
  });

  it("a file that is not PEM", async () => {
    const notPem = path.join(dir, "not.pem");
    fs.writeFileSync(notPem, "hello\n");
    const e = await attempt(notPem);
    assert.equal(e.name, "AuthenticationError");
    assert.match(e.message, new RegExp(`^EnvironmentCredential authentication failed: the certificate file ${notPem.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} \\(AZURE_CLIENT_CERTIFICATE_PATH\\) is not usable: .*PEM.*\\. Point AZURE_CLIENT_CERTIFICATE_PATH at a PEM file`));
  });
});
