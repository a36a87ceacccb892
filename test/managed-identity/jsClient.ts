/**
 * Child-process driver for the differential suite: runs `@azure/identity`'s
 * own ManagedIdentityCredential (MSAL picks its source once per process, so
 * each scenario needs a fresh process) and prints what it got as JSON.
 * Usage: node jsClient.js '{"options":{...},"calls":["scope", ...]}'
 * The parent sets the environment (always with IMDS pointed at loopback).
 */
interface Args {
  options?: Record<string, unknown>;
  /** Use DefaultAzureCredential instead (its MI link probes IMDS). */
  dac?: boolean;
  calls: Array<string | string[]>;
}

async function main(): Promise<void> {
  // NETWORK RULE: only ever against a loopback fake, or inside a namespace the test made.
  if (!process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST && process.env.AZMI_TEST_IN_NETNS !== "1") {
    process.stderr.write("refusing to run: set AZURE_POD_IDENTITY_AUTHORITY_HOST to a loopback fake, or run inside a test namespace\n");
    process.exit(2);
  }
  const args = JSON.parse(process.argv[2] ?? "{}") as Args;
  const identity = require("@azure/identity") as typeof import("@azure/identity");
  const ManagedIdentityCredential = (args.dac ? identity.DefaultAzureCredential : identity.ManagedIdentityCredential) as typeof identity.ManagedIdentityCredential;
  const out: unknown[] = [];
  let credential: InstanceType<typeof ManagedIdentityCredential>;
  try {
    credential = new ManagedIdentityCredential((args.options ?? {}) as never);
  } catch (e) {
    // Some refusals happen in JS's constructor; report them per call like ours.
    for (const _ of args.calls) out.push({ ok: false, name: (e as Error).name, message: (e as Error).message, inConstructor: true });
    process.stdout.write(JSON.stringify(out));
    return;
  }
  for (const scopes of args.calls) {
    try {
      const t = await credential.getToken(scopes);
      out.push({ ok: true, token: t.token, expiresOnTimestamp: t.expiresOnTimestamp, refreshAfterTimestamp: t.refreshAfterTimestamp, at: Date.now() });
    } catch (e) {
      out.push({ ok: false, name: (e as Error).name, message: (e as Error).message });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

void main();
