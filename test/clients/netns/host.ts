/**
 * Runs INSIDE a test network namespace (test/clients/netns.spec.ts starts it
 * with `ip netns exec <ns> node dist/test/clients/netns/host.js <json>`):
 * `azmi serve` at the real IMDS address 169.254.169.254:80 (which exists
 * only on that namespace's `lo`), plus, for `az login`, a loopback HTTPS
 * fake of ARM's `GET /subscriptions` inside the same namespace.
 *
 * Prints one JSON line with what the spec needs to verify tokens from
 * outside the namespace (issuer, tenant, system client id, the JWKS itself),
 * then serves until SIGTERM.
 *
 *   {"azmiHome":"/tmp/…","armKey":"/tmp/…/arm.key","armCert":"/tmp/…/arm.crt","identities":[{"clientId":"…"}]}
 */
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { startServer, type IdentityConfig } from "../../../src/serve/server";

interface HostOptions {
  azmiHome: string;
  armKey?: string;
  armCert?: string;
  subscriptionId?: string;
  identities?: IdentityConfig[];
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as HostOptions;
  const server = await startServer({
    host: "169.254.169.254",
    port: 80,
    identities: options.identities,
    env: { AZMI_HOME: options.azmiHome },
    onWarning: () => {}, // the non-loopback warning is expected: this address exists only in the namespace
  });
  const jwks = await (await fetch(server.jwksUri)).json();

  let armUrl: string | undefined;
  let arm: https.Server | undefined;
  if (options.armKey && options.armCert) {
    arm = https.createServer({ key: fs.readFileSync(options.armKey), cert: fs.readFileSync(options.armCert) }, (req, res) => {
      // The spec checks az's tokens itself; this fake only has to let `az login` list one subscription.
      const ok = (req.url ?? "").startsWith("/subscriptions?") && /^Bearer ey/.test(req.headers.authorization ?? "");
      res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(ok
        ? { value: [{ id: `/subscriptions/${options.subscriptionId}`, subscriptionId: options.subscriptionId, tenantId: server.tenantId, displayName: "azmi-local", state: "Enabled" }] }
        : { error: { code: "InvalidAuthenticationToken", message: "fake ARM: bearer token required" } }));
    });
    await new Promise<void>((resolve) => arm!.listen(0, "127.0.0.1", resolve));
    armUrl = `https://127.0.0.1:${(arm.address() as AddressInfo).port}/`;
  }

  process.stdout.write(`${JSON.stringify({
    ready: true, url: server.url, issuer: server.issuer, tenantId: server.tenantId, systemClientId: server.systemClientId, jwks, armUrl,
  })}\n`);

  const stop = () => {
    arm?.close();
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error: Error) => {
  process.stdout.write(`${JSON.stringify({ ready: false, error: error.message })}\n`);
  process.exit(1);
});
