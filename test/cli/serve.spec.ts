/**
 * `azmi serve` and `azmi env` as real processes: the `--json` first line, a
 * token fetched through it by `azmi token` and validated against the served
 * JWKS, `azmi env` for every shell and dialect, SIGTERM ⇒ exit 0 with the
 * state file gone, port in use ⇒ exit 1, no server ⇒ `azmi env` exit 3.
 */
import * as assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import {
  AZMI_BIN,
  cleanEnv,
  cleanupTemp,
  collect,
  exited,
  firstLines,
  runAzmi,
  spawnNode,
  tempDir,
  until,
} from "./support";
import { dialectLoadLine, identityTokenScript, installShims, loadLine, readableStartup, readState, runInBash } from "./startup-text";

/** How the advice of a CLI run here as `node <checkout>/bin/azmi.js` names it: relative to the working folder (invocation.ts). */
const HERE_CLI = `node ${path.relative(process.cwd(), AZMI_BIN)}`;
import { SecretSet } from "../hygiene/secrets";
import type { ServeJson } from "../../src/cli/serve";
import { howThisCliWasRun } from "../../src/cli/invocation";
import { canTellPeerUser } from "../../src/serve/peerUser";
import { commandsBelow, isRunning } from "../support/processes";

describe("azmi serve and azmi env", function () {
  let env: NodeJS.ProcessEnv;
  let child: ChildProcess;
  let info: ServeJson;
  let serveStderr: () => string;
  /** The other dialects' variables this dialect does not set (azmi env unsets them first). */
  const otherNames = (key: string): string[] => {
    const mine = (info.dialects as Record<string, Record<string, string> | undefined>)[key] ?? {};
    const names = new Set<string>();
    for (const vars of Object.values(info.dialects as Record<string, Record<string, string> | undefined>)) for (const k of Object.keys(vars ?? {})) if (!(k in mine)) names.add(k);
    return [...names].filter((k) => !k.startsWith("AZMI_")).sort();
  };
  const unsetLine = (key: string): string => (otherNames(key).length ? `unset ${otherNames(key).join(" ")}\n` : "");

  before(async () => {
    env = cleanEnv();
    child = spawnNode(AZMI_BIN, ["serve", "--json", "--port", "0"], env);
    const first = await firstLines(child, 1);
    serveStderr = first.stderr;
    info = JSON.parse(first.lines[0]) as ServeJson;
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited(child).catch(() => undefined);
    }
    cleanupTemp();
  });

  it("--json prints one JSON object on the first line: url, port, env per dialect, issuer, jwks_uri", () => {
    assert.deepEqual(Object.keys(info), ["url", "port", "host", "env", "dialects", "issuer", "jwks_uri"]);
    assert.equal(info.host, "127.0.0.1");
    assert.ok(Number.isInteger(info.port) && info.port > 0);
    assert.equal(info.url, `http://127.0.0.1:${info.port}`);
    for (const k of ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST"]) {
      assert.equal(typeof info.env[k], "string", k);
    }
    assert.ok(info.dialects.appService && info.dialects.imds && info.dialects.machineLearning && info.dialects.cloudShell);
    assert.equal(info.dialects.appService!.IDENTITY_HEADER, info.env.IDENTITY_HEADER);
    assert.match(info.jwks_uri, new RegExp(`^http://127\\.0\\.0\\.1:${info.port}/`));
    assert.equal(serveStderr(), "", "no warning on loopback");
  });

  it("azmi token gets a token through it (App Service dialect) that validates against the served JWKS", async () => {
    const r = await runAzmi(["token", "--resource", "https://vault.azure.net", "--output", "raw"], cleanEnv(info.dialects.appService));
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    // jose v5 is ESM-only: import it dynamically from this CommonJS test.
    const jose = (await (new Function("m", "return import(m)") as (m: string) => Promise<unknown>)("jose")) as typeof import("jose");
    const { payload } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(info.jwks_uri)), {
      issuer: info.issuer,
      audience: "https://vault.azure.net",
    });
    assert.equal(typeof payload.oid, "string");
    assert.equal(typeof payload.tid, "string");
  });

  it("azmi token through the IMDS dialect too (AZURE_POD_IDENTITY_AUTHORITY_HOST)", async () => {
    const r = await runAzmi(["token", "--only", "managed-identity"], cleanEnv(info.dialects.imds));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { resource: string }).resource, "https://management.azure.com/");
  });

  it("azmi env (bash, default dialect app-service) prints exports that `eval` accepts", async () => {
    const r = await runAzmi(["env"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const expected = unsetLine("appService") + Object.entries(info.dialects.appService!).map(([k, v]) => `export ${k}='${v}'\n`).join("");
    assert.equal(r.stdout, expected);

    // End to end through a real shell: eval the output, then ask for a token.
    const bash = spawn(
      "/bin/bash",
      ["-c", `eval "$("${process.execPath}" "${AZMI_BIN}" env)" && exec "${process.execPath}" "${AZMI_BIN}" token --output raw`],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    const t = await collect(bash);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });

  it("azmi env --shell pwsh prints $env: assignments", async () => {
    const r = await runAzmi(["env", "--shell", "pwsh", "--dialect", "cloud-shell"], env);
    assert.equal(r.code, 0, r.stderr);
    const expected =
      otherNames("cloudShell").map((k) => `$env:${k} = $null\n`).join("") + Object.entries(info.dialects.cloudShell!).map(([k, v]) => `$env:${k} = '${v}'\n`).join("");
    assert.equal(r.stdout, expected);
  });

  it("eval'ing one dialect after another switches to it: the other dialects' variables are unset first", async () => {
    const bash = spawn(
      "/bin/bash",
      [
        "-c",
        `eval "$("${process.execPath}" "${AZMI_BIN}" env)" && eval "$("${process.execPath}" "${AZMI_BIN}" env --dialect cloud-shell)" && ` +
          `echo "\${IDENTITY_ENDPOINT-none}|\${IDENTITY_HEADER-none}|\${MSI_SECRET-none}|$MSI_ENDPOINT"`,
      ],
      { env: { ...env, IDENTITY_ENDPOINT: "http://127.0.0.1:9/stale" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const t = await collect(bash);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout, `none|none|none|${info.dialects.cloudShell!.MSI_ENDPOINT}\n`);
  });

  for (const [dialect, key] of [["imds", "imds"], ["machine-learning", "machineLearning"], ["app-service", "appService"]] as const) {
    it(`azmi env --dialect ${dialect} prints exactly that dialect's variables`, async () => {
      const r = await runAzmi(["env", "--dialect", dialect], env);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert.equal(lines[0], unsetLine(key).trimEnd());
      const names = lines.slice(1).map((l) => /^export (\w+)=/.exec(l)![1]);
      assert.deepEqual(names, Object.keys(info.dialects[key]!));
    });
  }

  it("azmi env --dialect arc prints Arc's variables, or says the server does not offer it (exit 1)", async () => {
    const r = await runAzmi(["env", "--dialect", "arc"], env);
    if (info.dialects.azureArc) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, unsetLine("azureArc") + Object.entries(info.dialects.azureArc).map(([k, v]) => `export ${k}='${v}'\n`).join(""));
    } else {
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [1, "", "azmi env: the running server does not offer the arc dialect (its start-up text says why); pick one it offers with --dialect: app-service, imds, machine-learning, cloud-shell\n"],
      );
    }
  });

  it("azmi env --shell docker writes host.docker.internal variables to an env file, prints --env-file and the host mapping, and explains --host on stderr", async () => {
    const r = await runAzmi(["env", "--shell", "docker"], env);
    assert.equal(r.code, 0);
    const file = path.join(env.AZMI_HOME!, "docker.env");
    assert.equal(r.stdout, `--env-file ${file} --add-host host.docker.internal:host-gateway\n`);
    const expected = Object.entries(info.dialects.appService!)
      .map(([k, v]) => `${k}=${v.replace("127.0.0.1", "host.docker.internal")}\n`)
      .join("");
    assert.equal(fs.readFileSync(file, "utf8"), expected);
    assert.match(r.stderr, /^azmi env: the server listens on 127\.0\.0\.1, which a container cannot reach; restart it with `azmi serve --host 0\.0\.0\.0`/);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
  });

  it("azmi env --shell compose prints env_file (the same env file) and extra_hosts entries", async () => {
    const r = await runAzmi(["env", "--shell", "compose"], env);
    assert.equal(r.code, 0);
    const file = path.join(env.AZMI_HOME!, "docker.env");
    const lines = ["    env_file:", `      - "${file}"`, "    extra_hosts:", '      - "host.docker.internal:host-gateway"'];
    assert.equal(r.stdout, lines.join("\n") + "\n");
    assert.match(fs.readFileSync(file, "utf8"), /^IDENTITY_ENDPOINT=http:\/\/host\.docker\.internal:\d+\/msi\/token\nIDENTITY_HEADER=[0-9a-f]{64}\n$/);
    assert.match(r.stderr, /container cannot reach/);
  });

  it("SIGTERM stops the server: exit 0, state file removed, azmi env then exits 3", async () => {
    const homeFiles = () => (fs.existsSync(env.AZMI_HOME!) ? fs.readdirSync(env.AZMI_HOME!) : []);
    assert.ok(homeFiles().some((f) => /serve/.test(f)), `state file present: ${homeFiles().join(",")}`);
    child.kill("SIGTERM");
    const { code, signal } = await exited(child);
    assert.deepEqual([code, signal], [0, null]);
    assert.ok(!homeFiles().some((f) => /serve.*\.json$/.test(f)), `state file gone: ${homeFiles().join(",")}`);

    const r = await runAzmi(["env"], env);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [3, "", `azmi env: no azmi server is running with its state in ${env.AZMI_HOME} (this user's azmi folder, from AZMI_HOME); start one with \`${HERE_CLI} serve\`\n`],
    );
  });
  it("SIGHUP (a closed terminal or ssh session) stops it cleanly too: exit 0, state file removed", async () => {
    const own = cleanEnv();
    const server = spawnNode(AZMI_BIN, ["serve", "--json"], own);
    try {
      await firstLines(server, 1);
      assert.ok(fs.existsSync(path.join(own.AZMI_HOME!, "serve.json")));
      server.kill("SIGHUP");
      assert.deepEqual(await exited(server), { code: 0, signal: null });
      assert.ok(!fs.existsSync(path.join(own.AZMI_HOME!, "serve.json")), "state file gone");
    } finally {
      if (server.exitCode === null) server.kill("SIGKILL");
    }
  });
});

describe("azmi serve: the Arc dialect with its own key folder (AZMI_ARC_TOKENS_DIR)", function () {
  after(cleanupTemp);

  it("azmi env --dialect arc carries the folder, so the printed line alone gets a token; switching away leaves it set", async () => {
    const keys = tempDir("azmi-arc-keys-");
    fs.chmodSync(keys, 0o700);
    const env = cleanEnv({ AZMI_ARC_TOKENS_DIR: keys });
    const server = spawnNode(AZMI_BIN, ["serve", "--json", "--port", "0"], env);
    try {
      const info = JSON.parse((await firstLines(server, 1)).lines[0]) as ServeJson;
      assert.equal(info.dialects.azureArc?.AZMI_ARC_TOKENS_DIR, keys);
      // A shell that never set AZMI_ARC_TOKENS_DIR: the eval'd line is all it has.
      const shellEnv = cleanEnv({ AZMI_HOME: env.AZMI_HOME });
      const viaArc = await collect(
        spawn("/bin/bash", ["-c", `eval "$("${process.execPath}" "${AZMI_BIN}" env --dialect arc)" && exec "${process.execPath}" "${AZMI_BIN}" token --only managed-identity --output raw`], {
          env: shellEnv,
          stdio: ["ignore", "pipe", "pipe"],
        }),
      );
      assert.equal(viaArc.code, 0, viaArc.stderr);
      assert.match(viaArc.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      // Switching to another dialect unsets Arc's endpoint variables, not azmi's own setting.
      const appService = await runAzmi(["env"], shellEnv);
      assert.equal(appService.code, 0, appService.stderr);
      assert.match(appService.stdout, /^unset .*\bIMDS_ENDPOINT\b/m);
      assert.doesNotMatch(appService.stdout, /AZMI_ARC_TOKENS_DIR/);
    } finally {
      server.kill("SIGTERM");
      await exited(server).catch(() => undefined);
    }
  });
});

describe("azmi serve: identities, issuers and fault mode", function () {
  const KNOWN = "11111111-2222-3333-4444-555555555555";
  const UNKNOWN = "99999999-8888-7777-6666-555555555555";
  const children: ChildProcess[] = [];
  async function serve(args: string[], extraEnv: Record<string, string> = {}): Promise<ServeJson> {
    const child = spawnNode(AZMI_BIN, ["serve", "--json", ...args], cleanEnv(extraEnv));
    children.push(child);
    return JSON.parse((await firstLines(child, 1)).lines[0]) as ServeJson;
  }
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill("SIGTERM");
      assert.deepEqual(await exited(child), { code: 0, signal: null });
    }
  });
  after(cleanupTemp);

  it("--identity: a known client id gets its token, an unknown one is refused (Identity not found)", async () => {
    const info = await serve(["--identity", KNOWN]);
    const env = cleanEnv(info.dialects.appService);
    const known = await runAzmi(["token", "--only", "managed-identity", "--client-id", KNOWN], env);
    assert.equal(known.code, 0, known.stderr);
    assert.equal((JSON.parse(known.stdout) as { client_id: string }).client_id, KNOWN);
    const unknown = await runAzmi(["token", "--only", "managed-identity", "--client-id", UNKNOWN], env);
    assert.ok(unknown.code === 3 || unknown.code === 4, `exit ${unknown.code}`);
    assert.equal(unknown.stdout, "");
    assert.match(unknown.stderr, /^azmi token: .*Identity not found.*\n$/);
  });

  it("--accept-any-identity mints an identity for any client id", async () => {
    const info = await serve(["--accept-any-identity"]);
    const r = await runAzmi(["token", "--only", "managed-identity", "--client-id", UNKNOWN], cleanEnv(info.dialects.appService));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { client_id: string }).client_id, UNKNOWN);
  });

  it("--issuer chain forwards to this machine's chain (here: another azmi serve), tokens unchanged", async () => {
    const upstream = await serve([]);
    const forwarder = await serve(["--issuer", "chain"], upstream.dialects.appService!);
    assert.equal(forwarder.issuer, "");
    const r = await runAzmi(["token", "--resource", "https://vault.azure.net", "--output", "raw"], cleanEnv(forwarder.dialects.appService));
    assert.equal(r.code, 0, r.stderr);
    const jose = (await (new Function("m", "return import(m)") as (m: string) => Promise<unknown>)("jose")) as typeof import("jose");
    await jose.jwtVerify(r.stdout.trim(), jose.createRemoteJWKSet(new URL(upstream.jwks_uri)), {
      issuer: upstream.issuer,
      audience: "https://vault.azure.net",
    });
  });

  it("--issuer chain's start-up text says who can get the forwarded tokens (on Linux only this user's processes; elsewhere every local one)", async () => {
    const child = spawnNode(AZMI_BIN, ["serve", "--issuer", "chain"], cleanEnv());
    try {
      const { stdout } = await readableStartup(child);
      const who = canTellPeerUser()
        ? /Only your own processes on this machine \(and root's\) get them; other users' get 403\./
        : /Any process on this machine, other users' too, can get them through the IMDS and Cloud Shell dialects/;
      assert.match(stdout, new RegExp(`Tokens: forwarded from this machine's credential chain \\(real tokens, issued by Entra ID\\)\\.\\n${who.source}`));
    } finally {
      child.kill("SIGTERM");
      await exited(child);
    }
  });

  it("--issuer chain stopped while a developer tool runs (a hanging az): the tool does not outlive the server", async function () {
    if (!fs.existsSync("/proc/self/stat")) this.skip(); // the tools are found through /proc (Linux)
    const env = cleanEnv();
    const bin = env.PATH!.split(":")[0]!;
    // `az` that hangs, as one waiting on a network that never answers.
    fs.writeFileSync(path.join(bin, "az"), "#!/bin/sh\nexec /bin/sleep 120\n", { mode: 0o755 });
    const server = spawnNode(AZMI_BIN, ["serve", "--json", "--issuer", "chain", "--port", "0"], env);
    const info = JSON.parse((await firstLines(server, 1)).lines[0]) as ServeJson;
    // Ask (and do not wait for the answer): the chain reaches azure-cli, which starts the fake az.
    const request = http.get(`${info.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`, { headers: { Metadata: "true" } });
    request.on("error", () => undefined);
    let tools: number[] = [];
    await until(() => (tools = commandsBelow(server.pid!, ["/bin/sleep", "120"])).length === 1, 20_000);
    server.kill("SIGTERM");
    assert.deepEqual(await exited(server), { code: 0, signal: null });
    request.destroy();
    await until(() => !isRunning(tools[0]!), 5_000).catch(() => undefined);
    assert.equal(isRunning(tools[0]!), false, `the az the server started (pid ${tools[0]}) is still running`);
  });

  it("--faults rate=1,statuses=403 answers like Docker Desktop: the chain finds no managed identity (exit 3)", async () => {
    const info = await serve(["--faults", "rate=1,statuses=403"]);
    const r = await runAzmi(["token", "--only", "managed-identity"], cleanEnv(info.dialects.appService));
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^azmi token: .*403.*\n$/);
  });

  it("--faults says at start that fault mode is on (a forgotten one looks healthy otherwise)", async () => {
    const child = spawnNode(AZMI_BIN, ["serve", "--json", "--faults", "rate=0.2,statuses=429+503,retry-after=2"], cleanEnv());
    children.push(child);
    const first = await firstLines(child, 1);
    await until(() => first.stderr().includes("\n"));
    assert.equal(first.stderr(), "azmi serve: fault mode is on (--faults rate=0.2,statuses=429+503,retry-after=2): token requests may fail or wait on purpose; start it without --faults for normal answers\n");
  });

  it("--faults sequence=503,retry-after=0: the first request fails, the retry gets the token", async () => {
    const info = await serve(["--faults", "sequence=503,retry-after=0"]);
    const r = await runAzmi(["token", "--only", "managed-identity", "--output", "raw"], cleanEnv(info.dialects.appService));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });
});

describe("azmi serve: secret hygiene", function () {
  after(cleanupTemp);

  it("with AZURE_LOG_LEVEL=verbose, neither the server nor its clients put a secret or a token on stderr", async () => {
    const env = cleanEnv({ AZURE_LOG_LEVEL: "verbose" });
    const child = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    try {
      const first = await firstLines(child, 1);
      const info = JSON.parse(first.lines[0]) as ServeJson;
      const secrets = [info.env.IDENTITY_HEADER, info.env.MSI_SECRET].filter((v): v is string => typeof v === "string");
      assert.equal(secrets.length, 2);
      const runs = await Promise.all(
        (["appService", "imds", "machineLearning", "cloudShell"] as const).map((d) =>
          runAzmi(["token", "--verbose", "--only", "managed-identity"], cleanEnv({ ...info.dialects[d], AZURE_LOG_LEVEL: "verbose" })),
        ),
      );
      runs.push(await runAzmi(["env", "--shell", "docker"], env));
      const tokens = runs.slice(0, 4).map((r) => {
        assert.equal(r.code, 0, r.stderr);
        return (JSON.parse(r.stdout) as { access_token: string }).access_token;
      });
      child.kill("SIGTERM");
      assert.deepEqual(await exited(child), { code: 0, signal: null });
      const stderrs = [first.stderr(), ...runs.map((r) => r.stderr)];
      assert.match(runs[0].stderr, /azmi:(info|verbose)/, "logging was on");
      for (const text of stderrs) {
        for (const secret of [...secrets, ...tokens]) assert.ok(!text.includes(secret), `secret on stderr: ${text.slice(0, 200)}`);
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});

describe("azmi serve: start-up failures and warnings", function () {
  after(cleanupTemp);

  it("port in use: one clear line naming the address, exit 1", async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const r = await runAzmi(["serve", "--port", String(port)]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^azmi serve: .*127\\.0\\.0\\.1:${port}.*\\n$`));
      assert.equal(r.stderr.split("\n").length, 2, "one line");
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it("a non-loopback --host gets a warning on stderr; azmi env --shell docker then needs no note; SIGINT exits 0", async () => {
    const env = cleanEnv();
    const child = spawnNode(AZMI_BIN, ["serve", "--host", "0.0.0.0", "--json"], env);
    try {
      const first = await firstLines(child, 1);
      const info = JSON.parse(first.lines[0]) as ServeJson;
      assert.equal(info.host, "0.0.0.0");
      // The warning is written before the JSON line, but on another pipe: wait for it.
      await until(() => first.stderr().includes("\n"));
      assert.match(first.stderr(), /^azmi serve: warning: .*(other machines|containers).*\n$/);
      const docker = await runAzmi(["env", "--shell", "docker"], env);
      assert.equal(docker.code, 0, docker.stderr);
      assert.equal(docker.stderr, "");
      assert.equal(docker.stdout, `--env-file ${path.join(env.AZMI_HOME!, "docker.env")} --add-host host.docker.internal:host-gateway\n`);
      assert.match(fs.readFileSync(path.join(env.AZMI_HOME!, "docker.env"), "utf8"), new RegExp(`^IDENTITY_ENDPOINT=http://host\\.docker\\.internal:${info.port}/`));
      child.kill("SIGINT");
      assert.deepEqual(await exited(child), { code: 0, signal: null });
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("started twice with one azmi folder: the second exits 1 naming the first, which keeps its state file (azmi env still finds it)", async () => {
    const env = cleanEnv();
    const first = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    try {
      const info = JSON.parse((await firstLines(first, 1)).lines[0]) as ServeJson;
      const second = await runAzmi(["serve"], env);
      assert.equal(second.code, 1, second.stderr);
      assert.equal(second.stdout, "");
      assert.match(second.stderr, new RegExp(`^azmi serve: cannot start: another azmi server \\(pid ${first.pid}\\) is running at ${info.url} .*AZMI_HOME=DIR.*\\n$`));
      // The advice names the command as it was run here (no \`azmi\` is on PATH in a checkout).
      assert.ok(second.stderr.includes(`AZMI_HOME=DIR ${HERE_CLI} serve (then ${HERE_CLI} env --home DIR finds it)`), second.stderr);
      const r = await runAzmi(["env"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^export IDENTITY_ENDPOINT='${info.url}/msi/token'$`, "m"));
      assert.match(fs.readFileSync(path.join(env.AZMI_HOME!, "docker.env"), "utf8"), new RegExp(`:${info.port}/msi/token\\n`));
    } finally {
      if (first.exitCode === null) first.kill("SIGKILL");
      await exited(first).catch(() => undefined);
    }
  });

  it("a state file left by kill -9 does not stop the next server from starting", async () => {
    const env = cleanEnv();
    const dead = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    await firstLines(dead, 1);
    dead.kill("SIGKILL");
    await exited(dead).catch(() => undefined);
    assert.ok(fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "kill -9 leaves the state file");
    const next = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    try {
      const info = JSON.parse((await firstLines(next, 1)).lines[0]) as ServeJson;
      const r = await runAzmi(["env"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^export IDENTITY_ENDPOINT='${info.url}/msi/token'$`, "m"));
      next.kill("SIGTERM");
      assert.deepEqual(await exited(next), { code: 0, signal: null });
    } finally {
      if (next.exitCode === null) next.kill("SIGKILL");
    }
  });

  it("stdout that cannot take the start-up text (a full disk: /dev/full): the server stops, says so, and leaves no state file", async function () {
    if (!fs.existsSync("/dev/full")) this.skip();
    for (const args of [["serve", "--json"], ["serve"]]) {
      const env = cleanEnv();
      const full = fs.openSync("/dev/full", "w");
      try {
        const child = spawn(process.execPath, [AZMI_BIN, ...args], { env, stdio: ["ignore", full, "pipe"] });
        let stderr = "";
        child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const { code } = await exited(child);
        assert.equal(code, 1, stderr);
        assert.match(stderr, /^azmi serve: cannot write the start-up text to stdout \(ENOSPC: .*\); the server was stopped\n$/);
        assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), `${args.join(" ")}: no state file left behind`);
      } finally {
        fs.closeSync(full);
      }
    }
  });

  it("a reader that goes away before the start-up text (EPIPE): the server stops quietly (exit 0) and leaves no state file", async () => {
    const env = cleanEnv();
    const child = spawn(process.execPath, [AZMI_BIN, "serve", "--json"], { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.destroy(); // the read end closes before the server writes
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    assert.deepEqual(await exited(child), { code: 0, signal: null });
    assert.equal(stderr, "");
    assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "no state file left behind");
  });

  it("azmi env with no server ever started: exit 3", async () => {
    const env = cleanEnv();
    const r = await runAzmi(["env", "--shell", "pwsh"], env);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [3, "", `azmi env: no azmi server is running with its state in ${env.AZMI_HOME} (this user's azmi folder, from AZMI_HOME); start one with \`${HERE_CLI} serve\`\n`],
    );
    // Without AZMI_HOME, the folder named is the default one, under HOME.
    const byDefault = cleanEnv({ AZMI_HOME: undefined });
    const d = await runAzmi(["env"], byDefault);
    assert.deepEqual([d.code, d.stderr], [3, `azmi env: no azmi server is running with its state in ${path.join(byDefault.HOME!, ".azmi")} (this user's azmi folder); start one with \`${HERE_CLI} serve\`\n`]);
  });
});

describe("azmi serve: readable start-up text (stdout piped, as under systemd, docker, CI or tee)", function () {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited(child).catch(() => undefined);
      }
    }
  });
  after(cleanupTemp);

  const jose = async () => (await (new Function("m", "return import(m)") as (m: string) => Promise<unknown>)("jose")) as typeof import("jose");

  it("names every dialect's variables and shows only non-secret values; no secret value anywhere; the printed eval line (with --home for this AZMI_HOME) gives real @azure/identity a token", async () => {
    const env = cleanEnv();
    env.AZMI_HOME = path.join(env.HOME!, "custom-azmi");
    installShims(env);
    // Run as `azmi serve` (the bin link on PATH), as a user with azmi installed does.
    const child = spawn("azmi", ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    const text = await readableStartup(child);
    const state = readState(env.AZMI_HOME!);
    const secrets = new SecretSet().add("IDENTITY_HEADER", state.env.IDENTITY_HEADER).add("MSI_SECRET", state.env.MSI_SECRET);
    assert.equal(secrets.size, 2);
    assert.deepEqual([...secrets.leaks("stdout", text.stdout), ...secrets.leaks("stderr", text.stderr())], []);

    const home = env.AZMI_HOME!;
    assert.equal(loadLine(text.stdout, "bash/zsh"), `eval "$(azmi env --home ${home})"`);
    assert.equal(loadLine(text.stdout, "PowerShell"), `azmi env --shell pwsh --home ${home} | Invoke-Expression`);
    assert.equal(
      loadLine(text.stdout, "Scripts"),
      "azmi serve --json prints them with the values, secrets included (never log that)",
    );
    const appService = text.stdout.slice(text.stdout.indexOf("# app-service — "), text.stdout.indexOf("# imds — "));
    assert.equal(
      appService.split("\n").slice(1).join("\n"),
      [
        `#   IDENTITY_ENDPOINT=${state.dialects.appService!.IDENTITY_ENDPOINT}`,
        "#   IDENTITY_HEADER (secret, not shown)",
        `#   eval "$(azmi env --home ${home})"`,
        "",
        "",
      ].join("\n"),
    );
    assert.match(text.stdout, /^#   MSI_SECRET \(secret, not shown\)$/m);
    assert.match(text.stdout, new RegExp(`^#   eval "\\$\\(azmi env --dialect imds --home ${home}\\)"$`, "m"));
    assert.ok(!/^export /m.test(text.stdout), "no export lines");

    // The printed line, run by a real bash with another AZMI_HOME, still finds THIS server (--home).
    const other = { ...env, AZMI_HOME: path.join(env.HOME!, "elsewhere") };
    const r = await runInBash(`${loadLine(text.stdout, "bash/zsh")} && ${identityTokenScript("https://vault.azure.net/.default")}`, other);
    assert.equal(r.code, 0, r.stderr);
    const issuer = /^Token issuer: (\S+)$/m.exec(text.stdout)![1]!;
    const jwks = /^JWKS: +(\S+)$/m.exec(text.stdout)![1]!;
    const j = await jose();
    await j.jwtVerify(r.stdout, j.createRemoteJWKSet(new URL(jwks)), { issuer, audience: "https://vault.azure.net" });

    // The IMDS dialect's printed line too, with azmi token.
    const imds = await runInBash(`unset AZURE_POD_IDENTITY_AUTHORITY_HOST; ${dialectLoadLine(text.stdout, "imds")} && azmi token --only managed-identity --output raw`, other);
    assert.equal(imds.code, 0, imds.stderr);
    assert.match(imds.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);

    child.kill("SIGINT");
    assert.deepEqual(await exited(child), { code: 0, signal: null });
  });

  it("with the default azmi folder (~/.azmi) the printed line is plain `eval \"$(azmi env)\"` and works", async () => {
    const env = cleanEnv({ AZMI_HOME: undefined });
    installShims(env);
    const child = spawn("azmi", ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    const text = await readableStartup(child);
    assert.equal(loadLine(text.stdout, "bash/zsh"), 'eval "$(azmi env)"');
    assert.equal(loadLine(text.stdout, "PowerShell"), "azmi env --shell pwsh | Invoke-Expression");
    assert.equal(dialectLoadLine(text.stdout, "cloud-shell"), 'eval "$(azmi env --dialect cloud-shell)"');
    const state = readState(path.join(env.HOME!, ".azmi"));
    const r = await runInBash(`${loadLine(text.stdout, "bash/zsh")} && printf '%s\\n%s' "$IDENTITY_ENDPOINT" "$IDENTITY_HEADER"`, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${state.dialects.appService!.IDENTITY_ENDPOINT}\n${state.dialects.appService!.IDENTITY_HEADER}`);
    assert.ok(!text.stdout.includes(state.env.IDENTITY_HEADER!));
  });


  it("run as `node bin/azmi.js serve` (a fresh clone: no azmi on PATH), it prints `node <absolute path>/bin/azmi.js env …`, which works from another shell's folder; advice for this shell stays relative, and `npx azmi` only there", async () => {
    const env = cleanEnv();
    env.AZMI_HOME = path.join(env.HOME!, "custom-azmi");
    const child = spawn(process.execPath, [path.relative(process.cwd(), AZMI_BIN), "serve"], { env, cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    const text = await readableStartup(child);
    // Absolute: the lines are for other shells, which may start in another folder (a relative one failed there).
    const cli = `node ${AZMI_BIN}`;
    assert.equal(loadLine(text.stdout, "bash/zsh"), `eval "$(${cli} env --home ${env.AZMI_HOME})"`);
    assert.equal(loadLine(text.stdout, "PowerShell"), `${cli} env --shell pwsh --home ${env.AZMI_HOME} | Invoke-Expression`);
    const state = readState(env.AZMI_HOME!);
    const r = await runInBash(`${loadLine(text.stdout, "bash/zsh")} && printf %s "$IDENTITY_HEADER"`, { ...env, PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` }, 30_000, env.HOME);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, state.dialects.appService!.IDENTITY_HEADER);
    child.kill("SIGINT");
    assert.deepEqual(await exited(child), { code: 0, signal: null });
    // Installed: a bin link in a PATH folder.
    const bin = tempDir("azmi-bin-");
    fs.symlinkSync(AZMI_BIN, path.join(bin, "azmi"));
    assert.equal(howThisCliWasRun(path.join(bin, "azmi"), { PATH: `/usr/bin:${bin}` }), "azmi");
    // The same link not on PATH (./node_modules/.bin/azmi): the file it points at, through node.
    assert.equal(howThisCliWasRun(path.join(bin, "azmi"), { PATH: "/usr/bin" }), `node ${path.relative(process.cwd(), AZMI_BIN)}`);
    // npx: only for a link npx runs, not for every process started under npx.
    assert.equal(howThisCliWasRun("/root/.npm/_npx/1f2e/node_modules/.bin/azmi", { npm_command: "exec" }), "npx azmi");
    assert.equal(howThisCliWasRun(AZMI_BIN, { npm_command: "exec" }), `node ${path.relative(process.cwd(), AZMI_BIN)}`);
    // A path a shell would split or expand is single-quoted.
    assert.equal(howThisCliWasRun("/opt/my tools/$HOME/bin/azmi.js", {}), "node '/opt/my tools/$HOME/bin/azmi.js'");
    // A quote inside: double quotes while nothing in the path expands in them (both shells), else bash's '…'\''…'.
    assert.equal(howThisCliWasRun("/home/o'brien/azmi/bin/azmi.js", {}), `node "/home/o'brien/azmi/bin/azmi.js"`);
    assert.equal(howThisCliWasRun("/home/o'brien/$dev/azmi.js", {}), `node '/home/o'\\''brien/$dev/azmi.js'`);
    for (const odd of ["/home/o'brien/azmi/bin/azmi.js", "/home/o'brien/$dev/`x`/azmi.js", "/opt/my tools/$HOME/bin/azmi.js"]) {
      const printed = howThisCliWasRun(odd, {}).slice("node ".length);
      const r = spawnSync("/bin/bash", ["-c", `printf %s ${printed}`], { encoding: "utf8" });
      assert.equal(r.stdout, odd, `bash reads ${printed} as the path`);
    }
    // For another shell: absolute, and never `npx azmi` (elsewhere npx would look azmi up in the registry).
    assert.equal(howThisCliWasRun(AZMI_BIN, {}, "any"), `node ${AZMI_BIN}`);
    assert.equal(howThisCliWasRun(path.join(bin, "azmi"), { PATH: `/usr/bin:${bin}` }, "any"), "azmi");
    assert.equal(howThisCliWasRun("/root/.npm/_npx/1f2e/node_modules/.bin/azmi", { npm_command: "exec" }, "any"), "node /root/.npm/_npx/1f2e/node_modules/.bin/azmi");
    // npm run too puts node_modules/.bin on its own PATH only: advice for the user's shell says `npx azmi`.
    const npmRunBin = path.join(bin, "node_modules", ".bin");
    assert.equal(howThisCliWasRun(path.join(npmRunBin, "azmi"), { npm_command: "run-script", PATH: `${npmRunBin}:/usr/bin` }), "npx azmi");
    // npx puts its node_modules/.bin on this process's PATH only: not a bare `azmi` another shell lacks.
    assert.equal(howThisCliWasRun(path.join(bin, "node_modules", ".bin", "azmi"), { npm_command: "exec", PATH: `${path.join(bin, "node_modules", ".bin")}:/usr/bin` }, "any"), `node ${path.join(bin, "node_modules", ".bin", "azmi")}`);
  });
  it("--json still carries the values (secrets included) that the readable text leaves out", async () => {
    const env = cleanEnv();
    const child = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    children.push(child);
    const info = JSON.parse((await firstLines(child, 1)).lines[0]!) as ServeJson;
    const state = readState(env.AZMI_HOME!);
    assert.equal(info.env.IDENTITY_HEADER, state.env.IDENTITY_HEADER);
    assert.equal(info.dialects.machineLearning!.MSI_SECRET, state.env.MSI_SECRET);
    assert.match(info.env.IDENTITY_HEADER!, /^[0-9a-f]{32,}$/);
  });

  it("azmi env --home DIR reads that folder's server; with nothing there it names the folder (exit 3)", async () => {
    const env = cleanEnv();
    const child = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    children.push(child);
    const info = JSON.parse((await firstLines(child, 1)).lines[0]!) as ServeJson;
    const elsewhere = cleanEnv();
    const r = await runAzmi(["env", "--home", env.AZMI_HOME!, "--dialect", "imds"], elsewhere);
    assert.deepEqual([r.code, r.stderr], [0, ""]);
    assert.match(r.stdout, new RegExp(`^unset [A-Z_ ]+\\nexport AZURE_POD_IDENTITY_AUTHORITY_HOST='${info.url}'\\n$`));
    const empty = path.join(elsewhere.HOME!, "nothing-here");
    const none = await runAzmi(["env", "--home", empty], elsewhere);
    assert.deepEqual(
      [none.code, none.stdout, none.stderr],
      [3, "", `azmi env: no azmi server is running with its state in ${empty}; start one with \`${HERE_CLI} serve\`, or check --home\n`],
    );
    const blank = await runAzmi(["env", "--home", ""], elsewhere);
    assert.deepEqual([blank.code, blank.stdout, blank.stderr], [2, "", "azmi env: --home needs a non-empty value; pass it as --home DIR\n"]);
  });
});
