/**
 * Issue 4 follow-up: no identity secret on a docker command line. Real
 * processes only: `azmi serve` (bound to 0.0.0.0, as a server for containers
 * must be), `azmi env --shell docker|compose`, and a stand-in `docker` on
 * PATH, run by a real bash exactly as the help says
 * (`docker run $(azmi env --shell docker) IMAGE`). The stand-in loads
 * `--env-file` with docker's documented rules, maps `--add-host` names the
 * way the container's /etc/hosts would, and runs the "image" — a Node client
 * (`@azure/identity` ManagedIdentityCredential, or `azmi token`) — with
 * exactly that environment; its token is verified against the served JWKS.
 * While it runs, its command line is read from /proc and `ps`: no secret.
 */
import * as assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { AZMI_BIN, ROOT, cleanEnv, cleanupTemp, collect, exited, firstLines, runAzmi, spawnNode, tempDir, until } from "./support";
import { formatLeaks, SecretSet } from "../hygiene/secrets";
import type { ServeJson } from "../../src/cli/serve";
import { readState } from "./startup-text";

/**
 * `docker run --env-file` as docker documents it: one variable per line;
 * leading whitespace ignored; blank lines and lines starting with `#`
 * skipped; `NAME=VALUE` sets NAME to VALUE taken literally (no quote
 * removal, no trimming, no `export`, `#` inside a value is part of it); a
 * bare `NAME` takes the value from the caller's environment if set; a name
 * with whitespace, or none, is an error. Self-contained: its source is also
 * injected into the stand-in docker.
 */
function parseDockerEnvFile(text: string, callerEnv: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, i) => {
    let line = raw.endsWith("\r") ? raw.slice(0, -1) : raw; // Go's line scanner drops a trailing CR
    if (i === 0 && line.startsWith("\ufeff")) line = line.slice(1);
    line = line.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = (eq < 0 ? line : line.slice(0, eq)).replace(/^[ \t]+/, "");
    if (/[ \t]/.test(name)) throw new Error(`variable '${name}' contains whitespaces`);
    if (name === "") throw new Error(`no variable name on line '${line}'`);
    if (eq >= 0) out[name] = line.slice(eq + 1);
    else if (callerEnv[name] !== undefined) out[name] = callerEnv[name]!;
  });
  return out;
}

/** The container variables the server expects: its App Service dialect with host.docker.internal. */
function containerVars(info: ServeJson): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(info.dialects.appService!)) out[k] = v.replace(/^http:\/\/(0\.0\.0\.0|127\.0\.0\.1)(?=:)/, "http://host.docker.internal");
  return out;
}

function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

/**
 * A bin folder with `azmi` (this checkout) and a stand-in `docker` whose
 * `run` understands --env-file, -e and --add-host, then runs the image's
 * command with exactly the container's environment, prints
 * `#container-exit N`, and stays alive until its stdin closes (so that its
 * command line can be inspected from outside, as `ps` would).
 */
function makeBin(): { bin: string; preload: string; client: string } {
  const dir = tempDir("azmi-docker-bin-");
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, "azmi"), `#!/bin/sh\nexec "${process.execPath}" "${AZMI_BIN}" "$@"\n`, { mode: 0o755 });

  // The container's /etc/hosts: names from --add-host resolve to the given
  // address; any other name (or non-loopback address) is refused here, so
  // nothing in the "container" can reach DNS or the network.
  const preload = path.join(dir, "etc-hosts.js");
  fs.writeFileSync(
    preload,
    `"use strict";
const dns = require("node:dns");
const net = require("node:net");
const hosts = JSON.parse(process.env.AZMI_TEST_ETC_HOSTS || "{}");
dns.lookup = function (host, opts, cb) {
  if (typeof opts === "function") { cb = opts; opts = {}; }
  let address = hosts[host];
  if (!address && net.isIPv4(host) && host.startsWith("127.")) address = host;
  if (!address) { const e = new Error("not in the test container's hosts: " + host); e.code = "ENOTFOUND"; process.nextTick(cb, e); return; }
  const family = net.isIPv6(address) ? 6 : 4;
  if (opts && opts.all) process.nextTick(cb, null, [{ address, family }]);
  else process.nextTick(cb, null, address, family);
};
`,
  );

  const client = path.join(dir, "identity-client.js");
  fs.writeFileSync(
    client,
    `"use strict";
const { ManagedIdentityCredential } = require(${JSON.stringify(require.resolve("@azure/identity", { paths: [ROOT] }))});
new ManagedIdentityCredential().getToken("https://vault.azure.net/.default").then(
  (t) => process.stdout.write(JSON.stringify({ token: t.token, header: process.env.IDENTITY_HEADER }) + "\\n"),
  (e) => { process.stderr.write(String(e && e.message) + "\\n"); process.exitCode = 1; },
);
`,
  );

  const images: Record<string, string[]> = {
    "identity-client": [process.execPath, client],
    "azmi-client": [process.execPath, AZMI_BIN, "token", "--only", "managed-identity", "--resource", "https://vault.azure.net", "--output", "raw"],
  };
  fs.writeFileSync(
    path.join(bin, "docker"),
    `#!${process.execPath}
"use strict";
const fs = require("node:fs");
const { spawn } = require("node:child_process");
${parseDockerEnvFile.toString()}
const IMAGES = ${JSON.stringify(images)};
const args = process.argv.slice(2);
const die = (m) => { process.stderr.write("docker (test stand-in): " + m + "\\n"); process.exit(125); };
if (args[0] !== "run") die("only 'run' is supported");
const env = {};
const hosts = {};
let i = 1;
for (; i < args.length && args[i].startsWith("-"); i++) {
  const flag = args[i];
  const value = args[++i];
  if (value === undefined) die(flag + " needs a value");
  if (flag === "--env-file") Object.assign(env, parseDockerEnvFile(fs.readFileSync(value, "utf8"), process.env));
  else if (flag === "-e") { const eq = value.indexOf("="); if (eq < 0) { if (process.env[value] !== undefined) env[value] = process.env[value]; } else env[value.slice(0, eq)] = value.slice(eq + 1); }
  else if (flag === "--add-host") { const c = value.indexOf(":"); const ip = value.slice(c + 1); hosts[value.slice(0, c)] = ip === "host-gateway" ? "127.0.0.1" : ip; }
  else die("unknown flag " + flag);
}
const image = IMAGES[args[i]];
if (!image) die("unknown image " + args[i]);
const home = fs.mkdtempSync(require("node:path").join(require("node:os").tmpdir(), "azmi-container-home-"));
// What docker adds (PATH, HOME), the /etc/hosts stand-in, and (network rule) IMDS never at its real address.
const containerEnv = { PATH: "/usr/bin:/bin", HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
  NODE_OPTIONS: "--require=" + ${JSON.stringify(preload)}, AZMI_TEST_ETC_HOSTS: JSON.stringify(hosts), ...env };
const c = spawn(image[0], image.slice(1), { env: containerEnv, stdio: ["ignore", "inherit", "inherit"] });
c.on("exit", (code) => {
  fs.rmSync(home, { recursive: true, force: true });
  process.stdout.write("#container-exit " + code + "\\n");
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(code === 0 ? 0 : 1));
});
`,
    { mode: 0o755 },
  );
  return { bin, preload, client };
}

async function verifyToken(token: string, info: ServeJson, audience: string): Promise<void> {
  // jose v5 is ESM-only: import it dynamically from this CommonJS test.
  const jose = (await (new Function("m", "return import(m)") as (m: string) => Promise<unknown>)("jose")) as typeof import("jose");
  const jwks = new URL(info.jwks_uri);
  jwks.hostname = "127.0.0.1"; // the server listens on 0.0.0.0; the test reaches it over loopback
  await jose.jwtVerify(token, jose.createRemoteJWKSet(jwks), { issuer: info.issuer, audience });
}

describe("azmi env --shell docker: the secret goes to an env file, never onto a command line", function () {
  let env: NodeJS.ProcessEnv;
  let server: ChildProcess;
  let info: ServeJson;
  let secrets: SecretSet;
  let bin: string;

  before(async () => {
    env = cleanEnv();
    // Containers reach the host through the docker bridge, so a server for them listens beyond loopback.
    server = spawnNode(AZMI_BIN, ["serve", "--json", "--host", "0.0.0.0", "--port", "0"], env);
    info = JSON.parse((await firstLines(server, 1)).lines[0]) as ServeJson;
    secrets = new SecretSet().add("IDENTITY_HEADER", info.env.IDENTITY_HEADER).add("MSI_SECRET", info.env.MSI_SECRET);
    assert.equal(secrets.size, 2);
    bin = makeBin().bin;
  });
  after(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill("SIGTERM");
      await exited(server).catch(() => undefined);
    }
    cleanupTemp();
  });

  it("prints only --env-file <file> and --add-host (no value), and the file is 0600 with exactly the variables", async () => {
    const r = await runAzmi(["env", "--shell", "docker"], env);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(env.AZMI_HOME!, "docker.env");
    assert.equal(r.stdout, `--env-file ${file} --add-host host.docker.internal:host-gateway\n`);
    assert.equal(r.stderr, "", "a server on 0.0.0.0 needs no note");
    const leaks = [...secrets.leaks("stdout", r.stdout), ...secrets.leaks("stderr", r.stderr)];
    assert.equal(leaks.length, 0, formatLeaks(leaks));

    assert.equal(modeOf(file), 0o600);
    assert.equal(modeOf(path.dirname(file)), 0o700);
    const vars = containerVars(info);
    assert.equal(fs.readFileSync(file, "utf8"), Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join(""));
    // Read back with docker's rules: the values the server expects, nothing else.
    const parsed = parseDockerEnvFile(fs.readFileSync(file, "utf8"), {});
    assert.deepEqual(parsed, vars);
    assert.equal(parsed.IDENTITY_HEADER, info.dialects.appService!.IDENTITY_HEADER);
    assert.equal(parsed.IDENTITY_ENDPOINT, `http://host.docker.internal:${info.port}/msi/token`);
    // No stray temp files left beside it by the atomic write.
    assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((f) => f.includes("docker.env")), ["docker.env"]);
  });

  it("--dialect NAME writes docker-NAME.env: the server's docker.env (App Service, as its start-up text says) is left alone", async () => {
    const appService = path.join(env.AZMI_HOME!, "docker.env");
    const before = fs.readFileSync(appService, "utf8");
    const r = await runAzmi(["env", "--shell", "docker", "--dialect", "imds"], env);
    assert.equal(r.code, 0, r.stderr);
    const imds = path.join(env.AZMI_HOME!, "docker-imds.env");
    assert.equal(r.stdout, `--env-file ${imds} --add-host host.docker.internal:host-gateway\n`);
    assert.equal(fs.readFileSync(imds, "utf8"), `AZURE_POD_IDENTITY_AUTHORITY_HOST=http://host.docker.internal:${info.port}\n`);
    assert.equal(modeOf(imds), 0o600);
    assert.equal(fs.readFileSync(appService, "utf8"), before, "docker.env still holds the App Service variables");
    const compose = await runAzmi(["env", "--shell", "compose", "--dialect", "cloud-shell"], env);
    assert.equal(compose.code, 0, compose.stderr);
    assert.match(compose.stdout, new RegExp(`- "${path.join(env.AZMI_HOME!, "docker-cloud-shell.env").replace(/[.\\/]/g, "\\$&")}"`));
    assert.equal(fs.readFileSync(appService, "utf8"), before);
  });

  it("the test's docker parser follows docker's rules (literal values, comments, BOM, bare names)", () => {
    assert.deepEqual(
      parseDockerEnvFile("\ufeffA=1\n  # comment\n\nB= 'quoted' # kept\n  C=x=y\r\nD\nE\n", { D: "from caller" }),
      { A: "1", B: " 'quoted' # kept", C: "x=y", D: "from caller" },
    );
    assert.throws(() => parseDockerEnvFile("A B=1\n", {}), /contains whitespaces/);
    assert.throws(() => parseDockerEnvFile("=1\n", {}), /no variable name/);
  });

  for (const image of ["identity-client", "azmi-client"]) {
    it(`\`docker run $(azmi env --shell docker) ${image}\` through bash: the container gets a token, and the docker command line (/proc, ps) holds no secret`, async () => {
      const bashEnv = { ...env, PATH: `${bin}:/usr/bin:/bin` };
      const docker = spawn("/bin/bash", ["-c", `exec docker run $(azmi env --shell docker) ${image}`], { env: bashEnv, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let err = "";
      docker.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
      docker.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
      try {
        await until(() => out.includes("#container-exit ") || docker.exitCode !== null, 25_000);
        assert.equal(docker.exitCode, null, `stand-in docker still running; stderr=${err}`);

        // What `ps` shows every user of the machine while the container runs.
        const argv = fs.readFileSync(`/proc/${docker.pid}/cmdline`, "utf8").split("\0").filter(Boolean);
        const file = path.join(env.AZMI_HOME!, "docker.env");
        assert.deepEqual(argv.slice(-6), ["run", "--env-file", file, "--add-host", "host.docker.internal:host-gateway", image]);
        const ps = spawnSync("ps", ["-ww", "-o", "args=", "-p", String(docker.pid)], { encoding: "utf8" });
        assert.equal(ps.status, 0, ps.stderr);
        assert.match(ps.stdout, /docker run --env-file \S+docker\.env --add-host host\.docker\.internal:host-gateway /);
        const leaks = [...secrets.leaks("/proc cmdline", argv.join(" ")), ...secrets.leaks("ps", ps.stdout), ...secrets.leaks("stderr", err)];
        assert.equal(leaks.length, 0, formatLeaks(leaks));

        assert.match(out, /#container-exit 0\n$/, `container failed: stdout=${out} stderr=${err}`);
        const first = out.split("\n")[0]!;
        const token = image === "identity-client" ? (JSON.parse(first) as { token: string; header: string }).token : first;
        if (image === "identity-client") {
          assert.equal((JSON.parse(first) as { header: string }).header, info.env.IDENTITY_HEADER, "the container saw the server's header");
        }
        await verifyToken(token, info, "https://vault.azure.net");
      } finally {
        docker.stdin!.end();
        const done = await exited(docker).catch(() => undefined);
        if (!done) docker.kill("SIGKILL");
      }
    });
  }

  it("--shell compose: env_file and extra_hosts entries naming the same 0600 file, no value", async () => {
    const r = await runAzmi(["env", "--shell", "compose"], env);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(env.AZMI_HOME!, "docker.env");
    assert.equal(r.stdout, `    env_file:\n      - "${file}"\n    extra_hosts:\n      - "host.docker.internal:host-gateway"\n`);
    assert.equal(secrets.leaks("compose stdout", r.stdout).length, 0);
    assert.equal(modeOf(file), 0o600);
    assert.deepEqual(parseDockerEnvFile(fs.readFileSync(file, "utf8"), {}), containerVars(info));
  });

  it("--file PATH (relative): created, or replacing a wider stale file, 0600 either way, printed as an absolute path", async () => {
    const dir = tempDir("azmi-envfile-");
    const stale = path.join(dir, "stale.env");
    fs.writeFileSync(stale, "STALE=1\n");
    fs.chmodSync(stale, 0o644);
    for (const name of ["new.env", "stale.env"]) {
      const target = path.join(dir, name);
      const r = await collect(spawn(process.execPath, [AZMI_BIN, "env", "--shell", "docker", "--file", name], { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] }));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `--env-file ${target} --add-host host.docker.internal:host-gateway\n`);
      assert.equal(modeOf(target), 0o600, name);
      assert.deepEqual(parseDockerEnvFile(fs.readFileSync(target, "utf8"), {}), containerVars(info), name);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), ["new.env", "stale.env"]);
  });

  it("--file in a folder that does not exist: exit 1, one line naming the path, no secret", async () => {
    const missing = path.join(tempDir("azmi-envfile-"), "no-such-dir", "azmi.env");
    const r = await runAzmi(["env", "--shell", "docker", "--file", missing], env);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [1, "", `azmi env: Cannot write the docker env file ${missing} (ENOENT); check that its folder exists and is yours, or name another with azmi env --file PATH.\n`],
    );
  });

  it("--file with a shell that prints values is a usage error (exit 2)", async () => {
    const r = await runAzmi(["env", "--shell", "bash", "--file", "x.env"], env);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", "azmi env: --file goes with --shell docker or --shell compose (got --shell bash, which prints the variables)\n"],
    );
  });

  it("--help says where the secret goes and when the file is rewritten", async () => {
    const r = await runAzmi(["env", "--help"], env);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--file PATH/);
    assert.match(r.stdout, /never onto the docker command line/);
    assert.match(r.stdout, /Each new server has\na new secret; 'azmi serve' and 'npm start' rewrite the default file when they\nstart; a file named with --file is rewritten only by running this command\nagain, so rerun it after restarting the server\./);
  });
});

describe("azmi serve: a new server rewrites the docker env file; its docker hint names the file", function () {
  after(cleanupTemp);

  it("each azmi serve writes its own secret to <AZMI_HOME>/docker.env at start, before any azmi env", async () => {
    const env = cleanEnv();
    const file = path.join(env.AZMI_HOME!, "docker.env");
    const children: ChildProcess[] = [];
    try {
      const infos: ServeJson[] = [];
      for (let i = 0; i < 2; i++) {
        const child = spawnNode(AZMI_BIN, ["serve", "--json", "--host", "0.0.0.0"], env);
        children.push(child);
        infos.push(JSON.parse((await firstLines(child, 1)).lines[0]) as ServeJson);
        assert.equal(modeOf(file), 0o600);
        assert.deepEqual(parseDockerEnvFile(fs.readFileSync(file, "utf8"), {}), containerVars(infos[i]!), `server ${i + 1}'s variables`);
        // One server per azmi folder at a time (a second one is refused): the next starts after this one stops.
        child.kill("SIGTERM");
        await exited(child);
      }
      assert.notEqual(infos[0]!.env.IDENTITY_HEADER, infos[1]!.env.IDENTITY_HEADER);
    } finally {
      for (const child of children) {
        child.kill("SIGTERM");
        await exited(child).catch(() => undefined);
      }
    }
  });

  it("azmi serve's start-up text: a docker run line with --env-file, no -e, no secret in the Containers section", async () => {
    const env = cleanEnv();
    const child = spawnNode(AZMI_BIN, ["serve"], env);
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    try {
      await until(() => out.includes("Press Ctrl-C to stop.\n") || child.exitCode !== null, 20_000);
      // The start-up text holds no secret value; the server's own copy is in its owner-only state file.
      const header = readState(env.AZMI_HOME!).env.IDENTITY_HEADER!;
      assert.match(header, /^[0-9a-f]{32,}$/);
      assert.ok(!out.includes(header), "no secret anywhere in the start-up text");
      const file = path.join(env.AZMI_HOME!, "docker.env");
      const containers = out.slice(out.indexOf("Containers ("));
      assert.equal(
        containers,
        [
          "Containers (App Service dialect; the variables, secret included, are in an owner-only env file that each new server rewrites):",
          `  docker run --env-file ${file} --add-host host.docker.internal:host-gateway IMAGE`,
          // The same command as the user ran (here `node <checkout>/bin/azmi.js`), never a bare `azmi` that is not on PATH.
          `  (a container cannot reach 127.0.0.1: restart with \`node ${AZMI_BIN} serve --host 0.0.0.0\` (with your other flags) first)`,
          "Press Ctrl-C to stop.",
          "",
        ].join("\n"),
      );
      assert.ok(!containers.includes(header));
      assert.equal(parseDockerEnvFile(fs.readFileSync(file, "utf8"), {}).IDENTITY_HEADER, header);
      assert.equal(modeOf(file), 0o600);
      child.kill("SIGINT");
      assert.deepEqual(await exited(child), { code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
