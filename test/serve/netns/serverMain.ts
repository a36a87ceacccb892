/**
 * Runs `startServer` inside a network namespace for test/serve/netns.spec.ts:
 * `ip netns exec <ns> node dist/test/serve/netns/serverMain.js <host>`.
 * Prints one JSON line `{"port","host","appServiceSecret","warnings"}` once
 * listening (warnings are what `onWarning` received, so the test can assert the
 * non-loopback warning), then serves until SIGTERM. AZMI_HOME must point at a
 * temp dir (the local issuer keeps its key there); no state file is written.
 */
import { startServer } from "../../../src/serve/server";

async function main(): Promise<void> {
  const host = process.argv[2] ?? "127.0.0.1";
  const warnings: string[] = [];
  const server = await startServer({ host, stateFile: false, onWarning: (msg) => warnings.push(msg) });
  process.stdout.write(`${JSON.stringify({ port: server.port, host: server.host, appServiceSecret: server.dialects.appService.IDENTITY_HEADER, warnings })}\n`);
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
