/**
 * "Change one import": code written against `@azure/identity`'s names for the
 * credentials azmi has (options types, `getBearerTokenProvider`, the error
 * name constants) compiles and runs with `from "azmi"`. The type half is
 * checked by compiling this file; the run half in a real ES module that
 * imports the package main, against a loopback App Service fake.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type * as azmi from "../../src/index";
import { startFakeAppService } from "../fakes/appService";
import type { Fake } from "../fakes/common";
import { cleanEnv, cleanupTemp, ROOT, tempDir } from "../cli/support";

/**
 * Never called: it only has to compile. Each line is valid `@azure/identity`
 * code (its options extend TokenCredentialOptions) that did not compile against azmi.
 */
export function compilesAsWithIdentity(a: typeof azmi): void {
  const byClientId: azmi.ManagedIdentityCredentialClientIdOptions = { clientId: "id", loggingOptions: { allowLoggingAccountIdentifiers: true } };
  const byResourceId: azmi.ManagedIdentityCredentialResourceIdOptions = { resourceId: "/subscriptions/x", retryOptions: { maxRetries: 2 } };
  const byObjectId: azmi.ManagedIdentityCredentialObjectIdOptions = { objectId: "oid", additionalPolicies: [] };
  const dac: azmi.DefaultAzureCredentialClientIdOptions = { managedIdentityClientId: "id" };
  const dacByResource: azmi.DefaultAzureCredentialResourceIdOptions = { managedIdentityResourceId: "/subscriptions/x" };
  const common: azmi.TokenCredentialOptions = { retryOptions: { maxRetries: 1 } };
  new a.ManagedIdentityCredential(byClientId);
  new a.ManagedIdentityCredential(byResourceId);
  new a.ManagedIdentityCredential(byObjectId);
  new a.ManagedIdentityCredential("id", { retryOptions: { maxRetries: 2 } });
  new a.ManagedIdentityCredential({ clientId: "id", loggingOptions: { enableUnsafeSupportLogging: false } });
  new a.DefaultAzureCredential(dac);
  new a.DefaultAzureCredential(dacByResource);
  new a.DefaultAzureCredential(common);
  const options: azmi.GetBearerTokenProviderOptions = { abortSignal: AbortSignal.timeout(1000) };
  const provider: () => Promise<string> = a.getBearerTokenProvider(new a.DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default", options);
  void provider;
  const names: string[] = [a.CredentialUnavailableErrorName, a.AuthenticationErrorName, a.AggregateAuthenticationErrorName];
  void names;
}

function runNode(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [file], { env, encoding: "utf8", timeout: 30_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe("drop-in for @azure/identity: its names for what azmi has", function () {
  this.timeout(60_000);
  let appService: Fake & { secret: string };

  before(async () => {
    appService = await startFakeAppService();
  });
  after(async () => {
    await appService.close();
    cleanupTemp();
  });

  it("an ES module using getBearerTokenProvider and the error name constants runs with only the import changed", async () => {
    const main = pathToFileURL(path.join(ROOT, (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { main: string }).main)).href;
    const file = path.join(tempDir("azmi-dropin-"), "app.mjs");
    fs.writeFileSync(
      file,
      [
        `import { DefaultAzureCredential, ManagedIdentityCredential, getBearerTokenProvider, CredentialUnavailableErrorName, AuthenticationErrorName, AggregateAuthenticationErrorName } from ${JSON.stringify(main)};`,
        `const getToken = getBearerTokenProvider(new DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default");`,
        `const token = await getToken();`,
        `delete process.env.IDENTITY_ENDPOINT;`,
        `const failed = await getBearerTokenProvider(new ManagedIdentityCredential(), "https://x/.default")().catch((e) => e);`,
        `let typeError;`,
        `try { getBearerTokenProvider({}, "https://x/.default"); } catch (e) { typeError = e; }`,
        `console.log(JSON.stringify({ token, failed: failed.name, typeError: typeError?.name, names: [CredentialUnavailableErrorName, AuthenticationErrorName, AggregateAuthenticationErrorName] }));`,
      ].join("\n"),
    );
    const r = await runNode(file, cleanEnv(appService.env));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { token: string; failed: string; typeError?: string; names: string[] };
    assert.equal(out.token, appService.issued.at(-1), "the provider returns the token the endpoint issued");
    assert.match(appService.tokenRequests().at(-1)!.target, /resource=https%3A%2F%2Fcognitiveservices\.azure\.com/);
    assert.equal(out.failed, "CredentialUnavailableError", "the credential's own error, as @azure/identity's provider passes it on");
    assert.equal(out.typeError, "TypeError");
    assert.deepEqual(out.names, ["CredentialUnavailableError", "AuthenticationError", "AggregateAuthenticationError"]);
  });
});
