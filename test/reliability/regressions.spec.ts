/**
 * Regression tests for reliability bugs found while building the fault
 * matrix, one `it` per bug, named after the file and what is wrong (undici's
 * `test/issue-N` habit). They fail until the owner fixes the code; the fix
 * is suggested in each title.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MI_TEST_TIMING, ManagedIdentityCredential, type ManagedIdentityCredentialOptions } from "../../src/credentials/managedIdentityCredential";
import { startFakeAppService } from "../fakes/appService";
import type { Fake } from "../fakes/common";
import { MATRIX_TIMING } from "./runFaultCase";
import { nativeTransport } from "../../src/transport/http";
import { cleanEnv, cleanupTemp, runAzmi } from "../cli/support";
import { hang, startFaultServer, type FaultServer } from "./faultServer";

describe("reliability: regressions", function () {
  let home: string;
  let app: Fake & { secret: string };

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-regress-home-"));
    app = await startFakeAppService();
  });
  after(async () => {
    await app.close();
    fs.rmSync(home, { recursive: true, force: true });
    cleanupTemp();
  });

  // A Windows-edited env file (CRLF) leaves "\r" at the end of IDENTITY_HEADER; a copy-paste can add non-ASCII.
  for (const [what, header] of [
    ["a trailing CR (env file with CRLF line ends)", `${"s".repeat(24)}\r`],
    ["a non-ASCII character", `caf\u00e9-${"s".repeat(20)}`],
  ] as const) {
    it(`regression: IDENTITY_HEADER with ${what} is ERR_INVALID_ENVIRONMENT naming IDENTITY_HEADER (was misreported as "could not be reached (unknown error)", ERR_CREDENTIAL_UNAVAILABLE)`, async () => {
      const credential = new ManagedIdentityCredential({
        env: { IDENTITY_ENDPOINT: app.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: header, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9" },
        timeBudgetMs: 1000,
        [MI_TEST_TIMING]: MATRIX_TIMING,
      } as ManagedIdentityCredentialOptions);
      const before = app.requests.length;
      let error: (Error & { code?: string }) | undefined;
      try {
        await credential.getToken("https://vault.azure.net/.default");
      } catch (e) {
        error = e as Error & { code?: string };
      }
      assert.ok(error, "getToken must fail");
      assert.equal(app.requests.length, before, "nothing is sent");
      assert.ok(!error.message.includes(header.trim()), "the header value is not quoted");
      assert.equal(error.name, "CredentialUnavailableError");
      assert.equal(error.code, "ERR_INVALID_ENVIRONMENT", error.message);
      assert.match(error.message, /IDENTITY_HEADER/);
    });
  }

  describe("--timeout-ms is a promise to the user, whatever the transport", function () {
    this.timeout(60_000);
    let hanging: FaultServer;
    before(async () => {
      hanging = await startFaultServer([hang()]);
    });
    after(async () => hanging.close());

    const TIMEOUT_MS = 1000;
    for (const transport of ["node", "native"] as const) {
      for (const args of [["token", "--only", "managed-identity"], ["token"], ["doctor"]]) {
        const title =
          transport === "native"
            ? `regression: azmi ${args.join(" ")} --timeout-ms ${TIMEOUT_MS} against a hanging endpoint exits near the timeout with the native transport (the process used to live until the native request's own deadline, 10 s alone, 3 s in the chain)`
            : `azmi ${args.join(" ")} --timeout-ms ${TIMEOUT_MS} against a hanging endpoint exits within 3 × the timeout (${transport} transport)`;
        it(title, async function () {
          if (transport === "native" && !nativeTransport()) this.skip();
          const env = cleanEnv({
            AZMI_TRANSPORT: transport,
            IDENTITY_ENDPOINT: `${hanging.url}/msi/token`,
            IDENTITY_HEADER: "hanging-endpoint-header-value",
          });
          const started = performance.now();
          const r = await runAzmi([...args, "--timeout-ms", String(TIMEOUT_MS)], env, 30_000);
          const elapsed = performance.now() - started;
          assert.notEqual(r.code, 0, r.stderr);
          assert.match(r.stdout + r.stderr, /within timeoutMs=1000 ms|--timeout-ms 1000/);
          assert.ok(elapsed < 3 * TIMEOUT_MS, `exited after ${elapsed.toFixed(0)} ms`);
        });
      }
    }
  });
});
