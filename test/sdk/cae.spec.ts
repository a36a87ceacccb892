/**
 * Continuous access evaluation inside a real Azure SDK pipeline: the real
 * `@azure/keyvault-secrets` SecretClient (its `bearerTokenAuthenticationPolicy`
 * always asks `getToken(scopes, { enableCae: true, ... })`, and answers a
 * 401 `error="insufficient_claims"` challenge with `getToken(scopes,
 * { enableCae: true, claims })`), azmi and `@azure/identity` side by side
 * against the same Entra and Key Vault fakes (HTTPS on 127.0.0.1).
 *
 * What must hold for both libraries:
 * - every token request to Entra carries the CAE client capability
 *   (`xms_cc` `cp1` in the form's `claims`), including the requests of a
 *   refresh (azmi's chain refreshes in the background, detached from the
 *   caller, and used to drop `enableCae` there);
 * - after a claims challenge, the token issued for it replaces the rejected
 *   one (MSAL's cache does): a client created afterwards presents the new
 *   token, not the rejected one first (azmi's caches used to keep serving
 *   the rejected token to every new client, each paying a 401 and a new
 *   Entra request).
 */
import * as assert from "node:assert/strict";
import type { TokenCredential } from "@azure/core-auth";
import * as identity from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { DefaultAzureCredential } from "../../src/credentials/defaultAzureCredential";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { startKeyVaultFake, type KeyVaultFake } from "../fakes/keyVault";
import { useCleanEnv } from "../support/env";
import { useLoopbackGuard, useTempAzmiHome } from "../credentials/support";

const SECRET = "cae-proof-client-secret-value-7";

type Kind = "DefaultAzureCredential" | "EnvironmentCredential";
type Lib = "azmi" | "@azure/identity";

function credentialFor(lib: Lib, kind: Kind, entra: EntraFake): TokenCredential {
  // The authority given explicitly, not only through AZURE_AUTHORITY_HOST: an
  // SDK client's token cycler keeps retrying a refresh in the background (every
  // 3 s until the token expires) after the test has put the environment back,
  // and @azure/identity then built its client for the challenge's tenant with
  // the default authority, login.microsoftonline.com (the run-wide loopback
  // guard, test/rootHooks.ts, caught it).
  const options = { agent: entra.agent(), disableInstanceDiscovery: true, authorityHost: entra.authorityHost };
  if (lib === "azmi") return kind === "DefaultAzureCredential" ? new DefaultAzureCredential(options) : new EnvironmentCredential(options);
  return kind === "DefaultAzureCredential" ? new identity.DefaultAzureCredential(options) : new identity.EnvironmentCredential(options);
}

function hasCp1(claims: string | undefined): boolean {
  if (!claims) return false;
  const parsed = JSON.parse(claims) as { access_token?: { xms_cc?: { values?: string[] } } };
  return parsed.access_token?.xms_cc?.values?.some((v) => v.toLowerCase() === "cp1") === true;
}

/** Waits (bounded by count, not by a time assertion) until `done()` holds. */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe("Azure SDK pipeline: continuous access evaluation, azmi vs @azure/identity", function () {
  const env = useCleanEnv();
  useTempAzmiHome();
  useLoopbackGuard();

  const setEnv = (entra: EntraFake) =>
    env.set({
      AZURE_TENANT_ID: entra.tenant,
      AZURE_CLIENT_ID: "cae-app",
      AZURE_CLIENT_SECRET: SECRET,
      AZURE_AUTHORITY_HOST: entra.authorityHost,
      // never IMDS: the chain stops at the environment link anyway
      AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
    });

  for (const kind of ["DefaultAzureCredential", "EnvironmentCredential"] as const) {
    it(`${kind}: a refresh still asks Entra for a CAE token (xms_cc cp1), as @azure/identity does`, async () => {
      const seen: Record<Lib, Array<string | undefined>> = { azmi: [], "@azure/identity": [] };
      for (const lib of ["azmi", "@azure/identity"] as const) {
        // 100 s tokens: the SDK's policy asks the credential on every request
        // (within its 2 min window); refresh_in 1 s makes both libraries
        // refetch after a second (azmi in the background, MSAL at once).
        const entra = await startEntraFake({ clients: { "cae-app": { secret: SECRET } }, expiresIn: 100, refreshIn: 1 });
        const vault = await startKeyVaultFake({ tenant: entra.tenant });
        try {
          setEnv(entra);
          vault.verdict = (token) => (entra.issued.includes(token) ? "ok" : "unknown");
          const client = new SecretClient(vault.url, credentialFor(lib, kind, entra), vault.clientOptions());
          assert.equal((await client.getSecret("a")).value, "value-of-a");
          await new Promise((r) => setTimeout(r, 2_100)); // past refresh_in (whole seconds, so up to 2 s)
          assert.equal((await client.getSecret("b")).value, "value-of-b");
          await settle(() => entra.tokenRequests().length >= 2);
          assert.ok(entra.tokenRequests().length >= 2, `${lib}: the second request must have refreshed the 100 s token`);
          seen[lib] = entra.tokenRequests().map((r) => r.form.claims);
        } finally {
          await Promise.all([entra.close(), vault.close()]);
        }
      }
      for (const lib of ["azmi", "@azure/identity"] as const) {
        assert.deepEqual(
          seen[lib].map(hasCp1),
          seen[lib].map(() => true),
          `${lib}: every Entra token request carries the CAE capability; claims sent: ${JSON.stringify(seen[lib])}`,
        );
      }
    });

    it(`${kind}: after a claims challenge, new SDK clients present the new token, not the rejected one, as with @azure/identity`, async () => {
      const outcome: Record<Lib, { verdicts: string[]; entraRequests: number }> = {} as never;
      for (const lib of ["azmi", "@azure/identity"] as const) {
        const entra = await startEntraFake({ clients: { "cae-app": { secret: SECRET } } });
        const vault = await startKeyVaultFake({ tenant: entra.tenant });
        try {
          setEnv(entra);
          const revoked = new Set<string>();
          vault.verdict = (token) => (!entra.issued.includes(token) ? "unknown" : revoked.has(token) ? "revoked" : "ok");
          const credential = credentialFor(lib, kind, entra);
          // Apps often build a client per operation: each starts with an empty token cycler.
          const read = async (name: string) => (await new SecretClient(vault.url, credential, vault.clientOptions()).getSecret(name)).value;
          assert.equal(await read("one"), "value-of-one");
          // The resource revokes every token so far (CAE event): the next client gets a claims challenge.
          for (const t of entra.issued) revoked.add(t);
          assert.equal(await read("two"), "value-of-two");
          const claimsRequest = entra.tokenRequests().at(-1)!;
          assert.match(claimsRequest.form.claims ?? "", /"nbf"/, `${lib}: the challenge's claims reach Entra`);
          // A third client: what does it present first?
          const vaultBefore = vault.requests.length;
          const entraBefore = entra.tokenRequests().length;
          assert.equal(await read("three"), "value-of-three");
          outcome[lib] = { verdicts: vault.requests.slice(vaultBefore).map((r) => r.verdict), entraRequests: entra.tokenRequests().length - entraBefore };
        } finally {
          await Promise.all([entra.close(), vault.close()]);
        }
      }
      assert.deepEqual(outcome["@azure/identity"], { verdicts: ["missing", "ok"], entraRequests: 0 });
      assert.deepEqual(outcome.azmi, outcome["@azure/identity"], "azmi: the token issued for the claims challenge replaces the rejected one");
    });
  }
});
