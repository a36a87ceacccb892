/**
 * The user's workflow end to end, with the real `azmi` CLI: `azmi serve --json`
 * in one process, then in a shell `eval "$(azmi env --dialect …)"` and an
 * unmodified client — exactly what the README tells people to do. Tokens are
 * verified against the JWKS the running server announced.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { createRemoteJWKSet } from "jose";
import { ARM, clientEnv, describeRun, ROOT, runClient, UAMI, VAULT, verifyToken, type Trust } from "./support";

const AZMI = path.join(ROOT, "bin", "azmi.js");
const DLL = path.join(ROOT, "test", "clients", "dotnet", "bin", "Release", "net10.0", "AzmiClient.dll");
const PY_SCRIPT = path.join(ROOT, "test", "clients", "python", "get_token.py");
const JS_SCRIPT = path.join(ROOT, "dist", "test", "clients", "node", "getToken.js");

interface ServeJson {
  url: string;
  env: Record<string, string>;
  issuer: string;
  jwks_uri: string;
}

describe("clients: azmi serve + eval \"$(azmi env)\" + an unmodified client (the README workflow)", function () {
  this.timeout(120_000); // generous: a loaded 2-core machine; each client run is killed after 90 s anyway
  let dir = "";
  let serve: ChildProcess | undefined;
  let info: ServeJson;
  let trust: Trust;
  let systemClientId = "";

  before(async function () {
    this.timeout(90_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-clients-cli-"));
    fs.mkdirSync(path.join(dir, "home"));
    const child = spawn(process.execPath, [AZMI, "serve", "--json", "--identity", UAMI.clientId], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: path.join(dir, "home"), AZMI_HOME: path.join(dir, "azmi") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    serve = child;
    let stdout = "";
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`azmi serve printed no JSON line in 60 s; stderr: ${stderr}`)), 60_000);
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
        const nl = stdout.indexOf("\n");
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(stdout.slice(0, nl));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`azmi serve exited ${code}; stderr: ${stderr}`));
      });
    });
    info = JSON.parse(line) as ServeJson;
    const tenantId = /\/([^/]+)\/v2\.0$/.exec(info.issuer)?.[1];
    assert.ok(tenantId, `issuer ${info.issuer}`);
    systemClientId = info.env.DEFAULT_IDENTITY_CLIENT_ID!;
    trust = { issuer: info.issuer, tenantId, jwks: createRemoteJWKSet(new URL(info.jwks_uri)) };
  });
  after(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve!.once("exit", resolve));
      serve.kill("SIGTERM");
      await exited;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `bash -c 'eval "$(azmi env --dialect D)" && exec CLIENT…'` in a clean environment. */
  function inShell(dialect: string, client: string[]) {
    const quoted = client.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const script = `eval "$('${process.execPath}' '${AZMI}' env --dialect ${dialect})" && exec ${quoted}`;
    return runClient("/bin/bash", ["-c", script], clientEnv(dir, { AZMI_HOME: path.join(dir, "azmi") }));
  }

  it("app-service (the default) + Python ManagedIdentityCredential", async () => {
    const run = await inShell("app-service", ["/usr/bin/python3", PY_SCRIPT, "mi", VAULT]);
    await verifyToken(run, { resource: VAULT, clientId: systemClientId }, trust);
  });
  it("app-service + @azure/identity DefaultAzureCredential({ managedIdentityClientId })", async () => {
    const run = await inShell("app-service", [process.execPath, JS_SCRIPT, "dac-client-id", ARM, UAMI.clientId]);
    await verifyToken(run, { resource: ARM, clientId: UAMI.clientId }, trust); // --identity sets only the client id
  });
  it("machine-learning + .NET DefaultAzureCredential", async () => {
    const run = await inShell("machine-learning", ["dotnet", DLL, "dac", VAULT]);
    await verifyToken(run, { resource: VAULT, clientId: systemClientId }, trust);
  });
  it("imds + .NET ManagedIdentityCredential (client id)", async () => {
    const run = await inShell("imds", ["dotnet", DLL, "mi-client-id", VAULT, UAMI.clientId]);
    await verifyToken(run, { resource: VAULT, clientId: UAMI.clientId }, trust);
  });
  it("cloud-shell + Python DefaultAzureCredential", async () => {
    const run = await inShell("cloud-shell", ["/usr/bin/python3", PY_SCRIPT, "dac", ARM]);
    await verifyToken(run, { resource: ARM, clientId: systemClientId }, trust);
  });
  it("the shell got only its dialect's variables from azmi env", async () => {
    const run = await inShell("imds", ["/usr/bin/env"]);
    assert.equal(run.status, 0, describeRun(run));
    const names = run.stdout.split("\n").map((l) => l.split("=")[0]);
    assert.ok(names.includes("AZURE_POD_IDENTITY_AUTHORITY_HOST"), describeRun(run));
    for (const other of ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"]) {
      assert.ok(!names.includes(other), `${other} leaked into the imds dialect's shell`);
    }
  });
});
