/**
 * Fault mode: exact sequences, seeded rates, Retry-After, delays, the
 * Docker Desktop 403 text (checklist 74), dialect-shaped fault bodies, and
 * that probes and bad requests are not consumed by faults.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { DOCKER_UNREACHABLE_TEXT, type FaultOptions } from "../../src/serve/faults";
import { startServer, type RunningServer } from "../../src/serve/server";
import { get, IMDS_PATH, IMDS_QUERY, useTempHome } from "./support";

describe("serve: fault mode", function () {
  this.timeout(60_000);
  const home = useTempHome();
  const servers: RunningServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  async function start(faults: FaultOptions) {
    const s = await startServer({ env: home.env, faults });
    servers.push(s);
    return s;
  }
  const token = (s: RunningServer) => get(s.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });

  it("sequence [500, 500] fails the next two token requests, then serves; probes do not consume the sequence", async () => {
    const s = await start({ sequence: [500, 500] });
    const probe = await get(s.port, IMDS_PATH);
    assert.equal(probe.status, 400);
    const a = await token(s);
    assert.equal(a.status, 500);
    assert.deepEqual(JSON.parse(a.body), { error: "unknown", error_description: "Failed to retrieve token from the Active directory (azmi serve fault mode)." });
    assert.equal((await token(s)).status, 500);
    assert.equal((await token(s)).status, 200);
  });

  it("429 and 503 carry Retry-After when asked; App Service faults use the App Service body", async () => {
    const s = await start({ sequence: [429, 503, 410], retryAfterSec: 3 });
    const a = await token(s);
    assert.equal(a.status, 429);
    assert.equal(a.headers["retry-after"], "3");
    const b = await get(s.port, `/msi/token?api-version=2019-08-01&resource=x`, { "X-IDENTITY-HEADER": s.env.IDENTITY_HEADER! });
    assert.equal(b.status, 503);
    assert.equal(b.headers["retry-after"], "3");
    assert.deepEqual(Object.keys(JSON.parse(b.body)), ["statusCode", "message", "correlationId"]);
    const c = await token(s);
    assert.equal(c.status, 410);
    assert.equal(c.headers["retry-after"], undefined);
  });

  it("74: 403 answers Docker Desktop's unreachable-network text", async () => {
    const s = await start({ sequence: [403] });
    const a = await token(s);
    assert.equal(a.status, 403);
    assert.equal(a.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(a.body, DOCKER_UNREACHABLE_TEXT);
    assert.match(a.body, /A socket operation was attempted to an unreachable network/);
  });

  it("74: @azure/identity treats the Docker 403 as 'managed identity unavailable'", async () => {
    const s = await start({ rate: 1, statuses: [403] });
    const client = path.join(__dirname, "fixtures", "identityClient.js");
    const out = await new Promise<string>((resolve) =>
      execFile(process.execPath, [client, JSON.stringify({ credential: "mi", scope: "https://vault.azure.net/.default" })], {
        env: { PATH: process.env.PATH, ...s.dialects.imds },
        timeout: 60_000,
      }, (_e, stdout) => resolve(stdout)),
    );
    const result = JSON.parse(out.trim().split("\n").pop()!) as { ok: boolean; name: string; message: string };
    assert.equal(result.ok, false);
    assert.equal(result.name, "CredentialUnavailableError");
  });

  it("a delay fault answers normally after delayMs", async () => {
    const s = await start({ sequence: ["delay"], delayMs: 400 });
    const started = Date.now();
    const a = await token(s);
    assert.equal(a.status, 200);
    assert.ok(Date.now() - started >= 350, "delayed");
  });

  it("a client that hangs up during a delay fault does not disturb the server", async () => {
    const s = await start({ sequence: ["delay", "delay"], delayMs: 300 });
    const net = await import("node:net");
    const quitter = net.connect(s.port, "127.0.0.1", () => {
      quitter.write(`GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n`);
      setTimeout(() => quitter.destroy(), 50);
    });
    await new Promise((r) => setTimeout(r, 500));
    const after = await token(s);
    assert.equal(after.status, 200);
  });

  it("a seeded rate is reproducible and roughly the asked share", async () => {
    const run = async () => {
      const s = await start({ rate: 0.3, statuses: [500, 503], seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await token(s)).status);
      return statuses;
    };
    const a = await run();
    const b = await run();
    assert.deepEqual(a, b);
    const faults = a.filter((x) => x !== 200).length;
    assert.ok(faults > 5 && faults < 35, `${faults} faults of 60`);
    assert.ok(a.every((x) => x === 200 || x === 500 || x === 503));
  });
});
