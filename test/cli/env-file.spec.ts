/**
 * The docker env file's pure pieces, in process: what `formatEnvFile`
 * writes and refuses (naming the variable, never its value), how the
 * `docker run` flags show a path, the compose entries, and the file's mode
 * and atomic replacement.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { composeLines, defaultDockerEnvPath, dockerRunFlags, formatEnvFile, isSplitSafePath, writeDockerEnvFile } from "../../src/cli/dockerEnv";

describe("docker env file", function () {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-envfile-unit-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes KEY=VALUE lines, nothing else: no quotes, no export, no comment", () => {
    assert.equal(
      formatEnvFile({ IDENTITY_ENDPOINT: "http://host.docker.internal:4000/msi/token?x=1&y=[2]", IDENTITY_HEADER: "ab".repeat(32) }),
      `IDENTITY_ENDPOINT=http://host.docker.internal:4000/msi/token?x=1&y=[2]\nIDENTITY_HEADER=${"ab".repeat(32)}\n`,
    );
    assert.equal(formatEnvFile({}), "");
  });

  for (const [label, value] of [
    ["a newline", "abc\nEVIL=1"],
    ["a carriage return", "abc\r"],
    ["a space", "a b"],
    ["a trailing tab", "abc\t"],
    ["a double quote", 'say"hi'],
    ["a single quote", "it's"],
    ["a dollar", "a$HOME"],
    ["a hash", "a#b"],
    ["a backslash", "a\\b"],
  ] as const) {
    it(`refuses a value with ${label}, naming the variable and never the value`, () => {
      const secret = `S3CR3T-${label.replace(/\W/g, "")}-${value}`;
      assert.throws(
        () => formatEnvFile({ IDENTITY_HEADER: secret }),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, "ERR_INVALID_ARGUMENT");
          assert.equal(
            e.message,
            "Cannot write IDENTITY_HEADER to a docker env file: its value has characters (whitespace, quotes, '$', '#' or '\\') that docker's --env-file and compose's env_file read differently; use azmi env --shell bash instead.",
          );
          assert.ok(!e.message.includes("S3CR3T"));
          return true;
        },
      );
    });
  }

  it("refuses a name docker and compose would not read back", () => {
    for (const name of ["", "1A", "A B", "A=B", "A-B"]) {
      assert.throws(() => formatEnvFile({ [name]: "x" }), { code: "ERR_INVALID_ARGUMENT", message: `Cannot write '${name}' to a docker env file: a variable name must be letters, digits and '_' and not start with a digit.` });
    }
  });

  it("writes 0600 atomically, replacing a wider file (and a symlink, not its target), leaving no temp file", () => {
    const file = path.join(dir, "a.env");
    fs.writeFileSync(file, "OLD=1\n");
    fs.chmodSync(file, 0o644);
    assert.equal(writeDockerEnvFile({ A: "1" }, file), file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(file, "utf8"), "A=1\n");

    const target = path.join(dir, "target.txt");
    fs.writeFileSync(target, "untouched\n");
    const link = path.join(dir, "link.env");
    fs.symlinkSync(target, link);
    writeDockerEnvFile({ B: "2" }, link);
    assert.equal(fs.readFileSync(target, "utf8"), "untouched\n");
    assert.ok(!fs.lstatSync(link).isSymbolicLink());
    assert.equal(fs.readFileSync(link, "utf8"), "B=2\n");
    assert.deepEqual(fs.readdirSync(dir).sort(), ["a.env", "link.env", "target.txt"]);
  });

  it("a relative path becomes absolute; the default lives in AZMI_HOME, created 0700", () => {
    const home = path.join(dir, "home");
    assert.equal(defaultDockerEnvPath({ AZMI_HOME: home }), path.join(home, "docker.env"));
    assert.equal(writeDockerEnvFile({ A: "1" }, undefined, { AZMI_HOME: home }), path.join(home, "docker.env"));
    assert.equal(fs.statSync(home).mode & 0o777, 0o700);
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      assert.equal(writeDockerEnvFile({ A: "1" }, "rel.env"), path.join(fs.realpathSync(dir), "rel.env"));
    } finally {
      process.chdir(cwd);
    }
  });

  it("docker run flags: the path bare when $(…) keeps it whole, POSIX-quoted otherwise", () => {
    assert.equal(dockerRunFlags("/home/me/.azmi/docker.env"), "--env-file /home/me/.azmi/docker.env --add-host host.docker.internal:host-gateway");
    assert.equal(isSplitSafePath("/Users/Jane Doe/.azmi/docker.env"), false);
    assert.equal(dockerRunFlags("/Users/Jane Doe/it's.env"), "--env-file '/Users/Jane Doe/it'\\''s.env' --add-host host.docker.internal:host-gateway");
    assert.equal(isSplitSafePath("/tmp/*.env"), false);
  });

  it("compose entries: env_file (JSON-quoted path) and extra_hosts", () => {
    assert.equal(composeLines('/a b/"x".env'), '    env_file:\n      - "/a b/\\"x\\".env"\n    extra_hosts:\n      - "host.docker.internal:host-gateway"\n');
  });

  it("compose entries: a '$' in the path is doubled, since compose interpolates $NAME in env_file paths ($$ is a literal $)", () => {
    assert.equal(
      composeLines("/home/me/$work/${HOME}.azmi/docker.env"),
      '    env_file:\n      - "/home/me/$$work/$${HOME}.azmi/docker.env"\n    extra_hosts:\n      - "host.docker.internal:host-gateway"\n',
    );
  });
});
