/**
 * `npm start` (`node dist/src/cli/start.js`): starts the offline endpoint,
 * fetches a token through the chain against it, prints it in MSI shape (the
 * token itself only on a terminal), how other shells load the variables and
 * their names (containers: a docker line naming the env file it wrote; never
 * a secret value), serves until SIGINT, exits 0.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { SecretSet } from "../hygiene/secrets";
import { cleanEnv, cleanupTemp, collect, exited, ROOT, spawnNode, START_JS, until } from "./support";
import { installShims, loadLine, readableStartup, readState, runInBash } from "./startup-text";

/** The pid `npm start`'s server wrote into its state file. */
function serverPidIn(home: string): number {
  return (JSON.parse(fs.readFileSync(path.join(home, "serve.json"), "utf8")) as { pid: number }).pid;
}

/** Wait until `pid` is gone (an orphaned server must stop by itself). */
async function gone(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await until(() => !alive(), 10_000);
}

/** Kill what a test left running (nothing, when it passed). */
function killAll(...pids: Array<number | undefined>): void {
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
}

describe("npm start", function () {
  after(cleanupTemp);

  it("piped stdout: the token's metadata with access_token redacted, load commands and variable names but no secret value; the printed eval line works; exits 0 on SIGINT", async () => {
    // Competing identity configuration in the user's shell must not win over the local endpoint.
    const env = cleanEnv({ MSI_ENDPOINT: "http://127.0.0.1:9/nothing", AZURE_TOKEN_CREDENTIALS: "dev" });
    env.AZMI_HOME = path.join(env.HOME!, "custom-azmi");
    installShims(env);
    const child = spawnNode(START_JS, [], env);
    try {
      const text = await readableStartup(child);
      const out = text.stdout;
      const err = text.stderr();

      const [first] = out.split("\n");
      const msi = JSON.parse(first!) as Record<string, string>;
      assert.deepEqual(Object.keys(msi), ["access_token", "expires_in", "expires_on", "not_before", "resource", "token_type", "client_id"]);
      assert.equal(msi.resource, "https://management.azure.com/");
      assert.equal(msi.token_type, "Bearer");
      assert.match(msi.expires_on!, /^\d{10}$/);
      assert.match(msi.client_id!, /^[0-9a-f-]{36}$/);
      const redacted = /^<redacted: (\d+) chars; use azmi token to print it>$/.exec(msi.access_token!);
      assert.ok(redacted, msi.access_token);
      assert.ok(Number(redacted[1]) > 100, "the length of a real JWT");
      assert.ok(!/eyJ[\w-]+\.[\w-]+\.[\w-]+/.test(out + err), "no JWT anywhere");
      assert.match(err, /^azmi: token for https:\/\/management\.azure\.com\/ fetched through the chain \(managed-identity: .*, [\d.]+ ms\):$/m);

      // No secret value in the text; the server's secrets are in its state file.
      const state = readState(env.AZMI_HOME!);
      const port = /managed-identity endpoint at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      assert.ok(port, out);
      const header = state.env.IDENTITY_HEADER!;
      const secrets = new SecretSet().add("IDENTITY_HEADER", header).add("MSI_SECRET", state.env.MSI_SECRET);
      assert.deepEqual([...secrets.leaks("stdout", out), ...secrets.leaks("stderr", err)], []);
      assert.match(out, /^# app-service — /m);
      assert.match(out, new RegExp(`^#   IDENTITY_ENDPOINT=http://127\\.0\\.0\\.1:${port}/msi/token$`, "m"));
      assert.match(out, /^#   IDENTITY_HEADER \(secret, not shown\)$/m);
      // Absolute: the lines are for other shells, which may start in another folder.
      const cli = `node ${path.join(ROOT, "bin/azmi.js")}`;
      assert.equal(loadLine(out, "bash/zsh"), `eval "$(${cli} env --home ${env.AZMI_HOME})"`);
      assert.equal(loadLine(out, "PowerShell"), `${cli} env --shell pwsh --home ${env.AZMI_HOME} | Invoke-Expression`);

      // The printed line, run by a real bash in another folder (and with another AZMI_HOME), points azmi token at this server.
      const other = { ...env, AZMI_HOME: path.join(env.HOME!, "elsewhere") };
      const viaLine = await runInBash(`${loadLine(out, "bash/zsh")} && [ "$IDENTITY_HEADER" = '${header}' ] && azmi token --only managed-identity --output raw`, other, 30_000, env.HOME);
      assert.equal(viaLine.code, 0, viaLine.stderr);
      assert.match(viaLine.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);

      // Containers: the docker line names the owner-only env file npm start wrote; the secret is only in there.
      const file = path.join(env.AZMI_HOME!, "docker.env");
      const containers = out.slice(out.indexOf("Containers ("));
      assert.equal(
        containers,
        [
          "Containers (App Service dialect; the variables, secret included, are in an owner-only env file that each new server rewrites):",
          `  docker run --env-file ${file} --add-host host.docker.internal:host-gateway IMAGE`,
          "  (a container cannot reach 127.0.0.1: restart with `npm start -- --host 0.0.0.0` (with your other flags) first)",
          "Press Ctrl-C to stop.",
          "",
        ].join("\n"),
      );
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(
        fs.readFileSync(file, "utf8"),
        `IDENTITY_ENDPOINT=http://host.docker.internal:${port}/msi/token\nIDENTITY_HEADER=${header}\n`,
      );

      child.kill("SIGINT");
      assert.deepEqual(await exited(child), { code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });

  it("started by npm, it stops when npm's shell is killed alone (as a SIGTERM to npm does), instead of serving on under pid 1", async () => {
    const env = cleanEnv({ npm_lifecycle_event: "start" });
    // As npm runs a script: through a shell that does not pass signals on (the trailing
    // command keeps the shell from exec'ing node in its place).
    const shell = spawn("/bin/sh", ["-c", `"${process.execPath}" "${START_JS}"; exit $?`], { env, stdio: ["ignore", "pipe", "pipe"] });
    let serverPid: number | undefined;
    try {
      const text = await readableStartup(shell);
      serverPid = serverPidIn(env.AZMI_HOME!);
      assert.notEqual(serverPid, shell.pid, "the server is the shell's child");
      shell.kill("SIGTERM");
      await exited(shell);
      await gone(serverPid);
      assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "its state file is gone");
      assert.match(text.stderr(), /^azmi start: the process that started this one \(pid \d+, npm's shell\) has ended; stopping the endpoint$/m);
    } finally {
      killAll(shell.exitCode === null ? shell.pid : undefined, serverPid);
    }
  });

  it("started by npm, it stops when npm is killed with SIGKILL (its shell lives on, waiting), on Linux", async function () {
    if (process.platform !== "linux") this.skip();
    const env = cleanEnv({ npm_lifecycle_event: "start" });
    // A stand-in for npm: a Node script named npm that runs the start script through a shell, as npm does.
    const npm = path.join(env.HOME!, "npm");
    fs.writeFileSync(
      npm,
      // (npm titles itself: its /proc cmdline then reads "npm start".)
      `#!${process.execPath}\nprocess.title = "npm start";\nrequire("node:child_process").spawn("/bin/sh", ["-c", ${JSON.stringify(`"${process.execPath}" "${START_JS}"; exit $?`)}], { stdio: "inherit" });\n`,
      { mode: 0o755 },
    );
    const fakeNpm = spawn(npm, [], { env, stdio: ["ignore", "pipe", "pipe"] });
    let serverPid: number | undefined;
    try {
      const text = await readableStartup(fakeNpm);
      serverPid = serverPidIn(env.AZMI_HOME!);
      fakeNpm.kill("SIGKILL");
      await exited(fakeNpm);
      await gone(serverPid);
      assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "its state file is gone");
      assert.match(text.stderr(), new RegExp(`^azmi start: the process that started this one \\(pid ${fakeNpm.pid}, npm\\) has ended; stopping the endpoint$`, "m"));
    } finally {
      killAll(fakeNpm.exitCode === null ? fakeNpm.pid : undefined, serverPid);
    }
  });

  it("SIGHUP (a closed terminal) stops it cleanly: exit 0, state file removed", async () => {
    const env = cleanEnv();
    const child = spawnNode(START_JS, [], env);
    try {
      await readableStartup(child);
      child.kill("SIGHUP");
      assert.deepEqual(await exited(child), { code: 0, signal: null });
      assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "its state file is gone");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("on a terminal (a pty from script(1)) it prints the token in full, as the README shows", async function () {
    if (!fs.existsSync("/usr/bin/script")) this.skip();
    const env = cleanEnv();
    const log = path.join(env.HOME!, "typescript");
    // script(1) gives npm start a pty; the typescript file records what the terminal showed.
    const child = spawn("/usr/bin/script", ["-qfec", `"${process.execPath}" "${START_JS}"`, log], { env, stdio: ["ignore", "pipe", "pipe"] });
    try {
      await until(() => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("Press Ctrl-C to stop."), 20_000);
      const shown = fs.readFileSync(log, "utf8");
      const token = /"access_token":"([^"]+)"/.exec(shown)?.[1];
      assert.ok(token, shown.slice(0, 400));
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.ok(!shown.includes(readState(env.AZMI_HOME!).env.IDENTITY_HEADER!), "the header secret is not shown on a terminal either");
    } finally {
      child.kill("SIGINT");
      await exited(child).catch(() => undefined);
    }
  });

  it("--allow-host NAME reaches the server: a request by that Host gets a token, another name is refused", async () => {
    const env = cleanEnv();
    const child = spawnNode(START_JS, ["--allow-host", "azmi-start.test,other-start.test"], env);
    try {
      const text = await readableStartup(child);
      const port = Number(/managed-identity endpoint at http:\/\/127\.0\.0\.1:(\d+)/.exec(text.stdout)?.[1]);
      assert.ok(port > 0, text.stdout);
      const header = readState(env.AZMI_HOME!).env.IDENTITY_HEADER!;
      const ask = (host: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.get(
            { host: "127.0.0.1", port, path: "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net", headers: { Host: host, "X-IDENTITY-HEADER": header } },
            (res) => {
              let body = "";
              res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode!, body }));
            },
          );
          req.on("error", reject);
        });
      for (const host of [`azmi-start.test:${port}`, "other-start.test"]) {
        const ok = await ask(host);
        assert.equal(ok.status, 200, `${host}: ${ok.body}`);
        assert.equal((JSON.parse(ok.body) as { resource: string }).resource, "https://vault.azure.net");
      }
      const refused = await ask(`not-allowed.test:${port}`);
      assert.equal(refused.status, 400);
      assert.match((JSON.parse(refused.body) as { error_description: string }).error_description, /unless started with --allow-host NAME$/);
    } finally {
      child.kill("SIGINT");
      await exited(child).catch(() => undefined);
    }
  });

  it("stdout that cannot take its text (/dev/full; a reader gone: EPIPE): the server stops, no state file is left (exit 1 saying so; exit 0 quietly)", async function () {
    if (!fs.existsSync("/dev/full")) this.skip();
    const env = cleanEnv();
    const full = fs.openSync("/dev/full", "w");
    try {
      const child = spawn(process.execPath, [START_JS], { env, stdio: ["ignore", full, "pipe"] });
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      assert.equal((await exited(child)).code, 1, stderr);
      assert.match(stderr, /^azmi start: cannot write the start-up text to stdout \(ENOSPC: .*\); the server was stopped$/m);
      assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "no state file after ENOSPC");
    } finally {
      fs.closeSync(full);
    }
    const gone = spawn(process.execPath, [START_JS], { env, stdio: ["ignore", "pipe", "pipe"] });
    gone.stdout!.destroy();
    assert.deepEqual(await exited(gone), { code: 0, signal: null });
    assert.ok(!fs.existsSync(path.join(env.AZMI_HOME!, "serve.json")), "no state file after EPIPE");
  });

  it("another server on the same azmi folder: exit 1, advice in npm start's terms (AZMI_HOME=DIR npm start), not azmi serve's", async () => {
    const env = cleanEnv();
    const first = spawnNode(START_JS, [], env);
    try {
      await readableStartup(first);
      const second = await collect(spawnNode(START_JS, [], env));
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, /^azmi start: another azmi server \(pid \d+\) is running at http:\/\/127\.0\.0\.1:\d+ with the same state file \(.*serve\.json\)\. Stop it first \(Ctrl-C where it runs\), or give this one its own folder: AZMI_HOME=DIR npm start \(then node \/\S+\/bin\/azmi\.js env --home DIR finds it\)\.$/m);
      assert.doesNotMatch(second.stderr, /azmi serve\b/);
    } finally {
      first.kill("SIGTERM");
      await exited(first);
    }
  });

  it("a bad --allow-host exits 2 with one line naming the flag, before the server starts", async () => {
    const env = cleanEnv();
    const r = await collect(spawnNode(START_JS, ["--allow-host", "*.test"], env));
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", `azmi start: --allow-host: "*.test" has a wildcard; list each name (a wildcard would let a web page re-bind a name of its own to this server)\n`],
    );
    assert.deepEqual(fs.existsSync(env.AZMI_HOME!) ? fs.readdirSync(env.AZMI_HOME!).filter((f) => f !== "cache") : [], [], "no key, no state file");
  });

  it("--host must include loopback (the token is fetched over loopback): exit 2", async () => {
    const r = await collect(spawnNode(START_JS, ["--host", "10.0.0.1"], cleanEnv()));
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", "azmi start: --host must be a loopback address or 0.0.0.0 / :: (the token is fetched over loopback); got '10.0.0.1'\n"],
    );
  });

  it("an unknown flag points at npm start's own help (there is no `azmi start` command)", async () => {
    const r = await collect(spawnNode(START_JS, ["--json"], cleanEnv()));
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, "", "azmi start: unknown flag --json (see 'npm start -- --help')\n"]);
    const stray = await collect(spawnNode(START_JS, ["8080"], cleanEnv()));
    assert.deepEqual(
      [stray.code, stray.stdout, stray.stderr],
      [2, "", "azmi start: unexpected argument '8080'; every value belongs to a flag, e.g. --resource URI (see 'npm start -- --help')\n"],
    );
  });

  it("a bad --resource exits 2 before the server starts (no signing key, no state file)", async () => {
    const env = cleanEnv();
    const r = await collect(spawnNode(START_JS, ["--resource", "a b"], env));
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^azmi start: --resource 'a b' contains a space at position 2\. .*\n$/);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.deepEqual(fs.existsSync(env.AZMI_HOME!) ? fs.readdirSync(env.AZMI_HOME!).filter((f) => f !== "cache") : [], []);
  });

  it("bad input exits 2 with one line", async () => {
    const r = await collect(spawnNode(START_JS, ["--port", "x"], cleanEnv()));
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", "azmi start: --port must be a whole number between 0 and 65535 (got 'x')\n"],
    );
  });
});
