/**
 * The two parsers must agree on everything, not only on the hand-written
 * cases: mutate the native seed corpus (real IMDS, App Service, Cloud Shell,
 * chunked and error responses) with a fixed-seed PRNG, serve each mutant
 * over loopback, and compare what the native and node:net transports make
 * of it. Also checks the TypeScript parser gives the same answer whatever
 * the split (the C++ parser has the same check in native/test).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ResponseParser } from "../../src/transport/parser";
import { REPO_ROOT } from "../netns/harness";
import { rawServer } from "./loopback";
import { allTransports, outcomeOf } from "./transports";

const CORPUS = path.join(REPO_ROOT, "native", "test", "corpus");
const MUTANTS = Number(process.env.AZMI_DIFF_MUTANTS ?? 1500);

/** xorshift32: deterministic, so a failure names a reproducible mutant. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const INTERESTING = ["\r\n", "\n", "\r", ":", " ", "\t", "0", "chunked", "Content-Length: ", "Transfer-Encoding: ", "HTTP/1.1 ", "\x00", "\xff", ";", ",", "f", "-1"];

function mutate(seed: Buffer, rand: () => number): Buffer {
  let b = Buffer.from(seed);
  const edits = 1 + (rand() % 4);
  for (let e = 0; e < edits; e++) {
    const at = b.length === 0 ? 0 : rand() % b.length;
    switch (rand() % 5) {
      case 0: // flip a byte
        if (b.length) b[at] = rand() & 0xff;
        break;
      case 1: // delete a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + (rand() % 8)))]);
        break;
      case 2: // insert something HTTP-ish
        b = Buffer.concat([b.subarray(0, at), Buffer.from(INTERESTING[rand() % INTERESTING.length]!, "latin1"), b.subarray(at)]);
        break;
      case 3: // truncate
        b = b.subarray(0, at);
        break;
      default: // duplicate a slice
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + (rand() % 40)), b.subarray(at)]);
    }
  }
  return b;
}

function seeds(): Buffer[] {
  return fs.readdirSync(CORPUS).sort().map((f) => fs.readFileSync(path.join(CORPUS, f)));
}

describe("transport: differential (mutated real responses)", function () {
  this.timeout(180000);

  it(`native and node:net agree on ${MUTANTS} mutated responses`, async function () {
    const transports = allTransports();
    if (transports.length < 2) this.skip();
    const corpus = seeds();
    const rand = prng(0xa2e1);
    const mutants: Buffer[] = [];
    for (let i = 0; i < MUTANTS; i++) mutants.push(mutate(corpus[i % corpus.length]!, rand));
    let next = 0;
    const srv = await rawServer((s) => s.end(mutants[next++]!));
    try {
      const seen = new Map<string, number>();
      for (let i = 0; i < MUTANTS; i++) {
        const req = { ip: "127.0.0.1", port: srv.port, method: "GET", path: "/", timeoutMs: 5000, maxHeaderBytes: 512, maxBodyBytes: 256 };
        // Each transport fetches the same mutant: serve it twice in a row.
        mutants.splice(i * 2 + 1, 0, mutants[i * 2]!);
        const { elapsedMs: _a, ...a } = await outcomeOf(transports[0]!, req);
        const { elapsedMs: _b, ...b } = await outcomeOf(transports[1]!, req);
        assert.deepEqual(b, a, `mutant #${i} ${JSON.stringify(mutants[i * 2]!.toString("latin1"))}`);
        const key = a.ok ? `status ${a.status}` : a.code;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      // The mutants must exercise both success and several failure kinds.
      assert.ok(seen.size >= 4, JSON.stringify([...seen]));
    } finally {
      await srv.close();
    }
  });

  it("the TypeScript parser's answer does not depend on how bytes are split", function () {
    const rand = prng(7);
    const inputs = [...seeds(), ...seeds().map((s) => mutate(s, rand)), ...seeds().map((s) => mutate(s, rand))];
    for (const input of inputs) {
      const parse = (parts: Buffer[]): string => {
        const p = new ResponseParser(512, 256);
        let r: string = "more";
        for (const part of parts) {
          r = p.feed(part);
          if (r !== "more") break;
        }
        if (r === "more") r = p.finish();
        return JSON.stringify(r === "done" ? [r, p.status, p.statusText, p.headers, p.body().toString("latin1")] : [r, p.errorCode, p.errorPhase, p.errorDetail]);
      };
      const whole = parse([input]);
      for (let i = 1; i < input.length; i++) {
        assert.equal(parse([input.subarray(0, i), input.subarray(i)]), whole, `split at ${i} of ${JSON.stringify(input.toString("latin1"))}`);
      }
    }
  });
});
