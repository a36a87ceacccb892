/**
 * `azmi doctor`: the waterfall and the JSON report, against a loopback App
 * Service endpoint, and exit 3 when no link answers. Never the token.
 */
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { cleanEnv, cleanupTemp, deadPort, runAzmi, startFakeAppService, type FakeAppService } from "./support";

const LINKS = ["environment", "workload-identity", "managed-identity", "azure-cli", "azure-powershell", "azure-developer-cli"];

describe("azmi doctor", function () {
  let fake: FakeAppService;
  beforeEach(async () => {
    fake = await startFakeAppService();
  });
  afterEach(() => fake.close());
  after(cleanupTemp);

  it("--json reports every link in chain order, the winner and the transport; exit 0", async () => {
    const r = await runAzmi(["doctor", "--json"], cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout.split("\n").length, 2, "one JSON line");
    const report = JSON.parse(r.stdout) as {
      resource: string;
      links: { link: string; credential: string; outcome: string; reason: string; ms: number }[];
      winner: string;
      transport: string;
      tokenAcquired: boolean;
    };
    assert.equal(report.resource, "https://management.azure.com/");
    assert.deepEqual(report.links.map((l) => l.link), LINKS);
    assert.deepEqual(
      report.links.map((l) => l.outcome),
      ["unavailable", "unavailable", "selected", "skipped", "skipped", "skipped"],
    );
    for (const l of report.links) {
      assert.equal(typeof l.reason, "string");
      assert.ok(typeof l.ms === "number" && l.ms >= 0);
      assert.deepEqual(Object.keys(l), ["link", "credential", "outcome", "reason", "ms"]);
    }
    assert.equal(report.winner, "managed-identity");
    assert.ok(report.transport === "native" || report.transport === "node");
    assert.equal(report.tokenAcquired, true);
    assert.ok(!r.stdout.includes(fake.token));
  });

  it("an install without the native addon says so: transportReason in --json, the reason on the waterfall's first line", async () => {
    const env = cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret, AZMI_NATIVE_PATH: "/nonexistent/azmi.node" });
    const json = await runAzmi(["doctor", "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { transport: string; transportReason?: string; winner: string };
    assert.equal(report.transport, "node");
    assert.match(report.transportReason ?? "", /node:net fallback/);
    const text = await runAzmi(["doctor"], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout.split("\n")[0]!, /^azmi doctor: \S+ \(transport: node: .*node:net fallback/);
    // Also when the walk sent no plain HTTP (only the environment link, unavailable): the report names what answers, not a guess.
    const quiet = JSON.parse((await runAzmi(["doctor", "--json"], cleanEnv({ AZURE_TOKEN_CREDENTIALS: "EnvironmentCredential", AZMI_NATIVE_PATH: "/nonexistent/azmi.node" }))).stdout) as { transport: string; transportReason?: string };
    assert.deepEqual([quiet.transport, /node:net fallback/.test(quiet.transportReason ?? "")], ["node", true], JSON.stringify(quiet));
    const native = JSON.parse((await runAzmi(["doctor", "--json"], cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret }))).stdout) as { transport: string; transportReason?: string };
    if (native.transport === "native") assert.equal(native.transportReason, "native addon loaded");
    // A value AZMI_TRANSPORT does not take is ignored, and doctor says so.
    const odd = JSON.parse((await runAzmi(["doctor", "--json"], cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret, AZMI_TRANSPORT: "bogus" }))).stdout) as { transport: string; transportReason?: string };
    assert.equal(odd.transport, native.transport);
    assert.equal(odd.transportReason, `${native.transportReason}; AZMI_TRANSPORT=bogus ignored (it takes native or node)`);
  });

  it("draws a waterfall without colour when not a terminal", async () => {
    const r = await runAzmi(["doctor"], cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret }));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes("\x1b["), "no ANSI escapes");
    const rows = r.stdout.split("\n").filter((l) => /^  \S/.test(l));
    assert.deepEqual(rows.map((l) => l.trim().split(/\s+/)[0]), LINKS);
    assert.match(rows[2], /^  managed-identity\s+✔ selected\s+\|[ █]*█[ █]*\|\s+[\d.]+ ms  /);
    assert.match(rows[0], /○ unavailable/);
    assert.match(rows[3], /· skipped\s+\| {32}\|\s+-/);
    assert.match(r.stdout, /^✔ managed-identity answered in [\d.]+ ms/m);
    assert.ok(!r.stdout.includes(fake.token));
  });

  it("a link that answers with an authentication error shows as failed and stops the walk; exit 3", async () => {
    fake.rejectWith401 = true;
    const r = await runAzmi(["doctor", "--json"], cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret }));
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout) as { winner: unknown; links: { link: string; outcome: string }[]; error?: { name: string } };
    assert.equal(report.winner, null);
    assert.deepEqual(
      report.links.map((l) => l.outcome),
      ["unavailable", "unavailable", "failed", "skipped", "skipped", "skipped"],
    );
    assert.equal(report.error?.name, "AuthenticationError");
    assert.ok(!r.stdout.includes(fake.secret));
  });

  it("exit 3 and a verdict when no link answers", async () => {
    const port = await deadPort();
    const r = await runAzmi(["doctor", "--json"], cleanEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` }));
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout) as { winner: unknown; links: { outcome: string }[]; tokenAcquired: boolean };
    assert.equal(report.winner, null);
    assert.equal(report.tokenAcquired, false);
    assert.ok(report.links.every((l) => l.outcome !== "selected"));

    const text = await runAzmi(["doctor"], cleanEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` }));
    assert.equal(text.code, 3);
    assert.match(text.stdout, /^✘ no link answered/m);
  });

  it("--json on a configuration the chain cannot be built from still prints one JSON object (no links, the error), and the message on stderr; exit 1", async () => {
    const env = cleanEnv({ AZURE_TOKEN_CREDENTIALS: "bogus", IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret });
    const r = await runAzmi(["doctor", "--json", "--scope", "https://vault.azure.net/.default"], env);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout.split("\n").length, 2, "one JSON line");
    const report = JSON.parse(r.stdout) as Record<string, unknown> & { error: { name: string; code: string; message: string } };
    assert.deepEqual(Object.keys(report), ["resource", "links", "winner", "transport", "transportReason", "ms", "tokenAcquired", "startup", "error"]);
    assert.equal(report.resource, "https://vault.azure.net");
    assert.deepEqual([report.links, report.winner, report.tokenAcquired], [[], null, false]);
    assert.ok(report.transport === "native" || report.transport === "node");
    assert.equal(report.error.code, "ERR_INVALID_ENVIRONMENT");
    assert.match(report.error.message, /^Invalid value for AZURE_TOKEN_CREDENTIALS = bogus\. Valid values are 'prod' or 'dev'/);
    assert.match(r.stderr, /^azmi doctor: Invalid value for AZURE_TOKEN_CREDENTIALS = bogus/);
    assert.ok(!r.stdout.includes(fake.secret) && !r.stderr.includes(fake.secret));
    // A secret-shaped value in the message is redacted on stdout as on stderr (JSON's escaped quotes hid it from a redaction of the whole line).
    const quoted = await runAzmi(["doctor", "--json"], { ...env, AZURE_TOKEN_CREDENTIALS: 'password="hunter2-not-a-real-one"' });
    assert.equal(quoted.code, 1, quoted.stderr);
    assert.ok(!quoted.stdout.includes("hunter2") && !quoted.stderr.includes("hunter2"), quoted.stdout);
    // Without --json: the message alone, nothing on stdout.
    const text = await runAzmi(["doctor"], env);
    assert.deepEqual([text.code, text.stdout], [1, ""]);
    assert.match(text.stderr, /^azmi doctor: Invalid value for AZURE_TOKEN_CREDENTIALS = bogus/);
  });

  it("--timeout-ms running out is a verdict too: exit 3 with the waterfall, as --help says (it said 1)", async () => {
    // An endpoint that accepts and never answers.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/msi/token`;
      const r = await runAzmi(["doctor", "--timeout-ms", "300"], cleanEnv({ IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: "x".repeat(32) }));
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stdout, /^✘ no link answered .*within timeoutMs=300 ms/m);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
    const help = await runAzmi(["doctor", "--help"]);
    assert.match(help.stdout, /^Exit codes: 0 a link answered {3}3 no link answered \(one failed, or --timeout-ms ran out\)/m);
    assert.doesNotMatch(help.stdout, /1 anything else \(e\.g\. --timeout-ms ran out\)/);
  });
});
