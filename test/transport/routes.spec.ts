/**
 * The routing-table check (src/transport/routes.ts): the fib_trie parser on
 * dumps copied from real namespaces, then, inside namespaces this test makes,
 * its answer against a real connect for each kind of route setup. The one
 * rule: whenever it says "no route", the connect fails with ENETUNREACH.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ipv4Number, isLoopbackOnly, LOOPBACK_ONLY_DUMP, noRouteTo, readProcFile, readRoutingTables, tablesCover } from "../../src/transport/routes";
import { Netns, REPO_ROOT, skipWithoutNetns } from "../netns/harness";

/** `cat /proc/net/fib_trie` in a namespace with only `lo` up (main and local share one trie, printed twice). */
const LO_TRIE = `  +-- 127.0.0.0/8 2 0 2
     +-- 127.0.0.0/31 1 0 0
        |-- 127.0.0.0
           /8 host LOCAL
        |-- 127.0.0.1
           /32 host LOCAL
     |-- 127.255.255.255
        /32 link BROADCAST
`;
const LO_ONLY = `Main:\n${LO_TRIE}Local:\n${LO_TRIE}`;

/** What a namespace without rules of its own prints: Main and Local share one trie, printed under both. */
function merged(trie: string, before = ""): string {
  return `${before}Main:\n${trie}Local:\n${trie}`;
}

/** The same namespace with 10.9.0.1/24 on an interface, a blackhole, a route with a TOS, and 169.254.0.0/16 in table 100. */
const SEVERAL = merged(
  `  +-- 0.0.0.0/0 3 0 5
     +-- 10.9.0.0/24 2 0 2
        +-- 10.9.0.0/31 1 0 0
           |-- 10.9.0.0
              /24 link UNICAST
           |-- 10.9.0.1
              /32 host LOCAL
        |-- 10.9.0.255
           /32 link BROADCAST
     +-- 192.0.0.0/5 2 0 2
        |-- 192.0.2.0
           /24 universe BLACKHOLE
        |-- 198.51.100.0
           /24 link UNICAST tos=16
`,
  "Id 100:\n  |-- 169.254.0.0\n     /16 link UNICAST\n",
);

const DEFAULT_ROUTE = merged(`  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
`);

/** After `ip rule add …`: Main and Local apart (Main holds the routes, Local the local addresses). */
const UNMERGED = `Main:
  |-- 10.9.0.0
     /24 link UNICAST
Local:
  +-- 10.9.0.0/24 2 0 2
     |-- 10.9.0.1
        /32 host LOCAL
  |-- 127.0.0.1
     /32 host LOCAL
`;

function cover(dump: string, ip: string): boolean | undefined {
  return tablesCover(Buffer.from(dump, "latin1"), ipv4Number(ip)!);
}

describe("transport/routes: no route, known from the routing tables", function () {
  describe("ipv4Number", function () {
    it("gives a dotted quad's bits as a signed 32-bit integer, and undefined for anything else", function () {
      assert.equal(ipv4Number("169.254.169.254"), 0xa9fea9fe | 0);
      assert.equal(ipv4Number("0.0.0.0"), 0);
      assert.equal(ipv4Number("255.255.255.255"), -1);
      assert.equal(ipv4Number("127.0.0.1"), 0x7f000001);
      for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.", ".1.2.3", "1.2.3.4 ", "::1", "0x1.2.3.4", "1.2.3.1000"]) {
        assert.equal(ipv4Number(bad), undefined, JSON.stringify(bad));
      }
    });
  });

  describe("tablesCover (a /proc/net/fib_trie dump)", function () {
    it("only lo: nothing covers 169.254.169.254, the local table covers 127.0.0.1", function () {
      assert.equal(cover(LO_ONLY, "169.254.169.254"), false);
      assert.equal(cover(LO_ONLY, "127.0.0.1"), true);
      assert.equal(cover(LO_ONLY, "127.200.1.1"), true, "127.0.0.0/8 host LOCAL");
    });

    it("a default route covers everything", function () {
      assert.equal(cover(DEFAULT_ROUTE, "169.254.169.254"), true);
      assert.equal(cover(DEFAULT_ROUTE, "8.8.8.8"), true);
    });

    it("reads every table (Id 100 too), every route type (a blackhole too) and routes with a TOS", function () {
      assert.equal(cover(SEVERAL, "169.254.169.254"), true, "table 100's 169.254.0.0/16");
      assert.equal(cover(SEVERAL, "192.0.2.7"), true, "the blackhole");
      assert.equal(cover(SEVERAL, "198.51.100.9"), true, "the route with tos=16");
      assert.equal(cover(SEVERAL, "10.9.0.77"), true);
      assert.equal(cover(SEVERAL, "10.9.1.1"), false);
      assert.equal(cover(SEVERAL, "203.0.113.1"), false);
    });

    it("compares only a prefix's bits: /32 is one address, /0 all", function () {
      const dump = merged("  |-- 169.254.169.254\n     /32 link UNICAST\n");
      assert.equal(cover(dump, "169.254.169.254"), true);
      assert.equal(cover(dump, "169.254.169.253"), false);
      assert.equal(cover(merged("  |-- 169.254.0.0\n     /17 link UNICAST\n"), "169.254.169.254"), false, "169.254.0.0/17 ends at .127.255");
      assert.equal(cover(merged("  |-- 169.254.128.0\n     /17 link UNICAST\n"), "169.254.169.254"), true);
    });

    it("takes a root node printed without `+-- ` (older kernels) and a dump without a final newline", function () {
      assert.equal(cover(merged("  10.0.0.0/8 2 0 2\n     |-- 10.0.0.0\n        /8 link UNICAST\n").trimEnd(), "169.254.169.254"), false);
    });

    it("concludes nothing covered unless Main and Local read alike: a rule's own action (prohibit, blackhole) answers before any table", function () {
      assert.equal(cover(UNMERGED, "169.254.169.254"), undefined);
      assert.equal(cover(UNMERGED, "10.9.0.7"), true, "a covering entry still says so");
      assert.equal(cover("Main:\n  |-- 10.9.0.0\n     /24 link UNICAST\n", "169.254.169.254"), undefined, "no Local table at all");
      assert.equal(cover(merged("  |-- 10.9.0.0\n     /24 link UNICAST\n").replace(/\/24 link UNICAST\n$/, "/25 link UNICAST\n"), "169.254.169.254"), undefined, "one byte apart");
      assert.equal(cover(merged("  |-- 10.9.0.0\n     /24 link UNICAST\n") + "  |-- 10.9.0.1\n     /32 host LOCAL\n", "169.254.169.254"), undefined, "Local one line longer");
      assert.equal(cover(merged("  |-- 10.9.0.0\n     /24 link UNICAST\n").replace(/\n$/, ""), "169.254.169.254"), false, "alike but for Local's last newline");
    });

    it("concludes nothing from a dump it does not fully understand", function () {
      const unknown: Array<[string, string]> = [
        ["", "empty (a /proc hiding the tables)"],
        ["Main:\nLocal:\n", "tables without a single entry"],
        ["Main:\n  |-- 10.0.0.0\nLocal:\n  |-- 127.0.0.1\n     /32 host LOCAL\n", "a leaf without a prefix line"],
        ["Main:\n  |-- 10.0.0.0\n", "a last leaf without a prefix line"],
        ["Main:\n     /8 link UNICAST\n", "a prefix line before any leaf"],
        ["Main:\n  |-- 10.0.0.0\n     /33 link UNICAST\n", "a prefix longer than 32"],
        ["Main:\n  |-- 10.0.0.0\n     /8x link UNICAST\n", "a prefix that is not a number"],
        ["Main:\n  |-- 10.0.0\n     /8 link UNICAST\n", "a leaf that is not a dotted quad"],
        ["Main:\n  |-- 10.0.0.0 extra\n     /8 link UNICAST\n", "a leaf with more after its address"],
        ["Main:\n  |-- 10.0.0.0\n     /8 link UNICAST\nsomething else\n", "an unknown line at the start"],
        ["Main:\n  |-- 10.0.0.0\n     /8 link UNICAST\n  ~~ 10.0.0.0\n", "an unknown indented line"],
        ["  |-- 10.0.0.0\n     /8 link UNICAST\n", "no table header"],
      ];
      for (const [dump, why] of unknown) assert.equal(cover(dump, "169.254.169.254"), undefined, why);
    });
  });

  describe("the loopback-only dump, recognised whole (no parse)", function () {
    it("is exactly what a namespace with only lo prints, and the parser says the same of it: nothing outside 127.0.0.0/8 is covered", function () {
      assert.equal(LOOPBACK_ONLY_DUMP, LO_ONLY);
      assert.equal(isLoopbackOnly(Buffer.from(LO_ONLY, "latin1")), true);
      for (const ip of ["169.254.169.254", "0.0.0.1", "10.0.0.1", "126.255.255.255", "128.0.0.0", "255.255.255.255"]) {
        assert.equal(cover(LO_ONLY, ip), false, ip);
      }
    });

    it("anything else is not it (then the parser answers): each byte changed, one byte more or fewer, Main and Local apart, another table", function () {
      const bytes = Buffer.from(LO_ONLY, "latin1");
      for (let i = 0; i < bytes.length; i++) {
        for (const delta of [1, 0x20]) {
          const changed = Buffer.from(bytes);
          changed[i] = changed[i]! ^ delta;
          assert.equal(isLoopbackOnly(changed), false, `byte ${i} ^ ${delta}`);
        }
      }
      assert.equal(isLoopbackOnly(bytes.subarray(0, bytes.length - 1)), false);
      assert.equal(isLoopbackOnly(Buffer.concat([bytes, Buffer.from("\n")])), false);
      assert.equal(isLoopbackOnly(Buffer.from(UNMERGED, "latin1")), false);
      assert.equal(isLoopbackOnly(Buffer.from(`${LO_ONLY}Id 100:\n  |-- 169.254.0.0\n     /16 link UNICAST\n`, "latin1")), false);
      assert.equal(isLoopbackOnly(Buffer.alloc(0)), false);
    });
  });

  describe("reading the tables", function () {
    it("trusts a dump read in several pieces only when a second read is the same (routes changing in between can be skipped)", function () {
      const dump = Buffer.from(LO_ONLY);
      const reader = (...answers: Array<{ bytes: Uint8Array; reads: number } | undefined>) => {
        let calls = 0;
        const read = () => answers[calls++];
        return { read, calls: () => calls };
      };
      const one = reader({ bytes: dump, reads: 1 });
      assert.equal(readRoutingTables(one.read), dump);
      assert.equal(one.calls(), 1, "one read() returns one consistent walk: read once");
      const same = reader({ bytes: dump, reads: 3 }, { bytes: Buffer.from(LO_ONLY), reads: 3 });
      assert.equal(readRoutingTables(same.read), dump);
      assert.equal(same.calls(), 2);
      const changed = reader({ bytes: dump, reads: 3 }, { bytes: Buffer.from(LO_ONLY.replace("127.255.255.255", "127.255.255.254")), reads: 3 });
      assert.equal(readRoutingTables(changed.read), undefined);
      assert.equal(readRoutingTables(reader({ bytes: dump, reads: 2 }, undefined).read), undefined);
    });

    it("reads a /proc-like file whole, up to 256 KiB, and nothing past that", function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-routes-"));
      try {
        const small = path.join(dir, "small");
        const big = path.join(dir, "big");
        fs.writeFileSync(small, Buffer.alloc(256 * 1024, 0x61));
        fs.writeFileSync(big, Buffer.alloc(256 * 1024 + 1, 0x61));
        assert.equal(readProcFile(small)?.length, 256 * 1024);
        assert.equal(readProcFile(big), undefined);
        assert.equal(readProcFile(path.join(dir, "missing")), undefined);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("noRouteTo", function () {
    it("never asks about loopback, IPv6 or names, and AZMI_ROUTE_CHECK=0 turns it off", function () {
      assert.equal(noRouteTo("127.0.0.1"), false);
      assert.equal(noRouteTo("127.9.9.9"), false);
      assert.equal(noRouteTo("::1"), false);
      assert.equal(noRouteTo("fe80::1"), false);
      assert.equal(noRouteTo("localhost"), false);
      assert.equal(noRouteTo("0.0.0.0"), false, "Linux connects 0.0.0.0 to this machine, routes or not");
      assert.equal(noRouteTo("169.254.169.254", { AZMI_ROUTE_CHECK: "0" }), false);
    });
  });

  describe("inside namespaces: its answer against a real connect", function () {
    this.timeout(60_000);
    const CLIENT = path.join(REPO_ROOT, "dist/test/netns/client.js");

    before(function () {
      skipWithoutNetns(this);
    });

    interface Case {
      name: string;
      steps: string[][];
      /** Default 169.254.169.254. */
      ip?: string;
      noRoute: boolean;
      /** What a connect to ip:80 does there. */
      connect: string;
    }
    const ifb = (addr: string): string[][] => [["link", "add", "i0", "type", "ifb"], ["addr", "add", addr, "dev", "i0"], ["link", "set", "i0", "up"]];
    const cases: Case[] = [
      { name: "only lo", steps: [], noRoute: true, connect: "unreachable ENETUNREACH" },
      { name: "an interface on another network only (10.9.0.1/24)", steps: ifb("10.9.0.1/24"), noRoute: true, connect: "unreachable ENETUNREACH" },
      { name: "a route to 169.254.0.0/16 into a black hole", steps: ifb("169.254.0.1/16"), noRoute: false, connect: "timeout" },
      { name: "a default route into a black hole", steps: [...ifb("10.9.0.1/24"), ["route", "add", "default", "dev", "i0"]], noRoute: false, connect: "timeout" },
      { name: "169.254.169.254 on lo, nothing listening", steps: [["addr", "add", "169.254.169.254/32", "dev", "lo"]], noRoute: false, connect: "refused ECONNREFUSED" },
      { name: "an `unreachable` route", steps: [["route", "add", "unreachable", "169.254.0.0/16"]], noRoute: false, connect: "unreachable EHOSTUNREACH" },
      {
        name: "169.254.0.0/16 in table 100, with a rule that uses it",
        steps: [...ifb("10.9.0.1/24"), ["route", "add", "169.254.0.0/16", "dev", "i0", "table", "100"], ["rule", "add", "to", "169.254.0.0/16", "table", "100"]],
        noRoute: false,
        connect: "timeout",
      },
      { name: "0.0.0.0 with only lo (Linux connects it to this machine)", steps: [], ip: "0.0.0.0", noRoute: false, connect: "refused ECONNREFUSED" },
      // Rules answer before the tables, with errnos of their own; once a
      // namespace has had a rule, the check says "don't know".
      { name: "a `prohibit` rule for 169.254.169.254, no route", steps: [["rule", "add", "prohibit", "to", "169.254.169.254"]], noRoute: false, connect: "unreachable EACCES" },
      { name: "a `blackhole` rule for 169.254.169.254, no route", steps: [["rule", "add", "blackhole", "to", "169.254.169.254"]], noRoute: false, connect: "unreachable EINVAL" },
      {
        name: "a rule added and deleted again, no route (an honest miss)",
        steps: [["rule", "add", "to", "10.0.0.0/8", "table", "100"], ["rule", "del", "to", "10.0.0.0/8", "table", "100"]],
        noRoute: false,
        connect: "unreachable ENETUNREACH",
      },
      {
        // Covered in a table no rule uses: the check does not read rules, so it
        // says "don't know" and the connect answers (an honest miss, never a wrong answer).
        name: "169.254.0.0/16 in table 100, no rule using it",
        steps: [...ifb("10.9.0.1/24"), ["route", "add", "169.254.0.0/16", "dev", "i0", "table", "100"]],
        noRoute: false,
        connect: "unreachable ENETUNREACH",
      },
    ];

    it("the dump of a namespace with only lo is the one recognised whole (skipped, with the dump printed, on a kernel that prints it otherwise: the parser answers there)", async function () {
      const ns = await Netns.create();
      try {
        const dump = spawnSync("ip", ["netns", "exec", ns.name, "cat", "/proc/net/fib_trie"]).stdout;
        if (!isLoopbackOnly(dump)) {
          console.log(`      (this kernel prints a namespace with only lo as:\n${dump.toString("latin1")})`);
          this.skip();
        }
        const run = await ns.runNode([CLIENT, JSON.stringify({ op: "routes", ip: "169.254.169.254", port: 80, timeoutMs: 300 })], { timeoutMs: 20_000 });
        assert.equal(run.code, 0, run.stderr);
        assert.equal((JSON.parse(run.stdout.trim().split("\n").pop()!) as { noRoute: boolean }).noRoute, true);
      } finally {
        await ns.destroy();
      }
    });

    it("AZMI_TRANSPORT=native insists on the addon: send() connects through it, or says it is missing, never answers from the tables", async function () {
      const ns = await Netns.create();
      try {
        const send = async (env: NodeJS.ProcessEnv) => {
          const cmd = { op: "send", url: "http://169.254.169.254/metadata/identity/oauth2/token", timeoutMs: 2000 };
          const run = await ns.runNode([CLIENT, JSON.stringify(cmd)], { env: { ...process.env, ...env }, timeoutMs: 20_000 });
          assert.equal(run.code, 0, run.stderr);
          return JSON.parse(run.stdout.trim().split("\n").pop()!) as { code: string; message: string; pendingAtReturn: boolean };
        };
        const tables = await send({ AZMI_TRANSPORT: undefined });
        assert.equal(tables.code, "ENETUNREACH");
        assert.match(tables.message, /no route in this machine's routing tables/);
        // Known at once, yet rejected only once the caller holds the promise:
        // a promise rejected before that costs Node's unhandled-rejection
        // bookkeeping, ~0.15 ms of a < 1 ms answer in a fresh process.
        assert.equal(tables.pendingAtReturn, true, "send()'s promise was already rejected when send() returned");
        const insisted = await send({ AZMI_TRANSPORT: "native" });
        assert.deepEqual([insisted.code, insisted.message], ["ENETUNREACH", "connect ENETUNREACH 169.254.169.254:80: network unreachable (timeout 2000 ms)"]);
        const missing = await send({ AZMI_TRANSPORT: "native", AZMI_NATIVE_PATH: "/nonexistent/azmi.node" });
        assert.equal(missing.code, "ERR_INVALID_ENVIRONMENT", JSON.stringify(missing));
        assert.match(missing.message, /AZMI_TRANSPORT=native but the native addon could not be loaded/);
      } finally {
        await ns.destroy();
      }
    });

    for (const c of cases) {
      it(`${c.name}: noRoute ${c.noRoute}, connect ${c.connect}`, async function () {
        const ip = c.ip ?? "169.254.169.254";
        const ns = await Netns.create();
        try {
          for (const step of c.steps) {
            const r = spawnSync("ip", ["-n", ns.name, ...step], { encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 0, `ip ${step.join(" ")}: ${r.stderr}`);
          }
          const run = await ns.runNode([CLIENT, JSON.stringify({ op: "routes", ip, port: 80, timeoutMs: 300 })], { timeoutMs: 20_000 });
          assert.equal(run.code, 0, run.stderr);
          const out = JSON.parse(run.stdout.trim().split("\n").pop()!) as { noRoute: boolean; connect: { outcome: string; errno?: string } };
          const connect = [out.connect.outcome, out.connect.errno].filter(Boolean).join(" ");
          assert.deepEqual({ noRoute: out.noRoute, connect }, { noRoute: c.noRoute, connect: c.connect });
          // The rule the check lives by.
          if (out.noRoute) assert.equal(connect, "unreachable ENETUNREACH");
          // And the parser reads the real dump of each setup: "no route" exactly where the check said so.
          const dump = spawnSync("ip", ["netns", "exec", ns.name, "cat", "/proc/net/fib_trie"]).stdout;
          if (ip !== "0.0.0.0") assert.equal(tablesCover(dump, ipv4Number(ip)!) === false, c.noRoute, dump.toString("latin1"));
          // Recognised whole only where the parser, too, finds nothing outside 127.0.0.0/8 covered.
          if (isLoopbackOnly(dump)) assert.ok(c.steps.length === 0 && tablesCover(dump, ipv4Number("169.254.169.254")!) === false, c.name);
        } finally {
          await ns.destroy();
        }
      });
    }
  });
});
