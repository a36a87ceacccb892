/**
 * Secret hygiene of the CLI (issue 6 §5): every command (`token` in every
 * output format with `--verbose`, `doctor` and `doctor --json`, `serve` with
 * both issuers and requests through it, `env` in every shell) runs as a real
 * process with `AZURE_LOG_LEVEL=verbose`, against working and failing
 * endpoints: an App Service fake with a known `IDENTITY_HEADER` (answering,
 * refusing, and echoing the header back in its errors), the Entra HTTPS fake
 * refusing a known client secret, a certificate whose key has a known
 * password, a federated token and a user password, Cloud Shell, and Machine
 * Learning (`MSI_SECRET`) fakes. All stdout and stderr are scanned; no
 * token, client secret, certificate password or identity header may appear,
 * except the requested token on `azmi token`'s stdout (and the local
 * server's own header secret on `azmi serve --json`/`azmi env` stdout for
 * bash and pwsh, which is what those commands print on purpose; docker and
 * compose output names an env file instead). The readable start-up text of
 * `azmi serve` and `npm start` (stdout piped, as in a log) may hold no
 * secret and no token at all.
 */
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { startFakeAppService } from "../fakes/appService";
import { startFakeCloudShell } from "../fakes/cloudShell";
import { startFakeMsi2017 } from "../fakes/machineLearning";
import { json } from "../fakes/common";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { fakeSecret } from "../fakes/tokens";
import type { Fake } from "../fakes/common";
import { AZMI_BIN, cleanEnv, cleanupTemp, exited, runAzmi, spawnNode, START_JS, tempDir, until, type RunResult } from "../cli/support";
import { readState } from "../cli/startup-text";
import { httpGet } from "../support/http";
import { formatLeaks, SecretSet, type Leak } from "./secrets";

const LOG = { AZURE_LOG_LEVEL: "verbose" };
const CLIENT_SECRET = fakeSecret("client-secret");
const WRONG_CLIENT_SECRET = fakeSecret("wrong-client-secret");
const CERT_PASSWORD = fakeSecret("cert-password");
const WRONG_CERT_PASSWORD = fakeSecret("wrong-cert-password");
const FEDERATED_TOKEN = fakeSecret("federated-assertion");
const WRONG_FEDERATED_TOKEN = fakeSecret("wrong-federated-assertion");
const USER_PASSWORD = fakeSecret("user-password");

interface Scenario {
  name: string;
  env: () => Record<string, string>;
  /** Whether `azmi token` should succeed (and print a token on stdout). */
  tokenOk: boolean;
  /** Requests the endpoint under test has received (must grow: the flow really ran). */
  reached?: () => number;
}

/** A client certificate whose private key is encrypted with `password`, cert + key in one PEM. */
function encryptedCertificate(dir: string, password: string): string {
  const key = path.join(dir, "enc-key.pem");
  const cert = path.join(dir, "enc-cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=azmi-hygiene", "-passout", `pass:${password}`],
    { stdio: "ignore" },
  );
  const file = path.join(dir, "client-encrypted.pem");
  fs.writeFileSync(file, fs.readFileSync(cert, "utf8") + fs.readFileSync(key, "utf8"), { mode: 0o600 });
  return file;
}

describe("hygiene: no secret in any CLI output", function () {
  this.timeout(60_000);
  const secrets = new SecretSet();
  const leaks: Leak[] = [];
  // A failing test leaves its leaks behind (its splice never ran): start every test with none.
  beforeEach(() => {
    leaks.length = 0;
  });
  let appOk: Fake & { secret: string };
  let appEcho: Fake & { secret: string };
  let shellOk: Fake;
  let shellFail: Fake;
  let msi2017: Fake & { secret: string };
  let federatedFile: string;
  let wrongFederatedFile: string;
  let entra: EntraFake;
  let certFile: string;

  const check = (where: string, text: string, allowed: Array<string | undefined> = []) => {
    leaks.push(...secrets.without(...allowed).leaks(where, text));
  };

  before(async () => {
    const dir = tempDir("azmi-hygiene-");
    certFile = encryptedCertificate(dir, CERT_PASSWORD);
    federatedFile = path.join(dir, "federated-token");
    fs.writeFileSync(federatedFile, `${FEDERATED_TOKEN}\n`);
    wrongFederatedFile = path.join(dir, "wrong-federated-token");
    fs.writeFileSync(wrongFederatedFile, WRONG_FEDERATED_TOKEN);
    msi2017 = await startFakeMsi2017();
    appOk = await startFakeAppService();
    // A hostile/broken endpoint: its errors quote the secret header it was sent.
    appEcho = await startFakeAppService({
      respond: (req) =>
        req.path.endsWith("/MSI/token")
          ? json(500, { statusCode: 500, message: `rejected X-IDENTITY-HEADER ${req.header("x-identity-header")}`, correlationId: "c1" })
          : undefined,
    });
    shellOk = await startFakeCloudShell();
    shellFail = await startFakeCloudShell({ refuse: ["https://management.azure.com/", "https://management.azure.com"] });
    entra = await startEntraFake({
      clients: {
        "secret-app": { secret: CLIENT_SECRET },
        "cert-app": { certificateThumbprintSha256: "not-this-one" },
        "workload-app": { federatedToken: FEDERATED_TOKEN },
      },
    });
    secrets
      .add("App Service IDENTITY_HEADER", appOk.secret)
      .add("echoing App Service IDENTITY_HEADER", appEcho.secret)
      .add("client secret", CLIENT_SECRET)
      .add("wrong client secret", WRONG_CLIENT_SECRET)
      .add("certificate password", CERT_PASSWORD)
      .add("wrong certificate password", WRONG_CERT_PASSWORD)
      .add("federated token", FEDERATED_TOKEN)
      .add("wrong federated token", WRONG_FEDERATED_TOKEN)
      .add("user password", USER_PASSWORD)
      .add("MSI_SECRET", msi2017.secret);
  });

  after(async () => {
    for (const f of [appOk, appEcho, shellOk, shellFail, msi2017]) await f?.close();
    await entra?.close();
    cleanupTemp();
  });

  /** Tokens are registered as they are issued (fakes record them). */
  const registerIssued = () => {
    for (const t of [...appOk.issued, ...appEcho.issued, ...shellOk.issued, ...shellFail.issued, ...msi2017.issued, ...entra.issued]) secrets.add("access token", t);
  };

  const entraEnv = (extra: Record<string, string>) => ({
    AZURE_TENANT_ID: entra.tenant,
    AZURE_AUTHORITY_HOST: entra.authorityHost,
    NODE_EXTRA_CA_CERTS: entra.caFile,
    ...extra,
  });

  const scenarios: Scenario[] = [
    { name: "App Service answering", env: () => appOk.env, tokenOk: true, reached: () => appOk.tokenRequests().length },
    { name: "App Service refusing a wrong header", env: () => ({ ...appOk.env, IDENTITY_HEADER: appEcho.secret }), tokenOk: false, reached: () => appOk.tokenRequests().length },
    { name: "App Service echoing the header in 500s", env: () => appEcho.env, tokenOk: false, reached: () => appEcho.tokenRequests().length },
    { name: "Cloud Shell answering", env: () => shellOk.env, tokenOk: true, reached: () => shellOk.tokenRequests().length },
    { name: "Cloud Shell refusing the audience", env: () => shellFail.env, tokenOk: false, reached: () => shellFail.tokenRequests().length },
    { name: "Entra accepting a client secret", env: () => entraEnv({ AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: CLIENT_SECRET }), tokenOk: true, reached: () => entra.tokenRequests().length },
    { name: "Entra refusing a client secret", env: () => entraEnv({ AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: WRONG_CLIENT_SECRET }), tokenOk: false, reached: () => entra.tokenRequests().length },
    {
      name: "Entra refusing a certificate (key password known)",
      env: () => entraEnv({ AZURE_CLIENT_ID: "cert-app", AZURE_CLIENT_CERTIFICATE_PATH: certFile, AZURE_CLIENT_CERTIFICATE_PASSWORD: CERT_PASSWORD }),
      tokenOk: false,
      reached: () => entra.tokenRequests().length,
    },
    {
      name: "certificate with a wrong key password",
      env: () => entraEnv({ AZURE_CLIENT_ID: "cert-app", AZURE_CLIENT_CERTIFICATE_PATH: certFile, AZURE_CLIENT_CERTIFICATE_PASSWORD: WRONG_CERT_PASSWORD }),
      tokenOk: false,
    },
    { name: "Machine Learning / App Service 2017 answering (MSI_SECRET)", env: () => msi2017.env, tokenOk: true, reached: () => msi2017.tokenRequests().length },
    { name: "Machine Learning with a wrong MSI_SECRET", env: () => ({ ...msi2017.env, MSI_SECRET: appEcho.secret }), tokenOk: false, reached: () => msi2017.tokenRequests().length },
    {
      name: "workload identity accepted (federated token file)",
      env: () => entraEnv({ AZURE_CLIENT_ID: "workload-app", AZURE_FEDERATED_TOKEN_FILE: federatedFile }),
      tokenOk: true,
      reached: () => entra.tokenRequests().length,
    },
    {
      name: "workload identity refused (wrong federated token)",
      env: () => entraEnv({ AZURE_CLIENT_ID: "workload-app", AZURE_FEDERATED_TOKEN_FILE: wrongFederatedFile }),
      tokenOk: false,
      reached: () => entra.tokenRequests().length,
    },
    {
      name: "username/password refused",
      env: () => entraEnv({ AZURE_CLIENT_ID: "secret-app", AZURE_USERNAME: "someone@example.com", AZURE_PASSWORD: USER_PASSWORD }),
      tokenOk: false,
      reached: () => entra.tokenRequests().length,
    },
  ];

  const tokenForms: Array<[string, string[]]> = [
    ["msi", []],
    ["raw", ["--output", "raw"]],
    ["json", ["--output", "json"]],
    ["header", ["--output", "header"]],
  ];

  for (const s of scenarios) {
    it(`azmi token (every --output, --verbose) and azmi doctor (text, --json): ${s.name}`, async () => {
      const env = cleanEnv({ ...LOG, ...s.env() });
      const reachedBefore = s.reached?.() ?? 0;
      // Every output format matters only when a token is printed; failures are covered by the default one.
      const commands: Array<[string, string[]]> = [
        // Entra flows load @azure/identity (slow): two formats there; every format on the managed-identity sources.
        ...(s.tokenOk ? (s.env().AZURE_AUTHORITY_HOST ? tokenForms.slice(0, 2) : tokenForms) : tokenForms.slice(0, 1)).map(([label, args]): [string, string[]] => [`token ${label}`, ["token", "--verbose", ...args]]),
        ["doctor", ["doctor"]],
        ["doctor --json", ["doctor", "--json"]],
      ];
      const runs = await Promise.all(commands.map(async ([label, args]): Promise<[string, RunResult]> => [label, await runAzmi(args, env, 40_000)]));
      registerIssued();
      if (s.reached) assert.ok(s.reached() > reachedBefore, "the endpoint under test was reached");
      for (const [label, r] of runs) {
        if (label.startsWith("token")) {
          assert.equal(r.code === 0, s.tokenOk, `${label}: exit ${r.code}; stderr (end): ${r.stderr.slice(-800)}`);
          const product = r.stdout.trim();
          const issued = [...appOk.issued, ...shellOk.issued, ...msi2017.issued, ...entra.issued];
          const allowedToken = s.tokenOk ? issued.find((t) => product.includes(t)) : undefined;
          if (s.tokenOk) assert.ok(allowedToken, `${label}: stdout carries the token`);
          check(`${s.name} / azmi ${label} / stdout`, r.stdout, [allowedToken]);
          check(`${s.name} / azmi ${label} / stderr`, r.stderr);
          assert.ok(r.stderr.includes("=>"), `${label}: AZURE_LOG_LEVEL=verbose produced log lines; exit ${r.code}, stderr: ${r.stderr.slice(0, 600)}`);
        } else {
          check(`${s.name} / azmi ${label} / stdout`, r.stdout);
          check(`${s.name} / azmi ${label} / stderr`, r.stderr);
        }
      }
      assert.equal(leaks.length, 0, formatLeaks(leaks.splice(0)));
    });
  }

  for (const issuer of ["chain", "local"] as const) {
    it(`azmi serve --issuer ${issuer} (good and bad requests through it) and azmi env: only the server's own header, only on stdout`, async () => {
      const env = cleanEnv({ ...LOG, ...appOk.env });
      const child = spawnNode(AZMI_BIN, ["serve", "--json", "--issuer", issuer], env);
      let stdout = "";
      let stderr = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      try {
        const deadline = Date.now() + 20_000;
        while (!stdout.includes("\n") && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
        const info = JSON.parse(stdout.split("\n")[0]!) as { env: Record<string, string>; dialects: Record<string, Record<string, string>> };
        const own = info.env.IDENTITY_HEADER!;
        assert.ok(own && own !== appOk.secret, "the server has its own header secret");
        const wrong = fakeSecret("wrong-local-header");
        secrets.add("local server header", own).add("wrong local header", wrong);
        if (info.env.MSI_SECRET) secrets.add("local server MSI_SECRET", info.env.MSI_SECRET);

        const minted: string[] = [];
        const endpoint = info.env.IDENTITY_ENDPOINT!;
        const ok = await httpGet(`${endpoint}?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.azure.net")}`, { "X-IDENTITY-HEADER": own });
        assert.equal(ok.status, 200, ok.body);
        minted.push((JSON.parse(ok.body) as { access_token: string }).access_token);
        const bad = await httpGet(`${endpoint}?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.azure.net")}`, { "X-IDENTITY-HEADER": wrong });
        assert.notEqual(bad.status, 200);
        // The refusal names the problem, not the header it got or the one it wanted.
        for (const v of [wrong, own]) assert.ok(!bad.body.includes(v), `401 body quotes a header value: ${bad.body}`);
        const imdsBase = info.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
        if (imdsBase) {
          const viaImds = await httpGet(`${imdsBase}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://storage.azure.com")}`, { Metadata: "true" });
          assert.equal(viaImds.status, 200, viaImds.body);
          minted.push((JSON.parse(viaImds.body) as { access_token: string }).access_token);
        }
        for (const t of minted) secrets.add("token served by azmi serve", t);

        // azmi env prints the server's variables (its product) and nothing else secret.
        const envRuns: Array<[string, RunResult]> = [];
        for (const shell of ["bash", "pwsh", "docker", "compose"]) envRuns.push([`env --shell ${shell}`, await runAzmi(["env", "--shell", shell], env)]);
        // And a token through it with the CLI: the product is on stdout only.
        const viaCli = await runAzmi(["token", "--verbose", "--output", "raw"], cleanEnv({ ...LOG, IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: own, AZMI_HOME: env.AZMI_HOME }));
        assert.equal(viaCli.code, 0, viaCli.stderr);
        secrets.add("token via azmi serve", viaCli.stdout.trim());

        child.kill("SIGTERM");
        assert.equal((await exited(child)).code, 0);
        registerIssued();
        check(`serve --issuer ${issuer} / stdout`, stdout, [own, info.env.MSI_SECRET]);
        check(`serve --issuer ${issuer} / stderr`, stderr);
        for (const [label, r] of envRuns) {
          assert.equal(r.code, 0, `${label}: ${r.stderr}`);
          // docker and compose output ends up on command lines and in compose files: it names the env file, never a secret.
          const container = / (docker|compose)$/.test(label);
          check(`azmi ${label} / stdout`, r.stdout, container ? [] : [own, info.env.MSI_SECRET]);
          check(`azmi ${label} / stderr`, r.stderr);
        }
        check("azmi token via serve / stdout", viaCli.stdout, [viaCli.stdout.trim()]);
        check("azmi token via serve / stderr", viaCli.stderr);
        assert.equal(leaks.length, 0, formatLeaks(leaks.splice(0)));
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL");
          await exited(child).catch(() => undefined);
        }
      }
    });
  }

  it("azmi serve --issuer chain over a failing upstream that echoes its IDENTITY_HEADER: neither its answer to clients nor its output carries the upstream secret", async () => {
    const env = cleanEnv({ ...LOG, ...appEcho.env });
    const child = spawnNode(AZMI_BIN, ["serve", "--json", "--issuer", "chain"], env);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    try {
      const deadline = Date.now() + 20_000;
      while (!stdout.includes("\n") && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      const info = JSON.parse(stdout.split("\n")[0]!) as { env: Record<string, string> };
      const own = info.env.IDENTITY_HEADER!;
      const answers = [
        await httpGet(`${info.env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.azure.net")}`, { "X-IDENTITY-HEADER": own }),
        await httpGet(`${info.env.AZURE_POD_IDENTITY_AUTHORITY_HOST}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://vault.azure.net")}`, { Metadata: "true" }),
      ];
      child.kill("SIGTERM");
      await exited(child);
      for (const a of answers) {
        assert.notEqual(a.status, 200, a.body);
        check("serve (failing upstream) / HTTP answer to the client", a.body);
      }
      check("serve (failing upstream) / stdout", stdout, [own, info.env.MSI_SECRET]);
      check("serve (failing upstream) / stderr", stderr);
      assert.ok(appEcho.tokenRequests().length > 0, "the upstream was asked");
      assert.equal(leaks.length, 0, formatLeaks(leaks.splice(0)));
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited(child).catch(() => undefined);
      }
    }
  });

  it("npm start with stdout piped (systemd, CI, tee): no token, no header secret, no MSI_SECRET on stdout or stderr, even with AZURE_LOG_LEVEL=verbose", async () => {
    const env = cleanEnv(LOG);
    const child = spawnNode(START_JS, [], env);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    try {
      await until(() => stdout.includes("Press Ctrl-C to stop.") || child.exitCode !== null, 20_000);
      const state = readState(env.AZMI_HOME!);
      // A token through the same server, to show what a leak would look like (npm start's own is redacted).
      const viaCli = await runAzmi(["token", "--output", "raw"], cleanEnv({ IDENTITY_ENDPOINT: state.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: state.env.IDENTITY_HEADER }));
      assert.equal(viaCli.code, 0, viaCli.stderr);
      child.kill("SIGINT");
      assert.equal((await exited(child)).code, 0, stderr);
      secrets.add("npm start IDENTITY_HEADER", state.env.IDENTITY_HEADER).add("npm start MSI_SECRET", state.env.MSI_SECRET).add("token from npm start's server", viaCli.stdout.trim());
      assert.match(stdout, /"access_token":"<redacted: \d+ chars; use azmi token to print it>"/);
      assert.ok(!/eyJ[\w-]+\.[\w-]+\.[\w-]+/.test(stdout + stderr), "no JWT in npm start's output");
      check("npm start / stdout", stdout);
      check("npm start / stderr", stderr);
      assert.ok(stderr.includes("=>"), "verbose log lines were written");
      assert.equal(leaks.length, 0, formatLeaks(leaks.splice(0)));
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited(child).catch(() => undefined);
      }
    }
  });

  for (const issuer of ["local", "chain"] as const) {
    it(`azmi serve --issuer ${issuer} readable text (no --json), requests through it: no secret or token on stdout or stderr`, async () => {
      const env = cleanEnv({ ...LOG, ...appOk.env });
      const child = spawnNode(AZMI_BIN, ["serve", "--issuer", issuer], env);
      let stdout = "";
      let stderr = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      try {
        await until(() => stdout.includes("Press Ctrl-C to stop.") || child.exitCode !== null, 20_000);
        const state = readState(env.AZMI_HOME!);
        secrets.add("readable serve IDENTITY_HEADER", state.env.IDENTITY_HEADER).add("readable serve MSI_SECRET", state.env.MSI_SECRET);
        const viaCli = await runAzmi(["token", "--output", "raw"], cleanEnv({ IDENTITY_ENDPOINT: state.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: state.env.IDENTITY_HEADER }));
        assert.equal(viaCli.code, 0, viaCli.stderr);
        secrets.add("token via readable serve", viaCli.stdout.trim());
        child.kill("SIGTERM");
        assert.equal((await exited(child)).code, 0);
        registerIssued();
        check(`serve --issuer ${issuer} (readable) / stdout`, stdout);
        check(`serve --issuer ${issuer} (readable) / stderr`, stderr);
        assert.equal(leaks.length, 0, formatLeaks(leaks.splice(0)));
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL");
          await exited(child).catch(() => undefined);
        }
      }
    });
  }

  it("azmi env without a server prints no secret from the environment", async () => {
    const env = cleanEnv({ ...LOG, ...appOk.env, ...entraEnv({ AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: CLIENT_SECRET }) });
    const runs: Array<[string, RunResult]> = [
      ["env", await runAzmi(["env"], env)],
      ["env --shell pwsh", await runAzmi(["env", "--shell", "pwsh"], env)],
    ];
    for (const [label, r] of runs) {
      assert.notEqual(r.code, 0, label);
      check(`azmi ${label} / stdout`, r.stdout);
      check(`azmi ${label} / stderr`, r.stderr);
    }
    assert.equal(leaks.length, 0, formatLeaks(leaks.splice(0)));
  });
});
