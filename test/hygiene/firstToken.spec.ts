/**
 * Start-up cost guard for the first token: a fresh process's first
 * `getToken` compiles no regular expression. Compiling one costs a fresh
 * process ~0.1–0.3 ms (the first IMDS token's budget is 2 ms), and one crept
 * back in once (a check of `AZURE_POD_IDENTITY_AUTHORITY_HOST`). V8's
 * `--trace-regexp-tier-up` prints a line for every regex it compiles; a
 * process that also gets a token may print no more of them than one that
 * only imports and constructs. The package is loaded as users load it (its main).
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { startFakeAppService } from "../fakes/appService";
import { startFakeImds } from "../fakes/imds";

const REPO = path.resolve(__dirname, "../../..");

/**
 * How many regexes a fresh process compiles: importing the package and
 * constructing the credential, then (with `getToken`) its first token. V8
 * prints its trace on stdout (buffered, so not interleaved with markers in
 * order): the two counts are compared instead.
 */
function regexesCompiled(env: Record<string, string>, getToken: boolean, credentialClass: string): Promise<number> {
  const script = `
    const { ${credentialClass} } = require(${JSON.stringify(REPO)});
    const credential = new ${credentialClass}();
    if (${getToken}) credential.getToken("https://vault.azure.net/.default").then(
      (t) => process._rawDebug(t && t.token ? "token" : "no token"),
      (e) => process._rawDebug("error " + e.message),
    );`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--trace-regexp-tier-up", "-e", script],
      { env: { PATH: process.env.PATH, AZMI_HOME: process.env.AZMI_HOME, ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        if (getToken) assert.equal(stderr.trim(), "token");
        resolve(stdout.split("\n").filter((l) => l.startsWith("JSRegExp")).length);
      },
    );
  });
}

async function regexesCompiledByFirstToken(env: Record<string, string>, credentialClass = "ManagedIdentityCredential"): Promise<number> {
  // First a run that may write the start-up code cache; then both as users' processes start.
  await regexesCompiled(env, true, credentialClass);
  const without = await regexesCompiled(env, false, credentialClass);
  const withToken = await regexesCompiled(env, true, credentialClass);
  assert.ok(without > 0, "no trace from V8 (--trace-regexp-tier-up): this check would see nothing");
  return withToken - without;
}

describe("hygiene: a first token compiles no regular expression", function () {
  this.timeout(30_000);

  const cases: Array<[string, () => Promise<{ env: Record<string, string>; close(): Promise<void> }>, string]> = [
    ["IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST)", startFakeImds, "ManagedIdentityCredential"],
    ["App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER)", startFakeAppService, "ManagedIdentityCredential"],
    ["DefaultAzureCredential (its IMDS probe, then the token)", startFakeImds, "DefaultAzureCredential"],
  ];
  for (const [what, startFake, credentialClass] of cases) {
    it(what, async () => {
      const fake = await startFake();
      try {
        assert.equal(await regexesCompiledByFirstToken(fake.env, credentialClass), 0);
      } finally {
        await fake.close();
      }
    });
  }
});
