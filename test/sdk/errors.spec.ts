/**
 * What an Azure SDK client throws when authentication fails, azmi vs
 * `@azure/identity`, through the real `@azure/keyvault-secrets` SecretClient
 * against the same Entra and Key Vault fakes (HTTPS on 127.0.0.1).
 *
 * `@azure/identity`'s `AuthenticationError` always has `statusCode` and an
 * `errorResponse` (`{ error, errorDescription, ... }`), and code reads it
 * (`e.errorResponse.error`, `e.errorResponse.errorDescription`): azmi's must
 * have one too, or that code throws a TypeError in its catch block.
 */
import * as assert from "node:assert/strict";
import type { TokenCredential } from "@azure/core-auth";
import * as identity from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { DefaultAzureCredential } from "../../src/credentials/defaultAzureCredential";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";
import { startFakeAppService } from "../fakes/appService";
import { json } from "../fakes/common";
import { startEntraFake } from "../fakes/entra";
import { startKeyVaultFake } from "../fakes/keyVault";
import { useCleanEnv } from "../support/env";
import { useLoopbackGuard, useTempAzmiHome } from "../credentials/support";

interface Seen {
  name: unknown;
  statusCode: unknown;
  error: unknown;
  description: unknown;
}

async function thrownBy(work: () => Promise<unknown>): Promise<{ name?: unknown; statusCode?: unknown; errorResponse?: { error?: unknown; errorDescription?: unknown } }> {
  try {
    await work();
  } catch (e) {
    return e as never;
  }
  assert.fail("expected the SDK call to throw");
}

describe("Azure SDK pipeline: the error a client throws, azmi vs @azure/identity", function () {
  const env = useCleanEnv();
  useTempAzmiHome();
  useLoopbackGuard();

  for (const kind of ["DefaultAzureCredential", "EnvironmentCredential"] as const) {
    it(`${kind} with a rejected client secret: AuthenticationError with statusCode and errorResponse, as @azure/identity's`, async () => {
      const entra = await startEntraFake({ clients: { "err-app": { secret: "the-right-secret-value" } } });
      const vault = await startKeyVaultFake({ tenant: entra.tenant });
      try {
        env.set({
          AZURE_TENANT_ID: entra.tenant,
          AZURE_CLIENT_ID: "err-app",
          AZURE_CLIENT_SECRET: "a-wrong-secret-value",
          AZURE_AUTHORITY_HOST: entra.authorityHost,
          AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9",
        });
        const options = { agent: entra.agent(), disableInstanceDiscovery: true };
        const credentials: Record<string, TokenCredential> = {
          azmi: kind === "DefaultAzureCredential" ? new DefaultAzureCredential(options) : new EnvironmentCredential(options),
          "@azure/identity": kind === "DefaultAzureCredential" ? new identity.DefaultAzureCredential(options) : new identity.EnvironmentCredential(options),
        };
        const seen: Record<string, Seen> = {};
        for (const [lib, credential] of Object.entries(credentials)) {
          const client = new SecretClient(vault.url, credential, vault.clientOptions());
          const e = await thrownBy(() => client.getSecret("s"));
          // what code in a catch block reads
          seen[lib] = {
            name: e.name,
            statusCode: e.statusCode,
            error: typeof e.errorResponse?.error,
            description: /AADSTS7000215/.test(String(e.errorResponse?.errorDescription)),
          };
        }
        const expected: Seen = { name: "AuthenticationError", statusCode: 400, error: "string", description: true };
        assert.deepEqual(seen["@azure/identity"], expected);
        assert.deepEqual(seen.azmi, expected);
      } finally {
        await Promise.all([entra.close(), vault.close()]);
      }
    });
  }

  it("ManagedIdentityCredential refused with a JSON 4xx (azmi's AuthenticationError): errorResponse is the endpoint's error and description", async () => {
    // @azure/identity calls every managed-identity failure unavailable (README: azmi stops here on purpose); the shape must still be its.
    const app = await startFakeAppService({ faults: [json(403, { error: "forbidden_identity", error_description: "This identity may not ask for that resource." })] });
    const vault = await startKeyVaultFake({ tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47" });
    try {
      const credential = new ManagedIdentityCredential({ env: { ...app.env } });
      const e = await thrownBy(() => new SecretClient(vault.url, credential, vault.clientOptions()).getSecret("s"));
      assert.equal(e.name, "AuthenticationError");
      assert.equal(e.statusCode, 403);
      assert.deepEqual(e.errorResponse, { error: "forbidden_identity", errorDescription: "This identity may not ask for that resource." });
    } finally {
      await Promise.all([app.close(), vault.close()]);
    }
  });
});
