/**
 * Secret hygiene of the PowerShell module (issue 6 §5): one pwsh session
 * (the pinned 7.6.9 from `dotnet tool run pwsh`) runs every cmdlet with
 * `-Verbose` and `AZURE_LOG_LEVEL=verbose` against an answering App Service
 * fake (known `IDENTITY_HEADER`), one that echoes the header in its 500s, the
 * Entra HTTPS fake refusing a known client secret, and Cloud Shell fakes that
 * answer and refuse; then starts a local endpoint, uses it and stops it.
 * Every stream of every cmdlet (output objects in full, verbose, warning,
 * information, debug, error records with exception chains, `$Error`) and
 * the raw stdout/stderr of pwsh are scanned: no token, client secret or
 * identity header may appear. The products (token objects, the endpoint
 * object that carries the local header) are written to a side file by
 * `cmdlets.ps1` and checked to be the tokens the fakes issued.
 *
 * Skipped (with the reason printed) when pwsh is not set up
 * (scripts/setup-pwsh.sh).
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { startFakeAppService } from "../fakes/appService";
import { startFakeCloudShell } from "../fakes/cloudShell";
import { json, type Fake } from "../fakes/common";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { fakeSecret } from "../fakes/tokens";
import { formatLeaks, SecretSet } from "./secrets";

const ROOT = path.resolve(__dirname, "../../..");
const SCRIPT = path.join(ROOT, "test/hygiene/cmdlets.ps1");
const MODULE = path.join(ROOT, "module/Azmi/Azmi.psd1");
const CLIENT_SECRET = fakeSecret("ps-client-secret");
const WRONG_CLIENT_SECRET = fakeSecret("ps-wrong-client-secret");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runPwsh(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("dotnet", ["tool", "run", "pwsh", "--", "-NoProfile", "-NonInteractive", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`pwsh did not finish within ${timeoutMs} ms; stdout tail: ${stdout.slice(-2000)}; stderr: ${stderr.slice(-1000)}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A protected API on loopback: records the Authorization headers it gets, answers JSON without echoing them. */
async function startApi(): Promise<{ url: string; authorizations: string[]; close(): Promise<void> }> {
  const authorizations: string[] = [];
  const server = http.createServer((req, res) => {
    authorizations.push(String(req.headers.authorization ?? ""));
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ value: [{ name: "thing-1" }] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/subscriptions`,
    authorizations,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("hygiene: no secret in any PowerShell stream", function () {
  this.timeout(240_000);
  let dir: string;
  let appOk: Fake & { secret: string };
  let appEcho: Fake & { secret: string };
  let shellOk: Fake;
  let shellFail: Fake;
  let entra: EntraFake;
  let api: Awaited<ReturnType<typeof startApi>>;

  before(async function () {
    if (!fs.existsSync(path.join(ROOT, ".config/dotnet-tools.json"))) {
      console.log("    (pwsh not configured: no .config/dotnet-tools.json; run scripts/setup-pwsh.sh)");
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-hygiene-ps-"));
    appOk = await startFakeAppService();
    appEcho = await startFakeAppService({
      respond: (req) =>
        req.path.endsWith("/MSI/token")
          ? json(500, { statusCode: 500, message: `rejected X-IDENTITY-HEADER ${req.header("x-identity-header")}`, correlationId: "c2" })
          : undefined,
    });
    shellOk = await startFakeCloudShell();
    shellFail = await startFakeCloudShell({ refuse: ["https://vault.azure.net", "https://storage.azure.com"] });
    entra = await startEntraFake({ clients: { "secret-app": { secret: CLIENT_SECRET } } });
    api = await startApi();
  });

  after(async () => {
    for (const f of [appOk, appEcho, shellOk, shellFail]) await f?.close();
    await entra?.close();
    await api?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const entraEnv = () => ({ AZURE_TENANT_ID: entra.tenant, AZURE_AUTHORITY_HOST: entra.authorityHost, AZURE_CLIENT_ID: "secret-app" });
  const scenarios = () => [
    { name: "App Service answering", ok: true, env: appOk.env },
    { name: "App Service echoing the header in 500s", ok: false, env: appEcho.env },
    { name: "Entra refusing a client secret", ok: false, env: { ...entraEnv(), AZURE_CLIENT_SECRET: WRONG_CLIENT_SECRET } },
    { name: "Entra accepting a client secret", ok: true, env: { ...entraEnv(), AZURE_CLIENT_SECRET: CLIENT_SECRET } },
    { name: "Cloud Shell answering", ok: true, env: shellOk.env },
    { name: "Cloud Shell refusing the audience", ok: false, env: shellFail.env },
  ];
  let run: Run;
  let products: Array<{ scenario: string; cmdlet: string; value: unknown }>;
  let sections: Array<{ label: string; text: string }>;
  let secrets: SecretSet;

  /** Runs cmdlets.ps1 once for all scenarios; both tests read its output. */
  async function runOnce(this: Mocha.Context): Promise<void> {
    const scenarioFile = path.join(dir, "scenarios.json");
    const productFile = path.join(dir, "products.jsonl");
    fs.writeFileSync(scenarioFile, JSON.stringify(scenarios()));
    fs.writeFileSync(productFile, "");
    const emptyBin = path.join(dir, "bin");
    fs.mkdirSync(emptyBin, { recursive: true });
    const dotnet = ["/usr/bin/dotnet", "/usr/share/dotnet/dotnet", "/usr/local/bin/dotnet"].find((p) => fs.existsSync(p));
    if (!dotnet) {
      console.log("    (dotnet not found; run scripts/setup-pwsh.sh)");
      this.skip();
    }
    const env: NodeJS.ProcessEnv = {
      // dotnet finds its tool cache under HOME; nothing else of ours is inherited.
      HOME: process.env.HOME,
      // Only dotnet's own folder: no az, azd or pwsh for the chain's developer-tool links.
      PATH: `${emptyBin}:${path.dirname(fs.realpathSync(dotnet!))}`,
      DOTNET_CLI_TELEMETRY_OPTOUT: "1",
      DOTNET_NOLOGO: "1",
      AZMI_NODE: process.execPath,
      AZMI_HOME: path.join(dir, "azmi-home"),
      AZURE_LOG_LEVEL: "verbose",
      NODE_EXTRA_CA_CERTS: entra.caFile,
      // NETWORK RULE: the chain can never reach the real IMDS.
      AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
      LANG: "C.UTF-8",
      NO_COLOR: "1",
    };
    run = await runPwsh(["-File", SCRIPT, "-ModulePath", MODULE, "-ScenarioFile", scenarioFile, "-ProductFile", productFile, "-ApiUrl", api.url], env, 200_000);
    if (run.code !== 0 && /dotnet tool restore|Cannot find a tool|could not be found/i.test(run.stderr + run.stdout)) {
      console.log(`    (pwsh is not restored: ${run.stderr.trim().split("\n")[0]}; run scripts/setup-pwsh.sh)`);
      this.skip();
    }
    if (process.env.AZMI_HYGIENE_DUMP) fs.writeFileSync(process.env.AZMI_HYGIENE_DUMP, `${run.stdout}\n--- stderr\n${run.stderr}`);
    assert.equal(run.code, 0, `pwsh exited ${run.code}: ${run.stderr.slice(-2000)}`);
    assert.match(run.stdout, /=== done/, run.stdout.slice(-2000));
    products = fs
      .readFileSync(productFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { scenario: string; cmdlet: string; value: unknown });
    sections = [];
    const re = /^<<<SECTION (.*)$([\s\S]*?)^>>>SECTION$/gm;
    for (let m = re.exec(run.stdout); m; m = re.exec(run.stdout)) sections.push({ label: m[1]!, text: m[2]! });
    const endpoint = products.find((p) => p.cmdlet === "Start-AzManagedIdentityEndpoint")?.value as { Environment?: Record<string, string> } | undefined;
    secrets = new SecretSet()
      .add("App Service IDENTITY_HEADER", appOk.secret)
      .add("echoing App Service IDENTITY_HEADER", appEcho.secret)
      .add("client secret", CLIENT_SECRET)
      .add("wrong client secret", WRONG_CLIENT_SECRET)
      .add("local endpoint IDENTITY_HEADER", endpoint?.Environment?.IDENTITY_HEADER);
    for (const t of [...appOk.issued, ...appEcho.issued, ...shellOk.issued, ...shellFail.issued, ...entra.issued]) secrets.add("access token", t);
    for (const p of products) if (typeof p.value === "string") secrets.add(`token from ${p.cmdlet}`, p.value);
    for (const a of api.authorizations) secrets.add("bearer token sent to the API", a.replace(/^Bearer /, ""));
  }

  before(async function () {
    if (!dir) return;
    this.timeout(240_000);
    await runOnce.call(this);
  });

  it("every cmdlet with -Verbose -Debug, against answering and failing endpoints, and the local endpoint: no secret on any stream", function () {
    // Every answering scenario produced the token its endpoint issued; failing ones produced none.
    const issued = [...appOk.issued, ...shellOk.issued, ...entra.issued];
    for (const s of scenarios()) {
      const mine = products.filter((p) => p.scenario === s.name);
      if (s.ok) {
        assert.equal(mine.length, 2, `${s.name}: a token and a SecureString token; stdout: ${run.stdout.slice(0, 3000)}`);
        for (const p of mine) assert.ok(issued.includes(p.value as string), `${s.name} / ${p.cmdlet}: the product is a token the endpoint issued`);
      } else {
        assert.equal(mine.length, 0, `${s.name}: no token`);
      }
    }
    const local = products.filter((p) => p.scenario === "local endpoint");
    const endpoint = local.find((p) => p.cmdlet === "Start-AzManagedIdentityEndpoint")?.value as { Environment?: Record<string, string> } | undefined;
    assert.ok(endpoint?.Environment?.IDENTITY_HEADER, "the endpoint object lists its App Service variables");
    assert.ok(local.find((p) => p.cmdlet === "Get-AzManagedToken"), "a token from the local endpoint");
    // Files the bridge wrote for the endpoint are owner-only.
    const modeOf = (what: string) => (new RegExp(`^${what} (.*)$`, "m").exec(run.stdout)?.[1] ?? "").split(/,\s*/).sort().join(",");
    assert.equal(modeOf("STATEFILE"), "UserRead,UserWrite", "serve.json is 0600");
    assert.equal(modeOf("KEYDIR"), "UserExecute,UserRead,UserWrite", "issuer/ is 0700");
    assert.equal(modeOf("KEYFILE"), "UserRead,UserWrite", "signing-key.pem is 0600");
    // The protected API got bearer tokens (Invoke-AzManagedRestMethod) for the answering scenarios and the local endpoint.
    assert.ok(api.authorizations.filter((a) => a.startsWith("Bearer ")).length >= 4, JSON.stringify(api.authorizations.map((a) => a.slice(0, 12))));

    // Everything except the -Debug calls of Invoke-AzManagedRestMethod (their own regression test, next).
    const outside = run.stdout.replace(/^<<<SECTION .* \/ Invoke-AzManagedRestMethod -Debug$[\s\S]*?^>>>SECTION$/gm, "");
    const leaks = [...secrets.leaks("pwsh stdout (all streams)", outside), ...secrets.leaks("pwsh stderr", run.stderr)];
    assert.equal(leaks.length, 0, formatLeaks(leaks));
    // The scan saw real verbose, debug (azmi's log lines) and error output: it is not vacuous.
    assert.match(outside, /VERBOSE /);
    assert.match(outside, /DEBUG .*=>/);
    assert.match(outside, /ERROR /);
    assert.ok(sections.length >= 30, `${sections.length} cmdlet sections`);
  });

  it("regression (found by this suite, fixed in 6dab4d1): Invoke-AzManagedRestMethod -Debug never lets Invoke-RestMethod's 'WebRequest Detail' debug lines print the Authorization: Bearer token", function () {
    const debugCalls = sections.filter((s) => s.label.endsWith("/ Invoke-AzManagedRestMethod -Debug"));
    assert.ok(debugCalls.length >= 4, `${debugCalls.length} -Debug calls`);
    const leaks = debugCalls.flatMap((s) => secrets.leaks(s.label, s.text));
    assert.equal(leaks.length, 0, formatLeaks(leaks));
  });
});
