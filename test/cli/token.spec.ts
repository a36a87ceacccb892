/**
 * `azmi token` as a whole process against a loopback App Service endpoint:
 * every output format byte for byte, exit codes 0/3/4, `--verbose` on
 * stderr, and secret hygiene with AZURE_LOG_LEVEL=verbose.
 */
import * as assert from "node:assert/strict";
import * as net from "node:net";
import {
  AZMI_BIN,
  cleanEnv,
  cleanupTemp,
  collect,
  deadPort,
  runAzmi,
  spawnNode,
  startFakeAppService,
  type FakeAppService,
} from "./support";

describe("azmi token", function () {
  let fake: FakeAppService;
  const appServiceEnv = (extra: Record<string, string> = {}) =>
    cleanEnv({ IDENTITY_ENDPOINT: fake.endpoint, IDENTITY_HEADER: fake.secret, ...extra });

  beforeEach(async () => {
    fake = await startFakeAppService();
  });
  afterEach(() => fake.close());
  after(cleanupTemp);

  it("prints the MSI JSON (default output) for the default resource, fields in endpoint order", async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await runAzmi(["token"], appServiceEnv());
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.endsWith("}\n") && r.stdout.indexOf("\n") === r.stdout.length - 1, "one JSON line");
    const msi = JSON.parse(r.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(msi), ["access_token", "expires_in", "expires_on", "not_before", "resource", "token_type", "client_id"]);
    assert.equal(msi.access_token, fake.token);
    assert.equal(msi.resource, "https://management.azure.com/");
    assert.equal(msi.token_type, "Bearer");
    assert.equal(msi.client_id, fake.clientId);
    for (const k of ["expires_in", "expires_on", "not_before"]) assert.equal(typeof msi[k], "string", k);
    assert.ok(Number(msi.expires_on) >= before + 86_000, "expires_on ≈ now + 24 h");
    assert.ok(Number(msi.expires_in) > 86_000 && Number(msi.expires_in) <= 86_400);
    // The request the chain sent: App Service 2019 with the secret header and the resource.
    const sent = fake.requests.filter((q) => q.url.startsWith("/msi/token"));
    assert.equal(sent.length, 1);
    const q = new URL(sent[0].url, "http://x").searchParams;
    assert.equal(q.get("api-version"), "2019-08-01");
    assert.equal(q.get("resource"), "https://management.azure.com/");
    assert.equal(sent[0].headers["x-identity-header"], fake.secret);
  });

  it("no link could be used (exit 3): one line, the links left out by --only share one clause, and it says where to look next", async () => {
    const r = await runAzmi(["token", "--only", "managed-identity"], cleanEnv());
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.match(
      r.stderr,
      /^azmi token: DefaultAzureCredential authentication failed: no credential in the chain could get a token\. managed-identity: unavailable \(ManagedIdentityCredential: IMDS at 127\.0\.0\.1:9 could not be reached .*\) environment, workload-identity, azure-cli, azure-powershell, azure-developer-cli: skipped \(not selected \(only managed-identity\)\) Next: 'node bin\/azmi\.js doctor' shows each link's reason and time; no managed-identity endpoint on this machine\? 'node bin\/azmi\.js serve' starts a local one, and 'node bin\/azmi\.js env' prints its variables\.\n$/,
    );
  });

  it("the hint to start a local endpoint only when managed identity found none: not for --only azure-cli, nor for an endpoint the environment names", async () => {
    const cliOnly = await runAzmi(["token", "--only", "azure-cli"], cleanEnv());
    assert.equal(cliOnly.code, 3, cliOnly.stderr);
    assert.match(cliOnly.stderr, / Next: 'node bin\/azmi\.js doctor' shows each link's reason and time\.\n$/);
    // A local endpoint the variables name, with nothing listening (a stopped azmi serve): starting one is the fix.
    const stopped = await runAzmi(["token", "--only", "managed-identity"], cleanEnv({ IDENTITY_ENDPOINT: "http://127.0.0.1:9/msi/token", IDENTITY_HEADER: "hdr_secret_value_123" }));
    assert.equal(stopped.code, 3, stopped.stderr);
    assert.match(stopped.stderr, /App Service at 127\.0\.0\.1:9 .*ECONNREFUSED.* 'node bin\/azmi\.js serve' starts a local one/);
    // One that is there but does not answer: "start one" would point the wrong way.
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => held.add(socket.on("error", () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      // (The whole chain, where managed identity gets its short budget: 3 s, then the other links.)
      const slow = await runAzmi(["token"], cleanEnv({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: "hdr_secret_value_123" }));
      assert.equal(slow.code, 3, slow.stderr);
      assert.match(slow.stderr, / Next: 'node bin\/azmi\.js doctor' shows each link's reason and time\.\n$/);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("no next-step hint when a malformed variable is the cause (its own message says what to fix)", async () => {
    const r = await runAzmi(["token", "--only", "managed-identity"], cleanEnv({ IDENTITY_ENDPOINT: "not a url", IDENTITY_HEADER: "hdr_secret_value_123" }));
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /IDENTITY_ENDPOINT is not an http:\/\/ or https:\/\/ URL/);
    assert.ok(!r.stderr.includes("Next:"), r.stderr);
  });

  it("--output raw prints the token alone", async () => {
    const r = await runAzmi(["token", "--resource", "https://vault.azure.net", "--output", "raw"], appServiceEnv());
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${fake.token}\n`, ""]);
    assert.equal(new URL(fake.requests[0].url, "http://x").searchParams.get("resource"), "https://vault.azure.net");
  });

  it("--output header prints an Authorization header line", async () => {
    const r = await runAzmi(["token", "--output=header"], appServiceEnv());
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `Authorization: Bearer ${fake.token}\n`, ""]);
  });

  it("--output json prints the AccessToken shape with the link that answered", async () => {
    const r = await runAzmi(["token", "--scope", "https://storage.azure.com/.default", "--output", "json"], appServiceEnv());
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const t = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(t), ["token", "expiresOnTimestamp", "refreshAfterTimestamp", "tokenType", "link"]);
    assert.equal(t.token, fake.token);
    assert.equal(t.tokenType, "Bearer");
    assert.equal(t.link, "managed-identity");
    const expires = t.expiresOnTimestamp as number;
    assert.ok(Number.isInteger(expires) && expires > Date.now() + 86_000_000);
    // A 24 h token refreshes at half-life.
    const refresh = t.refreshAfterTimestamp as number;
    assert.ok(refresh > Date.now() + 40_000_000 && refresh < expires - 40_000_000);
    // --scope maps to the resource without /.default (spec checklist 1).
    assert.equal(new URL(fake.requests[0].url, "http://x").searchParams.get("resource"), "https://storage.azure.com");
  });

  it("--client-id selects a user-assigned identity (client_id on the wire and in the output)", async () => {
    const id = "11111111-2222-3333-4444-555555555555";
    const r = await runAzmi(["token", "--client-id", id], appServiceEnv());
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { client_id: string }).client_id, id);
    assert.equal(new URL(fake.requests[0].url, "http://x").searchParams.get("client_id"), id);
  });

  it("exit 3 when no link can be used (nothing configured, no developer tools, IMDS refused)", async () => {
    const port = await deadPort();
    const r = await runAzmi(["token"], cleanEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` }));
    assert.equal(r.stdout, "");
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^azmi token: .+\n$/, "exactly one line");
  });

  it("exit 3 with --only managed-identity and a refused endpoint", async () => {
    const port = await deadPort();
    const r = await runAzmi(
      ["token", "--only", "managed-identity", "--timeout-ms", "5000"],
      cleanEnv({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: fake.secret }),
    );
    assert.equal(r.stdout, "");
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^azmi token: .+\n$/);
    assert.ok(!r.stderr.includes(fake.secret));
  });

  it("exit 4 when the endpoint answers with an authentication error (401), one line, no secret", async () => {
    fake.rejectWith401 = true;
    const r = await runAzmi(["token"], appServiceEnv());
    assert.equal(r.stdout, "");
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^azmi token: .+\n$/);
    assert.ok(!r.stderr.includes(fake.secret));
  });

  it("--timeout-ms is kept even when the endpoint accepts and never answers: exit 1, one line", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const env = cleanEnv({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: fake.secret });
      const started = Date.now();
      let answeredAfter = -1;
      const child = spawnNode(AZMI_BIN, ["token", "--only", "managed-identity", "--timeout-ms", "300"], env);
      child.stderr!.once("data", () => (answeredAfter = Date.now() - started));
      const r = await collect(child, 30_000);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^azmi token: .*\b300 ms\b.*\n$/);
      // The chain's own timeout names the report, which only --verbose prints: it says so.
      assert.match(r.stderr, /the report shows which link was cut short \(azmi token --verbose prints it\)\.\n$/);
      // The answer comes by the deadline (generous bound for a loaded machine; the link alone waits ~10 s).
      // Known gap, not asserted here: with the native transport the process only exits once the
      // in-flight native request reaches its own deadline, because Node joins its thread pool at exit.
      assert.ok(answeredAfter >= 0 && answeredAfter < 6000, `answered after ${answeredAfter} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("an invalid AZURE_TOKEN_CREDENTIALS is one line with the official wording, exit 1, for token and doctor", async () => {
    const line =
      "Invalid value for AZURE_TOKEN_CREDENTIALS = bogus. Valid values are 'prod' or 'dev' or any of these credentials - " +
      "EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, VisualStudioCodeCredential, " +
      "AzureCliCredential, AzurePowerShellCredential, AzureDeveloperCliCredential. (@azure/identity's wording; azmi's chain has no VisualStudioCodeCredential.)";
    const env = appServiceEnv({ AZURE_TOKEN_CREDENTIALS: "bogus" });
    const [token, doctor] = await Promise.all([runAzmi(["token"], env), runAzmi(["doctor"], env)]);
    assert.deepEqual([token.code, token.stdout, token.stderr], [1, "", `azmi token: ${line}\n`]);
    assert.deepEqual([doctor.code, doctor.stdout, doctor.stderr], [1, "", `azmi doctor: ${line}\n`]);
    // A valid name of a credential azmi's chain lacks is the same variable's fault: the same exit code.
    const vsCode = await runAzmi(["token"], appServiceEnv({ AZURE_TOKEN_CREDENTIALS: "VisualStudioCodeCredential" }));
    assert.deepEqual([vsCode.code, vsCode.stdout], [1, ""]);
    assert.match(vsCode.stderr, /^azmi token: DefaultAzureCredential has no credential to try: AZURE_TOKEN_CREDENTIALS=VisualStudioCodeCredential selects a credential azmi does not include\./);
    assert.equal(fake.requests.length, 0);
  });

  it("--exclude managed-identity leaves nothing usable: exit 3, the endpoint is never called", async () => {
    const r = await runAzmi(["token", "--exclude", "managed-identity"], appServiceEnv());
    assert.equal(r.code, 3, r.stderr);
    assert.equal(fake.requests.length, 0);
  });

  it("--verbose prints each link's decision on stderr and the token only on stdout", async () => {
    const r = await runAzmi(["token", "--verbose", "--output", "raw"], appServiceEnv());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${fake.token}\n`);
    const lines = r.stderr.trimEnd().split("\n");
    assert.match(lines[0], /^azmi token: environment: unavailable \(/);
    assert.match(lines[1], /^azmi token: workload-identity: unavailable \(/);
    assert.match(lines[2], /^azmi token: managed-identity: selected \([\d.]+ ms\) /);
    assert.match(lines[lines.length - 1], /^azmi token: answered by managed-identity in [\d.]+ ms \(transport (native|node)/);
    assert.ok(!r.stderr.includes(fake.token));
    assert.ok(!r.stderr.includes(fake.secret));
  });

  it("secret hygiene: --verbose with AZURE_LOG_LEVEL=verbose never puts the token or IDENTITY_HEADER on stderr", async () => {
    const env = appServiceEnv({ AZURE_LOG_LEVEL: "verbose" });
    const runs = await Promise.all([
      runAzmi(["token", "--verbose"], env),
      runAzmi(["token", "--verbose", "--output", "json"], env),
      runAzmi(["token", "--verbose", "--output", "header"], env),
      runAzmi(["doctor"], env),
      runAzmi(["doctor", "--json"], env),
    ]);
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stderr.includes(fake.token), "token on stderr");
      assert.ok(!r.stderr.includes(fake.secret), "IDENTITY_HEADER on stderr");
      assert.ok(!r.stdout.includes(fake.secret), "IDENTITY_HEADER on stdout");
    }
    // The token is the product of `azmi token`, never of `azmi doctor`.
    assert.ok(runs[0].stdout.includes(fake.token));
    assert.ok(!runs[3].stdout.includes(fake.token));
    assert.ok(!runs[4].stdout.includes(fake.token));
    // With the log level set, the log really was written (so the check above meant something).
    assert.match(runs[0].stderr, /azmi:(info|verbose)/);
  });

  it("secret hygiene on failure: a 401 with AZURE_LOG_LEVEL=verbose leaks neither the header nor a token", async () => {
    fake.rejectWith401 = true;
    const r = await runAzmi(["token", "--verbose"], appServiceEnv({ AZURE_LOG_LEVEL: "verbose" }));
    assert.equal(r.code, 4);
    assert.ok(!r.stderr.includes(fake.secret));
    assert.ok(!r.stderr.includes(fake.token));
  });
});
