/**
 * `azmi serve --issuer chain` answers only loopback clients of its own user
 * (and root): its tokens are that user's real ones, and the IMDS and Cloud
 * Shell dialects carry no secret (src/serve/peerUser.ts). A real client
 * process runs as another user (nobody) to show the refusal; Linux and root
 * only (the test switches user), which is how CI runs.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as net from "node:net";
import type { MsiTokenResponse } from "../../src/credentials/types";
import { canTellPeerUser, loopbackPeerUid, ownUserOnly } from "../../src/serve/peerUser";
import { startServer, type RunningServer } from "../../src/serve/server";
import { IMDS_PATH, IMDS_QUERY, useTempHome } from "./support";

/** nobody */
const OTHER_UID = 65534;
const canSwitchUser = canTellPeerUser() && process.getuid?.() === 0;

const upstream = async (options: { resource?: string }): Promise<MsiTokenResponse> => {
  const now = Math.floor(Date.now() / 1000);
  return { access_token: "upstream-user-token", expires_in: "3600", expires_on: String(now + 3600), not_before: String(now), resource: options.resource!, token_type: "Bearer" };
};

/** A GET of `target` from a fresh node process running as `uid` (this process's user when undefined): status and body. */
function getAs(uid: number | undefined, port: number, target: string, host: string): Promise<{ status: number; body: string }> {
  const script = `
    const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => s.write("GET ${target} HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\nMetadata: true\\r\\nConnection: close\\r\\n\\r\\n"));
    let d = ""; s.on("data", (c) => (d += c)); s.on("error", (e) => { console.log(JSON.stringify({ error: e.code })); });
    s.on("close", () => { const i = d.indexOf("\\r\\n\\r\\n"); console.log(JSON.stringify({ status: Number(d.split(" ")[1]), body: d.slice(i + 4) })); });`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ["-e", script], { cwd: "/", env: { PATH: process.env.PATH }, ...(uid !== undefined ? { uid, gid: uid } : {}), timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim()) as { status: number; body: string });
    }),
  );
}

describe("serve: a chain server answers only its own user on loopback", function () {
  it("a connection whose client address is gone (reset before it was judged) is refused, not waved through", function () {
    // What node:net reports for a socket the client already reset: no remote address.
    const reset = new net.Socket();
    assert.equal(reset.remoteAddress, undefined);
    assert.equal(ownUserOnly(reset), false);
    reset.destroy();
  });

  this.timeout(30_000);
  const home = useTempHome();
  let chain: RunningServer;
  let local: RunningServer;
  before(async () => {
    chain = await startServer({ env: home.env, issuer: "chain", upstream });
    local = await startServer({ env: home.env });
  });
  after(async () => {
    await chain.close();
    await local.close();
  });

  /** The users `loopbackPeerUid` names for one client connecting to `connectTo`, at a server bound to `bind`. */
  async function peerUidsSeen(bind: string, connectTo: string): Promise<(number | undefined)[]> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, bind, resolve));
    const uids: (number | undefined)[] = [];
    server.on("connection", (socket) => {
      uids.push(loopbackPeerUid(socket));
      socket.destroy();
    });
    const client = net.connect((server.address() as net.AddressInfo).port, connectTo);
    await new Promise((resolve) => client.on("close", resolve).on("error", resolve));
    server.close();
    return uids;
  }

  (canTellPeerUser() ? it : it.skip)("the kernel's socket table names the user of a loopback client (here: this process's own)", async () => {
    assert.deepEqual(await peerUidsSeen("127.0.0.1", "127.0.0.1"), [process.getuid!()]);
  });

  (canTellPeerUser() ? it : it.skip)("a dual-stack client (an IPv6 socket to 127.0.0.1, as .NET's HttpClient and Java make) is named too, on a v4 and a dual-stack server", async () => {
    for (const bind of ["127.0.0.1", "::"]) {
      // Node makes an AF_INET6 socket for an IPv6 literal: the kernel lists it in tcp6 as ::ffff:127.0.0.1.
      assert.deepEqual(await peerUidsSeen(bind, "::ffff:127.0.0.1"), [process.getuid!()], `server bound to ${bind}`);
    }
  });

  (canTellPeerUser() ? it : it.skip)("the server's own user gets the token through a dual-stack client (PowerShell's Invoke-RestMethod)", async () => {
    const own = await getAs(undefined, chain.port, `${IMDS_PATH}${IMDS_QUERY}`, "::ffff:127.0.0.1");
    assert.equal(own.status, 200, own.body);
    assert.match(own.body, /upstream-user-token/);
  });

  (canSwitchUser ? it : it.skip)("another user's process gets 403 in IMDS's shape and no token; the server's own user gets the token", async () => {
    const target = `${IMDS_PATH}${IMDS_QUERY}`;
    const other = await getAs(OTHER_UID, chain.port, target, "127.0.0.1");
    assert.equal(other.status, 403);
    assert.deepEqual(Object.keys(JSON.parse(other.body) as object), ["error", "error_description"]);
    assert.match(other.body, /answers only that user's processes/);
    assert.doesNotMatch(other.body, /upstream-user-token/);
    const own = await getAs(undefined, chain.port, target, "127.0.0.1");
    assert.equal(own.status, 200, own.body);
    assert.match(own.body, /upstream-user-token/);
  });

  (canSwitchUser ? it : it.skip)("a TIME_WAIT line another user plants with the client's port (listed as root's) does not name the client root", async () => {
    // The attack on a chain server run by a non-root user: its gate lets root in,
    // and the kernel lists every TIME_WAIT socket with uid 0. Another user listens
    // on 127.0.0.N:PORT (the server's port on another loopback address), connects
    // to it and closes first (TIME_WAIT 127.0.0.1:P -> 127.0.0.N:PORT), then connects
    // from the same 127.0.0.1:P to the server. Matched on the server's port alone,
    // that TIME_WAIT line, whenever the table lists it first, said "root".
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const uids: (number | undefined)[] = [];
    server.on("connection", (socket) => {
      uids.push(loopbackPeerUid(socket));
      socket.destroy();
    });
    const script = `
      const net = require("net");
      (async () => {
        for (let n = 2; n < 42; n++) {
          const decoy = net.createServer((s) => { s.on("end", () => s.end()); s.resume(); });
          await new Promise((r) => decoy.listen(${port}, "127.0.0." + n, r));
          await new Promise((done) => {
            let from;
            const first = net.connect({ port: ${port}, host: "127.0.0." + n, localAddress: "127.0.0.1" }, () => {
              from = first.localPort;
              first.end();
            });
            first.resume();
            first.on("error", done);
            first.on("close", () => {
              const second = net.connect({ port: ${port}, host: "127.0.0.1", localAddress: "127.0.0.1", localPort: from });
              second.resume();
              second.on("error", done);
              second.on("close", done);
            });
          });
          decoy.close();
        }
      })();`;
    try {
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, ["-e", script], { cwd: "/", env: { PATH: process.env.PATH }, uid: OTHER_UID, gid: OTHER_UID, timeout: 30_000 }, (error, _stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(),
        ),
      );
    } finally {
      server.close();
    }
    assert.ok(uids.length >= 36, `only ${uids.length} connections arrived`);
    assert.deepEqual(
      uids.filter((uid) => uid !== OTHER_UID),
      [],
      `${uids.filter((uid) => uid !== OTHER_UID).length} of ${uids.length} connections of uid ${OTHER_UID} were named as someone else`,
    );
  });

  (canSwitchUser ? it : it.skip)("the Cloud Shell dialect too; and a local-issuer server (offline tokens) answers every local user", async () => {
    const cloudShell = new URL(chain.dialects.cloudShell.MSI_ENDPOINT!).pathname;
    assert.equal((await getAs(OTHER_UID, chain.port, `${cloudShell}?resource=https%3A%2F%2Fvault.azure.net`, "127.0.0.1")).status, 403);
    assert.equal((await getAs(OTHER_UID, local.port, `${IMDS_PATH}${IMDS_QUERY}`, "127.0.0.1")).status, 200);
  });
});
