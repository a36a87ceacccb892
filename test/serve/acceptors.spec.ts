/**
 * A burst of new connections is accepted several per event-loop turn
 * (src/serve/acceptors.ts): libuv 1.45+ accepts one per turn per handle, so
 * `azmi serve` watches its accept queue through duplicates of the listening
 * socket. The bursts come from a real client process that queues its
 * connections (and their requests) while this process's loop is held, so
 * every connection is waiting in the kernel when the loop next polls.
 */
import * as assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ACCEPTORS, acceptsOnePerTurn, addAcceptors, overLimit } from "../../src/serve/acceptors";
import { canTellPeerUser, gateConnections } from "../../src/serve/peerUser";
import type { MsiTokenResponse } from "../../src/credentials/types";
import { startServer } from "../../src/serve/server";
import { loadNative } from "../../src/transport/http";
import { IMDS_PATH, IMDS_QUERY, useTempHome } from "./support";

/** nobody */
const OTHER_UID = 65534;
// Where libuv accepts one connection per turn (1.45+, Node 20.3+), with the addon, on a platform whose handles have descriptors.
const applies = loadNative() !== null && process.platform !== "win32" && acceptsOnePerTurn(process.versions.uv);

interface BurstAnswer {
  status: number;
  body: string;
}

/**
 * `count` connections from a fresh node process (as `uid` when given), each
 * sending `request` once connected. This process's event loop is held (a
 * synchronous wait) from the spawn until the client says every connection is
 * up and every request written, so all of them are queued when it polls again.
 */
function burst(port: number, count: number, request: string, uid?: number, halfClose = false): Promise<BurstAnswer[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-burst-"));
  fs.chmodSync(dir, 0o777);
  const ready = path.join(dir, "ready");
  const script = `
    const net = require("net"), fs = require("fs");
    const answers = []; let connected = 0, closed = 0;
    for (let i = 0; i < ${count}; i++) {
      let data = "";
      const s = net.connect(${port}, "127.0.0.1", () => {
        s.write(${JSON.stringify(request)});
        ${halfClose ? "s.end();" : ""}
        if (++connected === ${count}) fs.writeFileSync(${JSON.stringify(ready)}, "");
      });
      s.setEncoding("latin1");
      s.on("data", (d) => (data += d));
      s.on("error", () => {});
      s.on("close", () => {
        const head = data.indexOf("\\r\\n\\r\\n");
        answers.push({ status: Number(data.split(" ")[1]), body: head < 0 ? "" : data.slice(head + 4) });
        if (++closed === ${count}) console.log(JSON.stringify(answers));
      });
    }`;
  const child = spawn(process.execPath, ["-e", script], { cwd: "/", env: { PATH: process.env.PATH }, ...(uid !== undefined ? { uid, gid: uid } : {}), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const answered = new Promise<BurstAnswer[]>((resolve, reject) => {
    const timer = setTimeout(() => child.kill(), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      if (code !== 0) reject(new Error(`burst client exited ${String(code)}: ${stderr}`));
      else resolve(JSON.parse(stdout) as BurstAnswer[]);
    });
  });
  // Hold the loop (the client's connects complete in the kernel's backlog meanwhile).
  const held = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + 15_000;
  while (!fs.existsSync(ready) && Date.now() < until) Atomics.wait(held, 0, 0, 5);
  if (!fs.existsSync(ready)) {
    child.kill();
    answered.catch(() => {});
    assert.fail(`the burst client did not connect within 15 s: ${stderr}`);
  }
  return answered;
}

/** How many `connection` events each loop turn saw (turns counted by a setImmediate chain). */
function connectionsPerTurn(server: net.Server): { counts: () => number[]; stop: () => void } {
  let turn = 0;
  let running = true;
  const perTurn = new Map<number, number>();
  const tick = () => {
    turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  server.on("connection", () => perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1));
  return { counts: () => [...perTurn.values()], stop: () => (running = false) };
}

function openDescriptors(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

/** Close a test's duplicates and server, and wait until the server says it is closed (its connections ended). */
async function closeFully(server: http.Server, acceptors: { close(): void }): Promise<void> {
  acceptors.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * The descriptor count once it stops moving: a previous test's sockets and
 * listeners close on later loop turns (at most ~1 s of waiting).
 */
async function settledDescriptors(): Promise<number> {
  let last = openDescriptors();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = openDescriptors();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** `node <args>` in a child, with a time limit. */
function execFileChild(args: string[], callback: (error: Error | null, stdout: string, stderr: string) => void): void {
  execFile(process.execPath, args, { cwd: "/", env: { PATH: process.env.PATH }, timeout: 20_000 }, callback);
}

const REQUEST = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

(applies ? describe : describe.skip)("serve: a burst of new connections is accepted several per loop turn", function () {
  this.timeout(40_000);

  async function plainServer(): Promise<{ server: http.Server; port: number }> {
    const server = http.createServer((_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  it(`accepts up to ${ACCEPTORS} queued connections in one turn, and answers every one`, async () => {
    const { server, port } = await plainServer();
    const acceptors = addAcceptors(server);
    assert.equal(acceptors.count, ACCEPTORS, acceptors.why);
    const seen = connectionsPerTurn(server);
    try {
      const answers = await burst(port, 2 * ACCEPTORS, REQUEST);
      assert.deepEqual(answers.map((a) => a.status), new Array(2 * ACCEPTORS).fill(200));
      // Sixteen queued connections: two turns of eight (one per turn with the server's handle alone).
      assert.deepEqual(seen.counts(), [ACCEPTORS, ACCEPTORS]);
    } finally {
      seen.stop();
      acceptors.close();
      server.close();
    }
  });

  it("with one acceptor (the server's own handle), libuv takes one connection per turn: the behaviour this works around", async () => {
    const { server, port } = await plainServer();
    const acceptors = addAcceptors(server, 1);
    assert.equal(acceptors.count, 1);
    const seen = connectionsPerTurn(server);
    try {
      await burst(port, 4, REQUEST);
      assert.deepEqual(seen.counts(), [1, 1, 1, 1]);
    } finally {
      seen.stop();
      server.close();
    }
  });

  it("a gate in front of the server (the chain server's peer-user check) refuses a whole burst, whichever handle accepted each connection", async () => {
    const { server, port } = await plainServer();
    gateConnections(server, () => false, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    const acceptors = addAcceptors(server);
    assert.equal(acceptors.count, ACCEPTORS, acceptors.why);
    try {
      const answers = await burst(port, 2 * ACCEPTORS, REQUEST);
      assert.deepEqual(answers.map((a) => a.status), new Array(2 * ACCEPTORS).fill(403));
    } finally {
      acceptors.close();
      server.close();
    }
  });

  it("a socket a duplicate accepted counts as the server's: getConnections() sees it and close(callback) waits for it", async () => {
    const { server, port } = await plainServer();
    const acceptors = addAcceptors(server);
    let requests = 0;
    let counted: number | undefined;
    let closed = false;
    let closedWhileOpen: boolean | undefined;
    // Keep-alive requests: every connection stays open after its answer, until the server drops them all.
    server.on("request", () => {
      if (++requests !== 2 * ACCEPTORS) return;
      server.getConnections((_error, n) => (counted = n));
      acceptors.close();
      server.close(() => (closed = true));
      setTimeout(() => {
        closedWhileOpen = closed;
        server.closeAllConnections();
      }, 50);
    });
    try {
      const answers = await burst(port, 2 * ACCEPTORS, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      assert.deepEqual(answers.map((a) => a.status), new Array(2 * ACCEPTORS).fill(200));
      assert.equal(counted, 2 * ACCEPTORS, "getConnections() while all were open");
      assert.equal(closedWhileOpen, false, "close() called back with connections still open");
      await new Promise<void>((resolve) => {
        const check = () => (closed ? resolve() : setTimeout(check, 5));
        check();
      });
    } finally {
      acceptors.close();
      server.close();
    }
  });

  it("the server's maxConnections holds for connections a duplicate accepted: those past it are dropped, as net drops its own", async () => {
    const { server, port } = await plainServer();
    const LIMIT = 3;
    server.maxConnections = LIMIT;
    const acceptors = addAcceptors(server);
    assert.equal(acceptors.count, ACCEPTORS, acceptors.why);
    let drops = 0;
    server.on("drop", () => {
      // Keep-alive connections stay open after their answer: once every other one is dropped, end them.
      if (++drops === 2 * ACCEPTORS - LIMIT) setTimeout(() => server.closeAllConnections(), 50);
    });
    try {
      const answers = await burst(port, 2 * ACCEPTORS, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      assert.equal(answers.filter((a) => a.status === 200).length, LIMIT, JSON.stringify(answers));
      // (No status line: NaN, which the JSON from the client made null.)
      assert.equal(answers.filter((a) => !Number.isFinite(a.status)).length, 2 * ACCEPTORS - LIMIT, "closed without an answer");
      assert.equal(drops, 2 * ACCEPTORS - LIMIT);
      const counted = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
      assert.equal(counted, 0, "a dropped connection still counted");
    } finally {
      await closeFully(server, acceptors);
    }
  });

  it("maxConnections 0 is read as the running Node reads it for its own handle: whichever handle accepted a connection, all are answered or none", async () => {
    const { server, port } = await plainServer();
    server.maxConnections = 0;
    const acceptors = addAcceptors(server);
    assert.equal(acceptors.count, ACCEPTORS, acceptors.why);
    try {
      const answers = await burst(port, 2 * ACCEPTORS, REQUEST);
      const answered = answers.filter((a) => a.status === 200).length;
      assert.ok(answered === 0 || answered === 2 * ACCEPTORS, `${answered} of ${2 * ACCEPTORS} answered: the duplicates disagree with the server's own handle`);
      assert.equal(answered === 0, overLimit(0, 0), "as overLimit says for this Node");
    } finally {
      await closeFully(server, acceptors);
    }
  });

  it("sockets from a duplicate get the server's own options (keepAlive and its delay too, which net keeps in seconds)", async () => {
    const server = http.createServer({ keepAlive: true, keepAliveInitialDelay: 30_000 }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const acceptors = addAcceptors(server);
    const seen: Array<{ allowHalfOpen: boolean; keepAlive: unknown; delay: unknown }> = [];
    server.on("connection", (socket: net.Socket & { [k: symbol]: unknown }) => {
      const symbols = Object.getOwnPropertySymbols(socket);
      const keepAlive = symbols.find((k) => k.description === "kSetKeepAlive");
      const delay = symbols.find((k) => k.description === "kSetKeepAliveInitialDelay");
      seen.push({ allowHalfOpen: socket.allowHalfOpen, keepAlive: keepAlive && socket[keepAlive], delay: delay && socket[delay] });
    });
    try {
      await burst((server.address() as net.AddressInfo).port, 2 * ACCEPTORS, REQUEST);
      assert.equal(seen.length, 2 * ACCEPTORS);
      for (const s of seen) assert.deepEqual(s, { allowHalfOpen: true, keepAlive: true, delay: 30 });
    } finally {
      acceptors.close();
      server.close();
    }
  });

  it("a connection accepted by a duplicate is the same kind as the server's own: a client that half-closes after its request still gets an answer given after its FIN", async () => {
    const home = useTempHome();
    // An upstream that answers later, so every answer is written after the client's FIN has been read.
    const upstream = async (options: { resource?: string }): Promise<MsiTokenResponse> => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = Math.floor(Date.now() / 1000);
      return { access_token: "upstream-user-token", expires_in: "3600", expires_on: String(now + 3600), not_before: String(now), resource: options.resource!, token_type: "Bearer" };
    };
    const running = await startServer({ env: home.env, issuer: "chain", upstream });
    try {
      const request = `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n`;
      const answers = await burst(running.port, 2 * ACCEPTORS, request, undefined, true);
      assert.deepEqual(answers.map((a) => a.status), new Array(2 * ACCEPTORS).fill(200));
      for (const a of answers) assert.match(a.body, /upstream-user-token/);
    } finally {
      await running.close();
    }
  });

  it("in a cluster worker (where net would listen on a descriptor in the primary) the server keeps its own handle alone: nothing leaks, and closing closes the port", async () => {
    const acceptorsModule = path.resolve(__dirname, "../../src/serve/acceptors.js");
    const script = `
      const cluster = require("cluster");
      if (cluster.isPrimary) {
        const worker = cluster.fork();
        worker.on("message", (m) => { console.log(JSON.stringify(m)); worker.kill(); });
        worker.on("exit", () => process.exit(0));
      } else {
        const fs = require("fs"), http = require("http"), net = require("net");
        const { addAcceptors } = require(${JSON.stringify(acceptorsModule)});
        const open = () => fs.readdirSync("/proc/self/fd").length;
        const server = http.createServer((q, r) => r.end("ok"));
        const errors = [];
        server.on("error", (e) => errors.push(e.message));
        const before = open();
        // As azmi serve listens: exclusive, so the worker owns its socket.
        server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
          const listening = open();
          const acceptors = addAcceptors(server);
          const port = server.address().port;
          const made = open() - listening;
          setTimeout(() => {
            acceptors.close();
            server.close();
            setImmediate(() => {
              const s = net.connect(port, "127.0.0.1", () => { s.destroy(); done("connected"); });
              s.on("error", (e) => done(e.code));
            });
            function done(refused) { process.send({ count: acceptors.count, made, refused, left: open() - before, errors }); }
          }, 50);
        });
      }`;
    // A file, not -e: cluster.fork() runs the primary's script again.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-cluster-"));
    const file = path.join(dir, "cluster.js");
    fs.writeFileSync(file, script);
    const out = await new Promise<string>((resolve, reject) =>
      execFileChild([file], (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))),
    ).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
    assert.deepEqual(JSON.parse(out), { count: 1, made: 0, refused: "ECONNREFUSED", left: 0, errors: [] });
  });

  it("closing the server closes every duplicate: the port refuses connections and no descriptor is left open", async () => {
    const home = useTempHome();
    const before = await settledDescriptors();
    const running = await startServer({ env: home.env });
    assert.ok(openDescriptors() >= before + ACCEPTORS - 1, "the duplicates were not made");
    await running.close();
    await new Promise((resolve) => setImmediate(resolve));
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(running.port, "127.0.0.1", () => {
        s.destroy();
        resolve("connected");
      });
      s.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.equal(refused, "ECONNREFUSED");
    assert.equal(openDescriptors(), before);
  });

  describe("through azmi serve", () => {
    const home = useTempHome();
    it("a burst of IMDS token requests on new connections all get the token (fast path and node:http alike)", async () => {
      const running = await startServer({ env: home.env });
      try {
        const plain = `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n\r\n`;
        // A body-carrying request is not plain: node:http answers it (405 from IMDS for a POST).
        const handedOver = `POST ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
        const answers = await burst(running.port, 24, plain);
        assert.equal(answers.length, 24);
        for (const a of answers) {
          assert.equal(a.status, 200, a.body);
          assert.ok((JSON.parse(a.body) as MsiTokenResponse).access_token.length > 100);
        }
        const posts = await burst(running.port, 12, handedOver);
        assert.deepEqual(posts.map((a) => a.status), new Array(12).fill(405));
      } finally {
        await running.close();
      }
    });

    (canTellPeerUser() && process.getuid?.() === 0 ? it : it.skip)("a chain server refuses every connection of another user's burst, whichever handle accepted it", async () => {
      const now = Math.floor(Date.now() / 1000);
      const upstream = async (options: { resource?: string }): Promise<MsiTokenResponse> => ({
        access_token: "upstream-user-token",
        expires_in: "3600",
        expires_on: String(now + 3600),
        not_before: String(now),
        resource: options.resource!,
        token_type: "Bearer",
      });
      const chain = await startServer({ env: home.env, issuer: "chain", upstream });
      try {
        const request = `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n\r\n`;
        const answers = await burst(chain.port, 2 * ACCEPTORS, request, OTHER_UID);
        assert.deepEqual(answers.map((a) => a.status), new Array(2 * ACCEPTORS).fill(403));
        for (const a of answers) assert.doesNotMatch(a.body, /upstream-user-token/);
      } finally {
        await chain.close();
      }
    });
  });
});

describe("serve: maxConnections as net reads it (overLimit)", () => {
  it("Node 20 takes any falsy limit as none; Node 21 made 0 a limit (nodejs/node#48276)", () => {
    const cases: Array<[number | undefined, number, number, boolean]> = [
      [undefined, 5, 20, false], [0, 0, 20, false], [0, 0, 21, true], [0, 0, 22, true], [undefined, 0, 22, false],
      [3, 2, 20, false], [3, 3, 20, true], [3, 3, 22, true], [NaN, 3, 20, false],
    ];
    for (const [limit, count, major, over] of cases) assert.equal(overLimit(limit, count, major), over, `limit ${limit}, ${count} open, Node ${major}`);
  });
});

describe("serve: which libuv accepts one connection per turn", () => {
  it("1.45 and later (libuv/libuv#3696, Node 20.3); before, one handle drains the queue and duplicates would add nothing", () => {
    for (const [version, expected] of [["1.44.2", false], ["1.45.0", true], ["1.46.0", true], ["1.51.0", true], ["2.0.0", true], ["0.99.0", false]] as const) {
      assert.equal(acceptsOnePerTurn(version), expected, version);
    }
  });
});
