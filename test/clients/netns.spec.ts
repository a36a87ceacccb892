/**
 * IMDS at its REAL address, with no variable set at all — the way clients run
 * on an Azure VM — inside a network namespace this spec creates: 169.254.169.254
 * exists only on the namespace's `lo`, `azmi serve` listens there (plus a
 * loopback HTTPS fake of ARM for `az login`), and every client runs inside with
 * `ip netns exec`. Nothing can leave the namespace: it has no other interface.
 *
 * This is where the dialects that hard-code the address work unchanged:
 * .NET DefaultAzureCredential (its probe's 400 counts as "IMDS present" only at
 * this address), Python's probe-then-request, `az login --identity` (az 2.45
 * reads no override), and @azure/identity's DefaultAzureCredential probe.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { Netns, netnsUnavailable } from "../netns/harness";
import { ARM, clientEnv, describeRun, GUARD_MARKER, ROOT, UAMI, VAULT, verifyToken, type ClientRun, type Trust } from "./support";

const DLL = path.join(ROOT, "test", "clients", "dotnet", "bin", "Release", "net10.0", "AzmiClient.dll");
const PY_SCRIPT = path.join(ROOT, "test", "clients", "python", "get_token.py");
const JS_SCRIPT = path.join(ROOT, "dist", "test", "clients", "node", "getToken.js");
const HOST_SCRIPT = path.join(ROOT, "dist", "test", "clients", "netns", "host.js");
const SUBSCRIPTION_ID = "3c0b5a9e-7f1d-4e2a-9b6c-a2a1a2a1a2a1";

interface HostInfo {
  ready: boolean;
  error?: string;
  issuer: string;
  tenantId: string;
  systemClientId: string;
  jwks: JSONWebKeySet;
  armUrl: string;
}

describe("clients: IMDS at 169.254.169.254 inside a network namespace (no variables set)", function () {
  this.timeout(200_000); // az cases run az twice, each killed after 90 s
  let ns: Netns | undefined;
  let dir = "";
  let host: HostInfo;
  let trust: Trust;
  let azVersion = "";
  let configCount = 0;

  before(async function () {
    this.timeout(150_000);
    const why = netnsUnavailable();
    // CI runs as root on Linux; anywhere else this proof cannot run, and says why.
    if (why) throw new Error(`cannot create a network namespace for the real-address proof: ${why}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-clients-netns-"));
    fs.mkdirSync(path.join(dir, "home"));
    fs.mkdirSync(path.join(dir, "azmi-home"), { mode: 0o700 });
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", path.join(dir, "arm.key"), "-out", path.join(dir, "arm.crt"), "-days", "2",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    ], { stdio: "ignore" });
    azVersion = execFileSync("/usr/bin/python3", ["-c", "from azure.cli.core import __version__ as v; print(v)"]).toString().trim();

    ns = await Netns.create({ imdsOnLoopback: true });
    const proc = ns.spawnNode([HOST_SCRIPT, JSON.stringify({
      azmiHome: path.join(dir, "azmi-home"), armKey: path.join(dir, "arm.key"), armCert: path.join(dir, "arm.crt"),
      subscriptionId: SUBSCRIPTION_ID, identities: [UAMI],
    })], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    const line = await proc.waitForOutput(/\{"ready".*\}\n/, 90_000);
    host = JSON.parse(line) as HostInfo;
    assert.ok(host.ready, host.error);
    trust = { issuer: host.issuer, tenantId: host.tenantId, jwks: createLocalJWKSet(host.jwks) };
  });
  after(async () => {
    await ns?.destroy(); // stops the host process too
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function inside(argv: string[], extra: Record<string, string> = {}): Promise<ClientRun> {
    const started = Date.now();
    // The guard admits 169.254.169.254: in here it is an address on the namespace's own lo.
    const env = clientEnv(dir, { AZMI_NETWORK_GUARD_ALLOW: "169.254.169.254", ...extra });
    const r = await ns!.run(argv, { env, timeoutMs: 90_000 });
    const lines = r.stdout.trim().split("\n");
    let json: ClientRun["json"];
    try {
      json = JSON.parse(lines[lines.length - 1] ?? "");
    } catch {
      json = undefined;
    }
    return { status: r.code, stdout: r.stdout, stderr: r.stderr, json, elapsedMs: Date.now() - started };
  }
  const system = () => ({ clientId: host.systemClientId });

  describe(".NET Azure.Identity", () => {
    it("DefaultAzureCredential, default chain (its probe finds IMDS at the real address)", async () => {
      await verifyToken(await inside(["dotnet", DLL, "dac", ARM]), { resource: ARM, ...system() }, trust);
    });
    it("ManagedIdentityCredential, user-assigned by client id", async () => {
      await verifyToken(await inside(["dotnet", DLL, "mi-client-id", VAULT, UAMI.clientId]), { resource: VAULT, ...UAMI }, trust);
    });
  });

  describe("Python azure.identity", () => {
    it("ManagedIdentityCredential (probe, then request)", async () => {
      await verifyToken(await inside(["/usr/bin/python3", PY_SCRIPT, "mi", VAULT]), { resource: VAULT, ...system() }, trust);
    });
    it("DefaultAzureCredential(managed_identity_client_id=…)", async () => {
      await verifyToken(await inside(["/usr/bin/python3", PY_SCRIPT, "dac-client-id", ARM, UAMI.clientId]), { resource: ARM, ...UAMI }, trust);
    });
  });

  describe("@azure/identity", () => {
    it("DefaultAzureCredential, default chain (probe, then request)", async () => {
      await verifyToken(await inside([process.execPath, JS_SCRIPT, "dac", VAULT]), { resource: VAULT, ...system() }, trust);
    });
  });

  describe("Azure CLI", () => {
    function newConfigDir(): string {
      const config = path.join(dir, `az-config-${++configCount}`);
      fs.mkdirSync(config, { mode: 0o700 });
      fs.writeFileSync(path.join(config, "clouds.config"), `[AzureCloud]\nendpoint_resource_manager = ${host.armUrl}\n`);
      fs.writeFileSync(path.join(config, "config"), "[core]\ncollect_telemetry = no\nonly_show_errors = yes\n");
      const local = { local: azVersion };
      const now = new Date().toISOString().replace("T", " ").replace("Z", "000");
      fs.writeFileSync(path.join(config, "versionCheck.json"), JSON.stringify({ versions: { "azure-cli": local, core: local }, update_time: now }));
      return config;
    }
    const azEnv = (config: string) => ({
      AZURE_CONFIG_DIR: config,
      AZURE_CORE_COLLECT_TELEMETRY: "no",
      REQUESTS_CA_BUNDLE: path.join(dir, "arm.crt"),
    });
    const parse = (run: ClientRun): any => {
      assert.equal(run.status, 0, describeRun(run));
      assert.ok(!run.stderr.includes(GUARD_MARKER), describeRun(run));
      return JSON.parse(run.stdout);
    };

    for (const uami of [false, true]) {
      it(`az login --identity${uami ? " --username <client id>" : ""} (IMDS), then az account get-access-token`, async () => {
        const config = newConfigDir();
        const login = parse(await inside(["/usr/bin/az", "login", "--identity", ...(uami ? ["--username", UAMI.clientId] : []), "-o", "json"], azEnv(config)));
        assert.equal(login[0].id, SUBSCRIPTION_ID);
        assert.equal(login[0].tenantId, host.tenantId);
        assert.equal(login[0].user.name, uami ? "userAssignedIdentity" : "systemAssignedIdentity");
        const run = await inside(["/usr/bin/az", "account", "get-access-token", "--resource", VAULT, "-o", "json"], azEnv(config));
        const token = parse(run);
        assert.equal(token.tenant, host.tenantId);
        await verifyToken({ ...run, json: { token: token.accessToken } }, { resource: VAULT, ...(uami ? UAMI : system()) }, trust);
      });
    }
  });
});
