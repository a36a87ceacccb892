/**
 * The Node side of the PowerShell bridge (src/bridge), driven the way the
 * module drives it: a real child process speaking JSON lines on stdio,
 * against real loopback fakes. The Pester suites cover the PowerShell side.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { startFakeCloudShell } from "../fakes/cloudShell";
import type { Fake } from "../fakes/common";
import { LEASE_MARGIN_MS, LEASE_MAX_MS, leaseFor } from "../../src/bridge/ops";
import { toWireError } from "../../src/bridge/protocol";
import { AggregateAuthenticationError, AzmiError, CredentialUnavailableError } from "../../src/errors";
import { commandsBelow, isRunning } from "../support/processes";

const BRIDGE = path.resolve(__dirname, "../../src/bridge/main.js");

interface Line {
  id: number;
  ok: boolean;
  result?: any;
  error?: { code: string; name: string; message: string; errors?: unknown[]; timedOut?: true };
  leaseMs?: number;
  report?: any;
}

/** A bridge child process with a line reader; every test closes it. */
class BridgeChild {
  readonly child: ChildProcessWithoutNullStreams;
  private buffered = "";
  private readonly waiting = new Map<number, (line: Line) => void>();
  readonly lines: Line[] = [];
  /** The lines exactly as written, for checks on the bytes. */
  readonly rawLines: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [BRIDGE], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.resume();
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (chunk: string) => {
      this.buffered += chunk;
      let i: number;
      while ((i = this.buffered.indexOf("\n")) >= 0) {
        const text = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.rawLines.push(text);
        const line = JSON.parse(text) as Line;
        this.lines.push(line);
        this.waiting.get(line.id)?.(line);
      }
    });
  }

  next(id: number): Promise<Line> {
    const seen = this.lines.find((l) => l.id === id);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  send(request: unknown): void {
    this.child.stdin.write(typeof request === "string" ? request + "\n" : JSON.stringify(request) + "\n");
  }

  async ask(id: number, op: string, params?: unknown, extra: Record<string, unknown> = {}): Promise<Line> {
    this.send({ id, op, params, ...extra });
    return this.next(id);
  }

  async close(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(MSI_|IDENTITY_|IMDS_ENDPOINT$|AZURE_|DEFAULT_IDENTITY_CLIENT_ID$)/.test(k)) env[k] = v;
  }
  // Nothing may reach the real IMDS address from a test.
  return { ...env, AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9", ...extra };
}

describe("bridge: leaseFor", () => {
  const now = 1_800_000_000_000;
  it("grants the full lease for a token far from expiry", () => {
    assert.equal(leaseFor({ expires_on: String(now / 1000 + 3600) }, now), LEASE_MAX_MS);
  });
  it("shrinks the lease so it ends 5 minutes before expiry, and grants none inside that", () => {
    assert.equal(leaseFor({ expires_on: String((now + LEASE_MARGIN_MS + 10_000) / 1000) }, now), 10_000);
    assert.equal(leaseFor({ expires_on: String((now + LEASE_MARGIN_MS - 1_000) / 1000) }, now), 0);
  });
  it("grants none when expires_on is not a number", () => {
    assert.equal(leaseFor({ expires_on: "11/28/2030 11:22:33 PM +00:00" }, now), 0);
    assert.equal(leaseFor({}, now), 0);
  });
});

describe("bridge: toWireError", () => {
  const redact = (text: string) => text.split("tok_secret_value").join("[REDACTED]");
  it("keeps code and name, and redacts the message", () => {
    const wire = toWireError(new CredentialUnavailableError("saw tok_secret_value here"), redact);
    assert.deepEqual(wire, { code: "ERR_CREDENTIAL_UNAVAILABLE", name: "CredentialUnavailableError", message: "saw [REDACTED] here" });
  });
  it("calls an error without a code a bridge fault, not bad input", () => {
    assert.equal(toWireError(new TypeError("x is not a function"), redact).code, "ERR_BRIDGE");
    assert.equal(toWireError("plain string", redact).message, "plain string");
  });
  it("carries each link's error of an aggregate", () => {
    const wire = toWireError(new AggregateAuthenticationError([new AzmiError("ERR_X", "one"), new CredentialUnavailableError("two")], "all failed"), redact);
    assert.equal(wire.code, "ERR_ALL_CREDENTIALS_UNAVAILABLE");
    assert.deepEqual(wire.errors?.map((e) => e.code), ["ERR_X", "ERR_CREDENTIAL_UNAVAILABLE"]);
  });
  it("carries the server that holds the state file (facts only, checked), so the module can advise in its own terms", () => {
    const other = { pid: 4242, url: "http://127.0.0.1:5000", stateFile: "/home/u/.azmi/serve.json" };
    const wire = toWireError(Object.assign(new AzmiError("ERR_SERVE_START", "another azmi server"), { otherServer: { ...other, extra: "dropped" } }), redact);
    assert.deepEqual(wire.otherServer, other);
    const odd = toWireError(Object.assign(new AzmiError("ERR_SERVE_START", "x"), { otherServer: { pid: "4242", url: 5 } }), redact);
    assert.equal(odd.otherServer, undefined);
  });
});

describe("bridge: the stdio protocol", function () {
  this.timeout(30_000);
  let fake: Fake;
  let home: string;
  let bridge: BridgeChild | undefined;

  before(async () => {
    fake = await startFakeCloudShell();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-bridge-spec-"));
  });
  afterEach(async () => {
    if (bridge) await bridge.close();
    bridge = undefined;
  });
  after(async () => {
    await fake.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("says hello first, then answers ping", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home }));
    const hello = await bridge.next(0);
    assert.equal(hello.ok, true);
    assert.equal(hello.result.hello, "azmi-bridge");
    assert.equal(hello.result.protocol, 1);
    assert.equal(hello.result.pid, bridge.child.pid);
    const pong = await bridge.ask(1, "ping");
    assert.deepEqual(pong.result, { pong: true, pid: bridge.child.pid, servers: 0 });
    assert.equal(bridge.lines[0].id, 0);
    // The module recognises the hello by this exact prefix without parsing
    // it (a fresh session's first JSON parse is its most expensive); another
    // key order still works there, only slower.
    assert.ok(bridge.rawLines[0].startsWith('{"id":0,"ok":true,"result":{"hello":"azmi-bridge",'), bridge.rawLines[0]);
  });

  it("answers bad requests with coded errors and keeps serving", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home }));
    bridge.send("this is not json");
    const bad = await bridge.next(-1);
    assert.equal(bad.ok, false);
    const unknown = await bridge.ask(2, "format-disk");
    assert.equal(unknown.error?.code, "ERR_INVALID_ARGUMENT");
    assert.match(unknown.error!.message, /unknown operation 'format-disk'/);
    const typed = await bridge.ask(3, "token", { resource: 5 });
    assert.equal(typed.error?.code, "ERR_INVALID_ARGUMENT");
    assert.match(typed.error!.message, /'resource' must be a string/);
    const link = await bridge.ask(4, "token", { resource: "https://vault.azure.net", exclude: ["azure-cli", "imds"] });
    assert.equal(link.error?.code, "ERR_INVALID_ARGUMENT");
    assert.match(link.error!.message, /'exclude' must list link names .* got 'imds'/);
    assert.equal((await bridge.ask(5, "ping")).ok, true);
  });

  it("gets a token in MSI shape through the chain, with a lease", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home, ...fake.env }));
    const answer = await bridge.ask(1, "token", { resource: "https://vault.azure.net", timeoutMs: 20_000 });
    assert.equal(answer.ok, true, JSON.stringify(answer.error));
    assert.deepEqual(Object.keys(answer.result).sort(), ["access_token", "expires_in", "expires_on", "not_before", "resource", "token_type"]);
    assert.equal(answer.result.resource, "https://vault.azure.net");
    assert.equal(answer.result.access_token, fake.issued.at(-1));
    for (const key of ["expires_in", "expires_on", "not_before"]) assert.equal(typeof answer.result[key], "string");
    assert.equal(answer.leaseMs, LEASE_MAX_MS);
    assert.equal(fake.tokenRequests().at(-1)?.method, "POST");
  });

  it("marks a token call its own timeoutMs ended as timedOut, and no other failure", async () => {
    // An identity endpoint that accepts the connection and never answers.
    const held = new Set<net.Socket>();
    const silent = net.createServer((s) => held.add(s.on("error", () => {})));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home, MSI_ENDPOINT: `http://127.0.0.1:${port}/oauth2/token` }));
      for (const verbose of [false, true]) {
        const cut = await bridge.ask(verbose ? 2 : 1, "token", { resource: "https://vault.azure.net", only: "managed-identity", timeoutMs: 300 }, { verbose });
        assert.deepEqual([cut.ok, cut.error?.code, cut.error?.timedOut], [false, "ERR_BUDGET_EXCEEDED", true], JSON.stringify(cut.error));
      }
      const other = await bridge.ask(3, "token", { resource: "https://vault.azure.net", only: "environment", timeoutMs: 5000 });
      assert.equal(other.ok, false);
      assert.equal(other.error?.timedOut, undefined, JSON.stringify(other.error));
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it("reports the chain with verbose, and never the token in it", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home, ...fake.env }));
    const answer = await bridge.ask(1, "token", { resource: "https://storage.azure.com" }, { verbose: true });
    assert.equal(answer.ok, true, JSON.stringify(answer.error));
    assert.equal(answer.report.winner, "managed-identity");
    assert.ok(Array.isArray(answer.report.links));
    const text = JSON.stringify({ report: answer.report, log: (answer as { log?: unknown }).log });
    assert.ok(!text.includes(answer.result.access_token), "token leaked into report or log");
  });

  it("writes only protocol lines to stdout, even with AZURE_LOG_LEVEL=verbose", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home, AZURE_LOG_LEVEL: "verbose", ...fake.env }));
    let stderr = "";
    bridge.child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const answer = await bridge.ask(1, "token", { resource: "https://management.azure.com", forceRefresh: true });
    assert.equal(answer.ok, true, JSON.stringify(answer.error));
    assert.equal((await bridge.ask(2, "token", { resource: "https://vault.azure.net", only: "environment" })).ok, false);
    // Every stdout line parsed as JSON (the reader would have thrown otherwise); logs went to stderr.
    assert.deepEqual(bridge.lines.map((l) => l.id), [0, 1, 2]);
    assert.match(stderr, /azmi/);
    assert.ok(!stderr.includes(answer.result.access_token), "token in the bridge's stderr log");
  });

  it("writes a lone surrogate an endpoint sent (in client_id) as U+FFFD: .NET's JSON reader refuses \\udXXX escapes of one", async () => {
    const token = `eyJ0eXAiOiJKV1QifQ.${Buffer.from(JSON.stringify({ aud: "https://vault.azure.net" })).toString("base64url")}.sig`;
    const server = http.createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      // JSON.stringify writes the lone surrogate as the escape \ud800.
      res.end(JSON.stringify({ access_token: token, expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource: "https://vault.azure.net", token_type: "Bearer", client_id: "\ud800-id" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home, IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: "a-header-secret-value" }));
      const answer = await bridge.ask(1, "token", { resource: "https://vault.azure.net", only: "managed-identity" });
      assert.equal(answer.ok, true, JSON.stringify(answer.error));
      assert.equal(answer.result.client_id, "\ufffd-id");
      assert.equal(answer.result.access_token, token);
      const raw = bridge.rawLines.find((l) => l.startsWith('{"id":1,'))!;
      assert.ok(!/\\ud[89ab][0-9a-f]{2}/i.test(raw), raw);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("adopts the environment a request carries", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home }));
    const without = await bridge.ask(1, "token", { resource: "https://vault.azure.net", only: "managed-identity", timeoutMs: 10_000 });
    assert.equal(without.ok, false);
    const env = cleanEnv({ AZMI_HOME: home, ...fake.env }) as Record<string, string>;
    const withEnv = await bridge.ask(2, "token", { resource: "https://vault.azure.net", only: "managed-identity" }, { env });
    assert.equal(withEnv.ok, true, JSON.stringify(withEnv.error));
  });

  it("at its end (stdin closed: the PowerShell session went away) stops the developer tools its chains started, which would live on under pid 1", async function () {
    if (!fs.existsSync("/proc/self/stat")) this.skip(); // the tools are found through /proc (Linux)
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-bridge-bin-"));
    try {
      // `az` that hangs, as one waiting on a network that never answers; the chain's only link.
      fs.writeFileSync(path.join(bin, "az"), "#!/bin/sh\nexec /bin/sleep 119\n", { mode: 0o755 });
      bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home, PATH: `${bin}:${process.env.PATH}`, AZURE_TOKEN_CREDENTIALS: "AzureCliCredential" }));
      const cut = await bridge.ask(1, "token", { resource: "https://vault.azure.net", timeoutMs: 1500 });
      assert.equal(cut.error?.code, "ERR_BUDGET_EXCEEDED", JSON.stringify(cut.error));
      const tools = commandsBelow(bridge.child.pid!, ["/bin/sleep", "119"]);
      assert.equal(tools.length, 1, "the az the chain started still runs after its call gave up");
      assert.equal(await bridge.close(), 0);
      bridge = undefined;
      for (let i = 0; i < 50 && isRunning(tools[0]!); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(isRunning(tools[0]!), false, `the az (pid ${tools[0]}) outlived the bridge`);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it("starts and stops a local endpoint, and closes it when stdin ends", async () => {
    bridge = new BridgeChild(cleanEnv({ AZMI_HOME: home }));
    const started = await bridge.ask(1, "serve.start", { port: 0, issuer: "local" });
    assert.equal(started.ok, true, JSON.stringify(started.error));
    const { id, url, env, dialects } = started.result;
    assert.equal(id, 1);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(env.IDENTITY_ENDPOINT.startsWith(url));
    assert.ok(dialects.cloudShell.MSI_ENDPOINT.startsWith(url));
    const status = await new Promise<number>((resolve, reject) =>
      http
        .get(`${url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`, { headers: { Metadata: "true" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on("error", reject),
    );
    assert.equal(status, 200);
    const second = await bridge.ask(2, "serve.start", {});
    assert.equal(second.result.id, 2);
    const stopped = await bridge.ask(3, "serve.stop", { id: 2 });
    assert.deepEqual(stopped.result, { stopped: [2] });
    assert.equal((await bridge.ask(4, "ping")).result.servers, 1);

    assert.equal(await bridge.close(), 0);
    bridge = undefined;
    const refused = await new Promise<string>((resolve) =>
      http.get(`${url}/`, () => resolve("answered")).on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error")),
    );
    assert.equal(refused, "ECONNREFUSED");
  });
});
