/**
 * Runs ONE transport operation and prints the outcome as one JSON line; the
 * netns tests run it inside a namespace with `ip netns exec <ns> node
 * dist/test/netns/client.js '<json>'`, so the client's sockets live in the
 * namespace. Never throws: errors are printed as facts.
 *
 *   {"op":"probe","transport":"native","ip":"169.254.169.254","port":80,"timeoutMs":500}
 *   {"op":"probe","transport":"native-pool",...}   (native addon, pool driver for requests)
 *   {"op":"request","transport":"node","ip":"169.254.169.254","port":80,"path":"/","timeoutMs":500}
 *   {"op":"send","url":"http://169.254.169.254/metadata/identity/oauth2/token","headers":{"Metadata":"true"},"timeoutMs":500}
 *      (a failure also says whether send()'s promise was still pending when send() returned: pendingAtReturn)
 *   {"op":"transportKind"}
 *   {"op":"routes","ip":"169.254.169.254","port":80,"timeoutMs":300}   (the routing-table answer, then a real connect)
 */
import { fallbackTransport } from "../../src/transport/fallback";
import { nativeTransport, send, transportKind } from "../../src/transport/http";
import { noRouteTo } from "../../src/transport/routes";
import type { Transport } from "../../src/transport/types";
import { inspect } from "node:util";

interface Command {
  op: "probe" | "request" | "send" | "transportKind" | "routes";
  transport?: "native" | "native-pool" | "node";
  ip?: string;
  port?: number;
  method?: string;
  path?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

function pick(kind: Command["transport"]): Transport {
  if (kind === "node") return fallbackTransport;
  const t = nativeTransport(kind === "native-pool" ? "pool" : undefined);
  if (!t) throw new Error("native addon not available");
  return t;
}

let pendingAtReturn: boolean | undefined;

async function main(): Promise<unknown> {
  const cmd = JSON.parse(process.argv[2] ?? "{}") as Command;
  const started = performance.now();
  try {
    switch (cmd.op) {
      case "transportKind":
        return { ok: true, kind: transportKind() };
      case "routes": {
        const noRoute = noRouteTo(cmd.ip!);
        const connect = await pick("native").probe(cmd.ip!, cmd.port ?? 80, cmd.timeoutMs ?? 1000);
        return { ok: true, noRoute, connect };
      }
      case "probe": {
        const r = await pick(cmd.transport).probe(cmd.ip!, cmd.port ?? 80, cmd.timeoutMs ?? 1000);
        return { ok: true, ...r, wallMs: performance.now() - started };
      }
      case "request": {
        const r = await pick(cmd.transport).request({
          ip: cmd.ip!, port: cmd.port ?? 80, method: cmd.method ?? "GET", path: cmd.path ?? "/",
          headers: Object.entries(cmd.headers ?? {}), body: cmd.body, timeoutMs: cmd.timeoutMs ?? 1000,
        });
        return { ok: true, status: r.status, headers: r.headers, body: r.body.toString("utf8"), wallMs: performance.now() - started };
      }
      case "send": {
        const sent = send({ url: cmd.url!, method: cmd.method, headers: cmd.headers, body: cmd.body, timeoutMs: cmd.timeoutMs ?? 1000 });
        // (How the promise stood when send() returned: a failure known at once should still be pending, see send().)
        pendingAtReturn = inspect(sent).includes("<pending>");
        const r = await sent;
        return { ok: true, status: r.status, headers: r.headers, body: r.body.toString("utf8"), wallMs: performance.now() - started };
      }
      default:
        return { ok: false, name: "Error", message: `unknown op ${String(cmd.op)}` };
    }
  } catch (e) {
    const err = e as Error & Record<string, unknown>;
    return {
      ok: false, name: err.name, code: err.code, phase: err.phase, message: err.message, address: err.address,
      port: err.port, timeoutMs: err.timeoutMs, elapsedMs: err.elapsedMs, wallMs: performance.now() - started, pendingAtReturn,
    };
  }
}

void main().then((out) => process.stdout.write(`${JSON.stringify(out)}\n`));
