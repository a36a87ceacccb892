/**
 * Reference client: asks the real `@azure/identity` (the package dependency,
 * unchanged) for one token, in a fresh process — MSAL picks its managed-identity
 * source once per process, so each dialect needs its own process.
 *
 * Usage: node dist/test/clients/node/getToken.js <kind> <resource> [id]
 *   kind: mi | mi-client-id | mi-object-id | mi-resource-id | dac | dac-client-id
 * Output: {"token":"…","expiresOn":"<epoch s>"} and exit 0, or {"error":"…","type":"…"} and exit 1.
 *
 * @example
 * ```sh
 * IDENTITY_ENDPOINT=… IDENTITY_HEADER=… node dist/test/clients/node/getToken.js dac https://vault.azure.net
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";

function build(kind: string, id: string | undefined): TokenCredential {
  // Loaded here, not at the top: a usage error should cost nothing.
  const identity = require("@azure/identity") as typeof import("@azure/identity");
  const need = (): string => {
    if (!id) throw new RangeError(`kind '${kind}' needs an id as the third argument`);
    return id;
  };
  switch (kind) {
    case "mi":
      return new identity.ManagedIdentityCredential();
    case "mi-client-id":
      return new identity.ManagedIdentityCredential({ clientId: need() });
    case "mi-object-id":
      return new identity.ManagedIdentityCredential({ objectId: need() });
    case "mi-resource-id":
      return new identity.ManagedIdentityCredential({ resourceId: need() });
    case "dac":
      return new identity.DefaultAzureCredential();
    case "dac-client-id":
      return new identity.DefaultAzureCredential({ managedIdentityClientId: need() });
    default:
      throw new RangeError(`unknown credential kind '${kind}'`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [kind, resource, id] = argv;
  if (!kind || !resource) {
    process.stderr.write("usage: getToken.js <mi|mi-client-id|mi-object-id|mi-resource-id|dac|dac-client-id> <resource> [id]\n");
    return 2;
  }
  let credential: TokenCredential;
  try {
    credential = build(kind, id);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  try {
    const token = await credential.getToken(`${resource}/.default`);
    if (!token) throw new Error("getToken returned null");
    process.stdout.write(`${JSON.stringify({ token: token.token, expiresOn: String(Math.floor(token.expiresOnTimestamp / 1000)) })}\n`);
    return 0;
  } catch (error) {
    const e = error as Error;
    process.stdout.write(`${JSON.stringify({ error: e.message, type: e.name })}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
