/**
 * The client fault-injection matrix as tests (issue 6 §3): every case of
 * `faultCases.ts` (IMDS via the override, App Service, Cloud Shell, Azure
 * Arc, Service Fabric over pinned TLS) against our `ManagedIdentityCredential`
 * over the native addon and over the node:net fallback. Each test asserts the
 * exact outcome (error `name` and `code`, or the token issued), the exact
 * number of requests, the time bound (the call's deadline when one exchange
 * settles it, 3 × when it retries or waits for the deadline), and that no
 * token, identity header or Arc key reaches the error or any verbose log
 * line. `node dist/bench/fault-matrix.js` prints the same matrix as a table.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { nativeLoadError, nativeTransport } from "../../src/transport/http";
import { FAULT_CASES } from "./faultCases";
import { cleanupFaultRuns, runFaultCase, type TransportName } from "./runFaultCase";

const transports: TransportName[] = ["native", "node"];

/** Open file descriptors of this process (Linux), or undefined elsewhere. */
function openFds(): number | undefined {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

describe("reliability: client fault-injection matrix", function () {
  after(cleanupFaultRuns);

  for (const transport of transports) {
    describe(`over the ${transport} transport`, function () {
      before(function () {
        if (transport === "native" && !nativeTransport()) {
          console.log(`    (native transport skipped: ${nativeLoadError()}; run "npm run build:native")`);
          this.skip();
        }
      });

      let fdsBefore: number | undefined;
      before(async () => {
        // Warm up (loads the transport, TLS, timers) before counting descriptors.
        await runFaultCase(FAULT_CASES.find((c) => c.name.startsWith("404 ×2"))!, transport);
        fdsBefore = openFds();
      });

      for (const c of FAULT_CASES) {
        it(c.name, async function () {
          this.timeout(c.boundMs + 10_000);
          const r = await runFaultCase(c, transport);
          assert.deepEqual(r.failures, [], `${transport} / ${c.name}: ${r.failures.join("; ")}`);
        });
      }

      it("after every case, no socket or file descriptor is left open", async function () {
        if (fdsBefore === undefined) this.skip();
        // A leak per case would show as dozens; a little slack absorbs unrelated activity in a shared mocha run.
        const SLACK = 4;
        let now = openFds()!;
        for (let i = 0; i < 50 && now > fdsBefore!; i++) {
          await new Promise((r) => setTimeout(r, 20));
          now = openFds()!;
        }
        assert.ok(now <= fdsBefore! + SLACK, `${now} descriptors open, ${fdsBefore} before the matrix`);
      });
    });
  }
});
