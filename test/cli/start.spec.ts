/**
 * `npm start` (`node dist/src/cli/start.js`): starts the offline endpoint,
 * fetches a token through the chain against it, prints it in MSI shape and
 * the variables for other shells (containers: a docker line naming the env
 * file it wrote, never the secret), serves until SIGINT, exits 0.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanEnv, cleanupTemp, collect, exited, runAzmi, spawnNode, START_JS, until } from "./support";

describe("npm start", function () {
  after(cleanupTemp);

  it("prints a token fetched through the chain (MSI shape), the variables, serves, and exits 0 on SIGINT", async () => {
    // Competing identity configuration in the user's shell must not win over the local endpoint.
    const env = cleanEnv({ MSI_ENDPOINT: "http://127.0.0.1:9/nothing", AZURE_TOKEN_CREDENTIALS: "dev" });
    const child = spawnNode(START_JS, [], env);
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    try {
      await until(() => out.includes("Press Ctrl-C to stop.\n") || child.exitCode !== null, 20_000);
      assert.equal(child.exitCode, null, `still serving; stderr=${err}`);

      const [first] = out.split("\n");
      const msi = JSON.parse(first) as Record<string, string>;
      assert.deepEqual(Object.keys(msi).slice(0, 6), ["access_token", "expires_in", "expires_on", "not_before", "resource", "token_type"]);
      assert.equal(msi.resource, "https://management.azure.com/");
      assert.match(msi.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.match(err, /^azmi: token for https:\/\/management\.azure\.com\/ fetched through the chain \(managed-identity: /m);
      assert.ok(!err.includes(msi.access_token), "token not on stderr");

      // The variables for other shells, grouped by dialect; and the server really is serving them.
      const port = /managed-identity endpoint at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      assert.ok(port, out);
      assert.match(out, /^# app-service — /m);
      assert.match(out, new RegExp(`^export IDENTITY_ENDPOINT='http://127\\.0\\.0\\.1:${port}/`, "m"));
      const viaEnv = await runAzmi(["env"], env);
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.ok(out.includes(viaEnv.stdout), "azmi env in another shell prints the same app-service exports");

      // Containers: the docker line names the owner-only env file npm start wrote; the secret is only in there.
      const header = /^export IDENTITY_HEADER='([0-9a-f]+)'$/m.exec(out)?.[1];
      assert.ok(header, out);
      const file = path.join(env.AZMI_HOME!, "docker.env");
      const containers = out.slice(out.indexOf("Containers ("));
      assert.equal(
        containers,
        [
          "Containers (App Service dialect; the variables, secret included, are in an owner-only env file that each new server rewrites):",
          `  docker run --env-file ${file} --add-host host.docker.internal:host-gateway IMAGE`,
          "  (a container cannot reach 127.0.0.1: restart with `npm start -- --host 0.0.0.0` first)",
          "Press Ctrl-C to stop.",
          "",
        ].join("\n"),
      );
      assert.ok(!containers.includes(header), "no secret in the docker hint");
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

  it("--host must include loopback (the token is fetched over loopback): exit 2", async () => {
    const r = await collect(spawnNode(START_JS, ["--host", "10.0.0.1"], cleanEnv()));
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", "azmi start: --host must be a loopback address or 0.0.0.0 / :: (the token is fetched over loopback); got '10.0.0.1'\n"],
    );
  });

  it("bad input exits 2 with one line", async () => {
    const r = await collect(spawnNode(START_JS, ["--port", "x"], cleanEnv()));
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", "azmi start: --port must be a whole number between 0 and 65535 (got 'x')\n"],
    );
  });
});
