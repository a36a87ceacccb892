/**
 * Per-user files (issue 6 §5): what azmi writes under `$AZMI_HOME` is
 * owner-only even under `umask 000`, and holds no secret beyond the one it
 * documents (the local server's header secret, in the 0600 state file):
 * - the offline issuer key: `issuer/` 0700, `issuer/signing-key.pem` 0600;
 * - `serve.json` (0600) while `azmi serve` runs: the documented fields, its
 *   own header secret, no token it served, no upstream secret; gone after stop;
 * - `probe-memo.json` (0600): endpoint, time, reason — no secret from the
 *   environment.
 */
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { startFakeAppService } from "../fakes/appService";
import type { Fake } from "../fakes/common";
import { startRawServer, type RawServer } from "../fakes/rawServer";
import { DOCKER_UNREACHABLE_TEXT } from "../../src/serve/faults";
import { fakeSecret } from "../fakes/tokens";
import { AZMI_BIN, cleanEnv, cleanupTemp, exited, runAzmi, tempDir } from "../cli/support";
import { httpGet } from "../support/http";
import { formatLeaks, SecretSet } from "./secrets";

const mode = (p: string) => fs.statSync(p).mode & 0o777;
const octal = (m: number) => `0${m.toString(8)}`;

/**
 * The start-up code caches the CLI keeps in `<AZMI_HOME>/cache` (see
 * src/boot/bundle.ts): the folder 0700, every file 0600, finished `.v8`
 * files only (no temp file left by concurrent writers). Returns their contents.
 */
function checkCodeCache(home: string): string[] {
  const dir = path.join(home, "cache");
  if (!fs.existsSync(dir)) return [];
  assert.equal(octal(mode(dir)), "0700", "code cache folder");
  return fs.readdirSync(dir).map((name) => {
    assert.match(name, /\.v8$/, `only finished caches in ${dir}`);
    assert.equal(octal(mode(path.join(dir, name))), "0600", name);
    return fs.readFileSync(path.join(dir, name), "latin1");
  });
}

/** `azmi args` under `umask 000`, so only azmi's own modes protect its files. */
function spawnUnderUmask000(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawnNodeUnderUmask000([AZMI_BIN, ...args], env);
}

/** `node <nodeArgs>` under umask 000 (through sh, which sets it before exec). */
function spawnNodeUnderUmask000(nodeArgs: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn("/bin/sh", ["-c", 'umask 000; exec "$0" "$@"', process.execPath, ...nodeArgs], { env, stdio: ["ignore", "pipe", "pipe"] });
}

async function firstLine(child: ChildProcess): Promise<{ line: string; stderr: () => string }> {
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const deadline = Date.now() + 20_000;
  while (!out.includes("\n")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no first line; stdout=${out} stderr=${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { line: out.split("\n")[0]!, stderr: () => err };
}

/** The server's first stdout line, or, when it exits first, all it said on stderr. */
function startedOrRefused(child: ChildProcess): Promise<{ line: string } | { refused: string }> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no first line in 20 s; stdout=${out} stderr=${err}`)), 20_000);
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve({ line: out.split("\n")[0]! });
      }
    });
    // "close": after the exit and after every byte of its output.
    child.on("close", (code) => {
      clearTimeout(timer);
      if (out.includes("\n")) return;
      if (code === 1 && /another azmi server/.test(err)) resolve({ refused: err });
      else reject(new Error(`exited ${String(code)} without a first line; stdout=${out} stderr=${err}`));
    });
  });
}

describe("hygiene: per-user files are owner-only and hold only documented secrets", function () {
  this.timeout(60_000);
  let upstream: Fake & { secret: string };
  /**
   * An address where something answers the probe, but not IMDS (Docker
   * Desktop's 403 text): a negative probe that is remembered (a refused
   * connect, as at 127.0.0.1:9, is not).
   */
  let lookalike: RawServer;

  before(async () => {
    upstream = await startFakeAppService();
    lookalike = await startRawServer(() => ({
      status: 403,
      headers: { "Content-Type": "text/plain" },
      body: DOCKER_UNREACHABLE_TEXT,
    }));
  });
  after(async () => {
    await upstream.close();
    await lookalike.close();
    cleanupTemp();
  });

  for (const issuer of ["local", "chain"] as const) {
    it(`azmi serve --issuer ${issuer} under umask 000: folders 0700, key and state 0600, state holds only its own header secret, removed on stop`, async () => {
      const env = cleanEnv({ AZURE_LOG_LEVEL: "verbose", ...upstream.env });
      const home = env.AZMI_HOME!;
      assert.ok(!fs.existsSync(home), "starts without an azmi folder");
      const child = spawnUnderUmask000(["serve", "--json", "--issuer", issuer], env);
      try {
        const { line } = await firstLine(child);
        const info = JSON.parse(line) as { env: Record<string, string> };
        const own = info.env.IDENTITY_HEADER!;
        const served = await httpGet(`${info.env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.azure.net")}`, { "X-IDENTITY-HEADER": own });
        assert.equal(served.status, 200, served.body);
        const token = (JSON.parse(served.body) as { access_token: string }).access_token;

        assert.equal(octal(mode(home)), "0700", "AZMI_HOME");
        const state = path.join(home, "serve.json");
        assert.equal(octal(mode(state)), "0600", "serve.json");
        const text = fs.readFileSync(state, "utf8");
        const parsed = JSON.parse(text) as Record<string, unknown>;
        assert.deepEqual(
          Object.keys(parsed).sort(),
          ["url", "port", "host", "pid", "issuer", "oidcIssuer", "env", "dialects", "startedAt"].filter((k) => k in parsed).sort(),
          "only the documented fields",
        );
        assert.ok(text.includes(own), "the documented local header secret is there (azmi env needs it)");
        const secrets = new SecretSet()
          .add("token served", token)
          .add("upstream IDENTITY_HEADER", upstream.secret);
        for (const t of upstream.issued) secrets.add("upstream token", t);
        const leaks = secrets.leaks("serve.json", text);
        assert.equal(leaks.length, 0, formatLeaks(leaks));

        if (issuer === "local") {
          const dir = path.join(home, "issuer");
          assert.equal(octal(mode(dir)), "0700", "issuer/");
          assert.equal(octal(mode(path.join(dir, "signing-key.pem"))), "0600", "signing-key.pem");
          assert.deepEqual(fs.readdirSync(dir), ["signing-key.pem"], "no temp files left beside the key");
        } else {
          assert.ok(!fs.existsSync(path.join(home, "issuer")), "the chain issuer makes no key");
        }
        // Nothing else in the folder is group/other-accessible.
        for (const name of fs.readdirSync(home)) {
          const p = path.join(home, name);
          assert.equal(mode(p) & 0o077, 0, `${name} is ${octal(mode(p))}`);
        }
        child.kill("SIGTERM");
        assert.equal((await exited(child)).code, 0);
        assert.ok(!fs.existsSync(state), "serve.json removed when the server stops");
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL");
          await exited(child).catch(() => undefined);
        }
      }
    });
  }

  it("an issuer folder made too open by someone else is tightened to 0700", async () => {
    const env = cleanEnv();
    const dir = path.join(env.AZMI_HOME!, "issuer");
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o777);
    const child = spawnUnderUmask000(["serve", "--json"], env);
    try {
      await firstLine(child);
      assert.equal(octal(mode(dir)), "0700");
      assert.equal(octal(mode(path.join(dir, "signing-key.pem"))), "0600");
    } finally {
      child.kill("SIGTERM");
      await exited(child).catch(() => undefined);
    }
  });

  it("regression (found by this suite, fixed in f4dee8c): an existing signing key readable by group/others is tightened to 0600 (or refused with ERR_KEY_FILE), never used as is", async () => {
    // First run creates the key; then someone (a backup restore, a cp without -p) loosens it.
    const env = cleanEnv();
    const first = spawnUnderUmask000(["serve", "--json"], env);
    await firstLine(first);
    first.kill("SIGTERM");
    await exited(first);
    const key = path.join(env.AZMI_HOME!, "issuer", "signing-key.pem");
    fs.chmodSync(key, 0o644);
    const second = spawnUnderUmask000(["serve", "--json"], env);
    let started = false;
    let stderr = "";
    try {
      const r = await firstLine(second).then(
        (x) => ((started = true), x),
        (e: Error) => ((stderr = e.message), undefined),
      );
      if (r) stderr = r.stderr();
    } finally {
      if (second.exitCode === null && second.signalCode === null) {
        second.kill("SIGTERM");
        await exited(second).catch(() => undefined);
      }
    }
    if (started) assert.equal(octal(mode(key)), "0600", "a key any local user can read signs tokens local APIs trust");
    else assert.match(stderr, /ERR_KEY_FILE|signing key/, stderr);
  });

  it("four azmi serve started at once on a fresh AZMI_HOME: those that start share one signing key (0600), the others name the running server, no temp files, state stays 0600", async () => {
    const env = cleanEnv();
    const children = Array.from({ length: 4 }, () => spawnUnderUmask000(["serve", "--json"], env));
    try {
      // A server that finds another one's state file (a live server at its
      // url) refuses to start (by design: one state file, one server); which
      // of the four get that far first is timing.
      const outcomes = await Promise.all(children.map((child) => startedOrRefused(child)));
      const started = outcomes.flatMap((o) => ("line" in o ? [JSON.parse(o.line) as { jwks_uri: string }] : []));
      for (const o of outcomes) if ("refused" in o) assert.match(o.refused, /cannot start: another azmi server \(pid \d+\) is running at http:\/\/127\.0\.0\.1:\d+ with the same state file/);
      assert.ok(started.length >= 1, "none of the four started");
      const kids = await Promise.all(
        started.map(async (i) => {
          const jwks = await httpGet(i.jwks_uri, {});
          assert.equal(jwks.status, 200, jwks.body);
          return (JSON.parse(jwks.body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).join(",");
        }),
      );
      const dir = path.join(env.AZMI_HOME!, "issuer");
      assert.deepEqual(fs.readdirSync(dir), ["signing-key.pem"], "one key, no temp files");
      assert.equal(octal(mode(path.join(dir, "signing-key.pem"))), "0600");
      assert.equal(new Set(kids).size, 1, `every server publishes the same key: ${kids.join(" / ")}`);
      for (const name of fs.readdirSync(env.AZMI_HOME!)) assert.equal(mode(path.join(env.AZMI_HOME!, name)) & 0o077, 0, name);
      assert.deepEqual(fs.readdirSync(env.AZMI_HOME!).filter((n) => n.endsWith(".tmp")), [], "no temp files in AZMI_HOME");
    } finally {
      for (const child of children) {
        child.kill("SIGTERM");
        await exited(child).catch(() => undefined);
      }
    }
  });

  it("four processes creating the signing key at once (umask 000) leave one 0600 key that all of them use, and no temp files", async () => {
    const env = cleanEnv();
    const home = env.AZMI_HOME!;
    const issuer = path.resolve(__dirname, "../../src/serve/issuer/localIssuer.js");
    const script = `require(${JSON.stringify(issuer)}).loadOrCreateSigningKey(${JSON.stringify(home)}).then((k) => console.log(k.kid))`;
    const kids = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawnNodeUnderUmask000(["-e", script], env);
            let out = "";
            let err = "";
            child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
            child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
            child.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${String(code)}: ${err}`))));
          }),
      ),
    );
    assert.equal(new Set(kids).size, 1, `one key for all: ${kids.join(" / ")}`);
    const dir = path.join(home, "issuer");
    assert.deepEqual(fs.readdirSync(dir), ["signing-key.pem"], "one key, no temp files");
    assert.equal(octal(mode(path.join(dir, "signing-key.pem"))), "0600");
    assert.equal(mode(dir) & 0o077, 0, "issuer folder owner-only");
  });

  it("ten azmi token processes at once write one valid 0600 probe memo", async () => {
    const env = cleanEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: lookalike.url });
    const runs = await Promise.all(Array.from({ length: 10 }, () => runAzmi(["token"], env, 40_000)));
    for (const r of runs) assert.equal(r.code, 3, r.stderr);
    const memo = path.join(env.AZMI_HOME!, "probe-memo.json");
    assert.equal(octal(mode(memo)), "0600");
    const parsed = JSON.parse(fs.readFileSync(memo, "utf8")) as { version: number; entries: Record<string, unknown> };
    assert.equal(parsed.version, 1);
    assert.ok(Object.keys(parsed.entries).length >= 1);
    assert.deepEqual(fs.readdirSync(env.AZMI_HOME!).filter((n) => n !== "cache"), ["probe-memo.json"], "no temp files left");
    checkCodeCache(env.AZMI_HOME!);
  });

  it("probe-memo.json (written by azmi token / doctor when IMDS is absent) is 0600 and holds no secret from the environment", async () => {
    const orphanHeader = fakeSecret("orphan-identity-header");
    const orphanMsiSecret = fakeSecret("orphan-msi-secret");
    const clientSecret = fakeSecret("lonely-client-secret");
    // Secrets present in the environment but not enough to select a source: IMDS is probed (a loopback look-alike).
    const env = cleanEnv({
      IDENTITY_HEADER: orphanHeader, MSI_SECRET: orphanMsiSecret, AZURE_CLIENT_SECRET: clientSecret, AZURE_LOG_LEVEL: "verbose",
      AZURE_POD_IDENTITY_AUTHORITY_HOST: lookalike.url,
    });
    const token = await runAzmi(["token", "--verbose"], env);
    assert.equal(token.code, 3, token.stderr);
    const doctor = await runAzmi(["doctor", "--json"], env);
    assert.equal(doctor.code, 3, doctor.stderr);
    const memo = path.join(env.AZMI_HOME!, "probe-memo.json");
    assert.ok(fs.existsSync(memo), `memo written; files: ${fs.readdirSync(env.AZMI_HOME!).join(", ")}`);
    assert.equal(octal(mode(memo)), "0600");
    assert.equal(octal(mode(env.AZMI_HOME!)), "0700");
    const parsed = JSON.parse(fs.readFileSync(memo, "utf8")) as { version: number; entries: Record<string, Record<string, unknown>> };
    assert.equal(parsed.version, 1);
    for (const entry of Object.values(parsed.entries)) {
      assert.deepEqual(Object.keys(entry).sort(), ["at", "endpoint", "present", "reason"]);
      assert.equal(entry.present, false);
      assert.equal(entry.endpoint, `127.0.0.1:${lookalike.port}`);
    }
    const secrets = new SecretSet().add("IDENTITY_HEADER", orphanHeader).add("MSI_SECRET", orphanMsiSecret).add("client secret", clientSecret);
    const leaks = [
      ...secrets.leaks("probe-memo.json", fs.readFileSync(memo, "utf8")),
      ...checkCodeCache(env.AZMI_HOME!).flatMap((bytes) => secrets.leaks("code cache", bytes)),
      ...secrets.leaks("azmi token stdout", token.stdout),
      ...secrets.leaks("azmi token stderr", token.stderr),
      ...secrets.leaks("azmi doctor stdout", doctor.stdout),
      ...secrets.leaks("azmi doctor stderr", doctor.stderr),
    ];
    assert.equal(leaks.length, 0, formatLeaks(leaks));
    // No other file appeared.
    assert.deepEqual(fs.readdirSync(env.AZMI_HOME!).filter((n) => n !== "probe-memo.json" && n !== "cache"), []);
  });
});
