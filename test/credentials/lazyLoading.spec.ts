import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { startImdsFake, tempDir, type ImdsFake } from "./support";

const INDEX = path.resolve(__dirname, "../../src/index.js");

/** Runs `code` in a fresh Node process (async: the fakes live in this process); returns its stdout as JSON. */
function fresh(code: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", code], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`child exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}

const LOADED = `Object.keys(require.cache).filter((k) => k.includes("node_modules/@azure/identity") || k.includes("node_modules/@azure/msal")).length`;

describe("lazy loading: users who never need @azure/identity never load it", function () {
  let imds: ImdsFake;
  let home: string;
  before(async () => {
    imds = await startImdsFake();
    home = tempDir("azmi-lazy-");
  });
  after(async () => {
    await imds.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const env = () => ({ PATH: home, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url });

  it("importing the package loads neither @azure/identity nor any credential module", async () => {
    const out = await fresh(
      `const a = require(${JSON.stringify(INDEX)}); console.log(JSON.stringify({ identity: ${LOADED}, credentials: Object.keys(require.cache).filter((k) => k.includes("/credentials/")).map((k) => k.replace(/.*\\/credentials\\//, "")).sort(), exportsDefined: typeof a.DefaultAzureCredential }))`,
      env(),
    );
    // Only the link names and the pass-through name lists, no credential.
    assert.deepEqual(out, { identity: 0, credentials: ["identityExports.js", "types.js"], exportsDefined: "function" });
  });

  it("a token through the default chain from managed identity never loads @azure/identity", async () => {
    const out = await fresh(
      `const { DefaultAzureCredential } = require(${JSON.stringify(INDEX)});
       const c = new DefaultAzureCredential();
       c.getToken("https://management.azure.com/.default").then((t) => console.log(JSON.stringify({ identity: ${LOADED}, winner: c.lastReport.winner, ok: t.token.length > 0 })));`,
      env(),
    );
    assert.deepEqual(out, { identity: 0, winner: "managed-identity", ok: true });
  });
});
