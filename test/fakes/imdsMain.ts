/**
 * A fake IMDS as its own process, for network-namespace tests: listens on
 * the address and port given (default 169.254.169.254:80 — only ever inside
 * a namespace the test created) and prints `listening <url>`; each request is
 * printed as one JSON line `request {...}` so the parent can assert it.
 *
 * Usage: node dist/test/fakes/imdsMain.js '{"host":"169.254.169.254","port":80,"lifetimeSec":3600}'
 */
import { startFakeImds, type FakeImdsOptions } from "./imds";

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as FakeImdsOptions;
  // Each line is written when the request is logged, before it is answered
  // (stdout to a pipe is synchronous on Linux), so it is in the pipe before
  // the client has its answer.
  const fake = await startFakeImds({
    host: "169.254.169.254",
    port: 80,
    ...options,
    onRequest: (r) => {
      process.stdout.write(`request ${JSON.stringify({ method: r.method, target: r.target, metadata: r.header("metadata") ?? null, accept: r.header("accept") ?? null })}\n`);
    },
  });
  process.stdout.write(`listening ${fake.url}\n`);
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

void main();
