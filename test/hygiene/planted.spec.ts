/**
 * Files planted in azmi's folder by someone else (a shared or world-writable
 * `AZMI_HOME`, or a `--home DIR` another user can write): azmi must not let
 * them steer it.
 * - `serve.json` feeds `eval "$(azmi env)"`: a variable name carrying shell
 *   code ran in the user's shell; a symlinked or foreign state file was used.
 * - `probe-memo.json` with a negative entry turns managed identity off.
 * - `issuer/signing-key.pem` planted (as a symlink to a key the planter knows)
 *   while `azmi serve` generates its first key was used to sign tokens.
 */
import * as assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ProbeMemo, clearProcessProbeMemo, PROBE_MEMO_FILE } from "../../src/cache/probeMemo";
import { loadOrCreateSigningKey, signingKeyPath } from "../../src/serve/issuer/localIssuer";
import { AZMI_BIN, cleanEnv, cleanupTemp, exited, firstLines, runAzmi, spawnNode, tempDir } from "../cli/support";

/** A uid that is not ours (nobody), for files "another user" planted; chown needs root. */
const OTHER_UID = 65534;
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
/** A probe memo's key (only written to a file here: nothing connects to it). */
const MEMO_ENDPOINT = "127.0.0.1:9";

function plantState(home: string, appService: Record<string, unknown>): string {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = path.join(home, "serve.json");
  const state = {
    url: "http://127.0.0.1:1",
    port: 1,
    host: "127.0.0.1",
    pid: process.pid, // alive, so the file is not discarded as stale
    issuer: "local",
    env: appService,
    dialects: { appService },
    startedAt: new Date().toISOString(),
  };
  fs.writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
  return file;
}

describe("hygiene: files planted in azmi's folder do not steer it", function () {
  this.timeout(60_000);
  after(() => cleanupTemp());

  for (const shell of ["bash", "pwsh"] as const) {
    it(`azmi env --shell ${shell} refuses a state file whose variable name carries shell code (nothing eval-able printed)`, async () => {
      const env = cleanEnv();
      plantState(env.AZMI_HOME!, { IDENTITY_ENDPOINT: "http://127.0.0.1:1/msi/token", "X=1;touch /tmp/pwned;Y": "v" });
      const r = await runAzmi(["env", "--shell", shell], env);
      assert.equal(r.stdout, "", "nothing to eval");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /a name must be letters, digits and '_'/);
    });
  }

  it("azmi env refuses a state file edited into another shape with one line naming what is wrong (not a JavaScript error)", async () => {
    const good = { IDENTITY_ENDPOINT: "http://127.0.0.1:1/msi/token", IDENTITY_HEADER: "h" };
    const cases: Array<[string, (state: Record<string, unknown>) => void, string[], string]> = [
      ["a dialect that is a string", (s) => (s.dialects = { appService: "text", imds: { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:1" } }), ["env"], "dialects.appService is not a set of variables"],
      ["a value that is a number", (s) => (s.dialects = { appService: { ...good, IDENTITY_ENDPOINT: 5 } }), ["env", "--shell", "docker", "--file", "FILE"], "dialects.appService is not a set of variables"],
      ["no dialects", (s) => (s.dialects = null), ["env"], "dialects is not an object"],
    ];
    for (const [what, edit, args, why] of cases) {
      const env = cleanEnv();
      const file = plantState(env.AZMI_HOME!, good);
      const state = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
      edit(state);
      fs.writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
      const r = await runAzmi(args.map((a) => (a === "FILE" ? path.join(env.AZMI_HOME!, "out.env") : a)), env);
      assert.equal(r.stdout, "", what);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.equal(r.stderr, `azmi env: The azmi state file ${file} is not what azmi serve writes (${why}); delete it and restart the server.\n`, what);
    }
  });

  it("azmi env refuses a state file that is a symlink (exit 1, ERR_STATE_FILE), printing nothing", async () => {
    const env = cleanEnv();
    const elsewhere = tempDir("azmi-planted-");
    const real = plantState(elsewhere, { IDENTITY_ENDPOINT: "http://127.0.0.1:1/attacker", IDENTITY_HEADER: "attacker" });
    fs.mkdirSync(env.AZMI_HOME!, { mode: 0o700 });
    fs.symlinkSync(real, path.join(env.AZMI_HOME!, "serve.json"));
    const r = await runAzmi(["env"], env);
    assert.equal(r.stdout, "");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /serve\.json is a symbolic link/);
  });

  (isRoot ? it : it.skip)("azmi env refuses a state file owned by another user, and one others can write", async () => {
    const env = cleanEnv();
    const file = plantState(env.AZMI_HOME!, { IDENTITY_ENDPOINT: "http://127.0.0.1:1/attacker", IDENTITY_HEADER: "attacker" });
    fs.chownSync(file, OTHER_UID, OTHER_UID);
    let r = await runAzmi(["env"], env);
    assert.equal(r.stdout, "");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`belongs to another user \\(uid ${OTHER_UID}\\)`));

    fs.chownSync(file, 0, 0);
    fs.chmodSync(file, 0o666);
    r = await runAzmi(["env"], env);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /is writable by other users \(mode 0666\)/);
  });

  (isRoot ? it : it.skip)("a probe memo owned by another user is ignored (it would turn managed identity off)", () => {
    const home = path.join(tempDir("azmi-memo-"), ".azmi");
    const env = { AZMI_HOME: home };
    const endpoint = MEMO_ENDPOINT;
    new ProbeMemo(env).remember(endpoint, false, "planted: IMDS unreachable");
    const file = path.join(home, PROBE_MEMO_FILE);
    clearProcessProbeMemo();
    assert.ok(new ProbeMemo(env).get(endpoint), "our own memo is used");
    fs.chownSync(file, OTHER_UID, OTHER_UID);
    clearProcessProbeMemo();
    assert.equal(new ProbeMemo(env).get(endpoint), undefined, "another user's memo is not");
    fs.chownSync(file, 0, 0);
    fs.chmodSync(file, 0o646);
    clearProcessProbeMemo();
    assert.equal(new ProbeMemo(env).get(endpoint), undefined, "nor one others can write");
  });

  (isRoot ? it : it.skip)("azmi serve refuses an azmi folder that belongs to another user (its owner could replace the key and state)", async () => {
    const env = cleanEnv();
    fs.mkdirSync(env.AZMI_HOME!, { recursive: true, mode: 0o777 });
    fs.chownSync(env.AZMI_HOME!, OTHER_UID, OTHER_UID);
    try {
      const r = await runAzmi(["serve", "--json"], env);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`belongs to another user \\(uid ${OTHER_UID}\\).*set AZMI_HOME`));
      assert.equal(fs.existsSync(path.join(env.AZMI_HOME!, "issuer")), false, "nothing written there");
    } finally {
      fs.chownSync(env.AZMI_HOME!, 0, 0);
    }
  });

  it("azmi serve replaces a state file it does not trust (here: opened up to others) instead of refusing to start", async () => {
    const env = cleanEnv();
    const planted = plantState(env.AZMI_HOME!, { IDENTITY_ENDPOINT: "http://127.0.0.1:1/attacker", IDENTITY_HEADER: "attacker" });
    fs.chmodSync(planted, 0o666);
    const child = spawnNode(AZMI_BIN, ["serve", "--json"], env);
    try {
      const info = JSON.parse((await firstLines(child, 1)).lines[0]!) as { url: string };
      const state = JSON.parse(fs.readFileSync(planted, "utf8")) as { url: string; pid: number };
      assert.equal(state.url, info.url, "the state file now names the new server");
      assert.equal(fs.statSync(planted).mode & 0o777, 0o600);
    } finally {
      child.kill("SIGTERM");
      await exited(child);
    }
  });

  it("an azmi folder of ours that others can open is closed again (0700) when azmi writes to it", () => {
    const home = path.join(tempDir("azmi-open-"), ".azmi");
    fs.mkdirSync(home, { mode: 0o777 });
    fs.chmodSync(home, 0o777);
    new ProbeMemo({ AZMI_HOME: home }).remember(MEMO_ENDPOINT, false, "test");
    assert.equal(fs.statSync(home).mode & 0o777, 0o700);
  });

  it("a shared sticky folder (AZMI_HOME=/tmp as root) is used as it is, not closed to 0700 (that would lock every other user out)", () => {
    const shared = tempDir("azmi-sticky-");
    fs.chmodSync(shared, 0o1777);
    new ProbeMemo({ AZMI_HOME: shared }).remember(MEMO_ENDPOINT, false, "test");
    assert.equal(fs.statSync(shared).mode & 0o7777, 0o1777);
    assert.equal(fs.existsSync(path.join(shared, "probe-memo.json")), true, "the memo is still written there");
  });

  it("a signing key planted as a symlink while the first key is generated is refused, not used to sign", async () => {
    const home = tempDir("azmi-keyrace-");
    // The key the planter knows.
    const planted = path.join(tempDir("azmi-planter-"), "known.pem");
    fs.writeFileSync(planted, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string);
    // loadOrCreateSigningKey has found no key and is generating one (off the
    // event loop) when it returns its promise: plant the link now.
    const loading = loadOrCreateSigningKey(home);
    fs.symlinkSync(planted, signingKeyPath(home));
    await assert.rejects(loading, (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, "ERR_KEY_FILE");
      assert.match(e.message, /is a symbolic link/);
      return true;
    });
  });
});
