/**
 * "Change one import" for the rest of `@azure/identity`'s API: every value
 * and type it exports is exported by azmi too. The credentials azmi does not
 * implement itself (ClientSecretCredential, DeviceCodeCredential, ...) are
 * `@azure/identity`'s own classes, loaded only when used, so importing azmi
 * (CommonJS or ES module) still does not load `@azure/identity`.
 */
import * as assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as Identity from "@azure/identity";
import type * as azmi from "../../src/index";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { cleanEnv, cleanupTemp, ROOT, tempDir } from "../cli/support";

/** Compile-time: every value @azure/identity exports is one of azmi's (this file does not compile otherwise). */
type MissingValues = Exclude<keyof typeof Identity, keyof typeof azmi>;
export const noValueMissing: [MissingValues] extends [never] ? true : MissingValues = true;

const INDEX = path.join(ROOT, "dist/src/index.js");
const MAIN = path.join(ROOT, (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { main: string }).main);
const IDENTITY_LOADED = `Object.keys(require.cache).some((k) => k.includes("node_modules/@azure/identity/"))`;

function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, args, { env, encoding: "utf8", timeout: 30_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe("drop-in for @azure/identity: the rest of its API, passed through", function () {
  this.timeout(60_000);
  const a = require(INDEX) as typeof azmi;
  const id = require("@azure/identity") as typeof Identity;
  let entra: EntraFake;
  let dir: string;

  before(async () => {
    entra = await startEntraFake({ clients: { app: { secret: "s3cret-value" } } });
    dir = tempDir("azmi-identity-exports-");
  });
  after(async () => {
    await entra.close();
    cleanupTemp();
  });

  it("a ClientSecretCredential from azmi is @azure/identity's own, and gets a token from Entra", async () => {
    const credential = new a.ClientSecretCredential(entra.tenant, "app", "s3cret-value", {
      authorityHost: entra.authorityHost,
      disableInstanceDiscovery: true,
      additionalPolicies: [],
      ...({ agent: entra.agent() } as object),
    });
    assert.ok(credential instanceof id.ClientSecretCredential);
    assert.ok(credential instanceof a.ClientSecretCredential);
    assert.equal(Object.getPrototypeOf(credential), id.ClientSecretCredential.prototype);
    const token = await credential.getToken("https://vault.azure.net/.default");
    assert.ok(token.token.length > 20);
  });

  it("each stand-in is one object, named as the class, and behaves as it (call without new, subclass, instanceof)", () => {
    assert.equal(a.DeviceCodeCredential, a.DeviceCodeCredential);
    assert.equal(a.ClientSecretCredential.name, "ClientSecretCredential");
    assert.equal(typeof a.InteractiveBrowserCredential, "function");
    assert.throws(() => (a.ClientSecretCredential as unknown as () => void)(), TypeError);
    class Mine extends a.ClientSecretCredential {
      hello(): string {
        return "mine";
      }
    }
    const mine = new Mine("tenant", "client", "secret");
    assert.equal(mine.hello(), "mine");
    assert.ok(mine instanceof Mine && mine instanceof a.ClientSecretCredential && mine instanceof id.ClientSecretCredential);
    assert.ok(!({} instanceof a.ClientSecretCredential));
    const required = new a.AuthenticationRequiredError({ scopes: ["https://vault.azure.net/.default"], message: "sign in" });
    assert.ok(required instanceof id.AuthenticationRequiredError && required instanceof Error);
    assert.equal(required.name, "AuthenticationRequiredError");
  });

  it("reflection on a stand-in sees @azure/identity's export: own keys, descriptors, spreading, writes", () => {
    assert.deepEqual(Object.getOwnPropertyNames(a.ClientSecretCredential).sort(), Object.getOwnPropertyNames(id.ClientSecretCredential).sort());
    assert.equal(Object.getOwnPropertyDescriptor(a.ClientSecretCredential, "prototype")!.value, id.ClientSecretCredential.prototype);
    assert.deepEqual(Object.keys(a.logger).sort(), Object.keys(id.logger).sort());
    assert.deepEqual({ ...a.logger }, { ...id.logger });
    const statics = a.AuthenticationRequiredError as unknown as Record<string, unknown>;
    statics.azmiTestMark = 1;
    try {
      assert.equal((id.AuthenticationRequiredError as unknown as Record<string, unknown>).azmiTestMark, 1);
      assert.ok(Object.keys(statics).includes("azmiTestMark"));
    } finally {
      delete statics.azmiTestMark;
    }
    assert.equal("azmiTestMark" in id.AuthenticationRequiredError, false);
  });

  it("a stand-in refuses to be frozen or given a non-configurable property, changes nothing, and keeps answering reflection", () => {
    // Each used to break a Proxy invariant: after Object.freeze the logger stand-in threw on every Object.keys
    // or spread, and a non-configurable definition threw only after it had changed @azure/identity's class.
    assert.throws(() => Object.freeze(a.logger), TypeError);
    assert.throws(() => Object.seal(a.ClientSecretCredential), TypeError);
    assert.equal(Reflect.preventExtensions(a.logger), false);
    assert.deepEqual(Object.keys(a.logger).sort(), Object.keys(id.logger).sort());
    assert.deepEqual({ ...a.logger }, { ...id.logger });
    assert.deepEqual(Object.getOwnPropertyNames(a.ClientSecretCredential).sort(), Object.getOwnPropertyNames(id.ClientSecretCredential).sort());
    assert.equal(Object.isFrozen(id.logger), false);
    const statics = a.AuthenticationRequiredError as unknown as Record<string, unknown>;
    assert.throws(() => Object.defineProperty(statics, "azmiPinned", { value: 1, configurable: false }), TypeError);
    assert.equal("azmiPinned" in id.AuthenticationRequiredError, false);
  });

  it("AzureAuthorityHosts, the record helpers, logger and getDefaultAzureCredential match @azure/identity's", () => {
    assert.deepEqual({ ...a.AzureAuthorityHosts }, { ...id.AzureAuthorityHosts });
    const record = { authority: "https://login.microsoftonline.com", homeAccountId: "h", clientId: "c", tenantId: "t", username: "u" };
    const text = a.serializeAuthenticationRecord(record);
    assert.equal(text, id.serializeAuthenticationRecord(record));
    assert.deepEqual(a.deserializeAuthenticationRecord(text), id.deserializeAuthenticationRecord(text));
    const namespaceOf = (logger: unknown) => (logger as { namespace: string }).namespace;
    assert.equal(namespaceOf(a.logger), namespaceOf(id.logger));
    assert.equal(typeof a.logger.verbose, "function");
    assert.ok(a.getDefaultAzureCredential() instanceof a.DefaultAzureCredential);
  });

  it("importing azmi, and reading every export as an ES module does, still does not load @azure/identity", async () => {
    const r = await runNode(
      ["-e", `const a = require(${JSON.stringify(MAIN)}); for (const k of Object.keys(a)) void a[k]; console.log(JSON.stringify({ loaded: ${IDENTITY_LOADED}, count: Object.keys(a).length }))`],
      cleanEnv({ AZMI_HOME: dir }),
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { loaded: boolean; count: number };
    assert.equal(out.loaded, false);
    assert.ok(out.count >= Object.keys(id).length);
  });

  it("an ES module imports @azure/identity's other names from azmi; they load it when used", async () => {
    const file = path.join(dir, "app.mjs");
    fs.writeFileSync(
      file,
      `import { createRequire } from "node:module";
import { ClientSecretCredential, DeviceCodeCredential, AzureAuthorityHosts, logger, useIdentityPlugin } from ${JSON.stringify(MAIN)};
const require = createRequire(import.meta.url);
const loaded = () => Object.keys(require.cache).some((k) => k.includes("node_modules/@azure/identity/"));
const before = loaded();
const credential = new ClientSecretCredential("tenant", "client", "secret");
console.log(JSON.stringify({ before, after: loaded(), name: credential.constructor.name, host: AzureAuthorityHosts.AzurePublicCloud, logger: typeof logger.info, plugin: typeof useIdentityPlugin, device: typeof DeviceCodeCredential }));
`,
    );
    const r = await runNode([file], cleanEnv({ AZMI_HOME: dir }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      before: false,
      after: true,
      name: "ClientSecretCredential",
      host: "https://login.microsoftonline.com",
      logger: "function",
      plugin: "function",
      device: "function",
    });
  });

  it("every type @azure/identity exports can be imported from azmi (a TypeScript program naming them all compiles)", function () {
    const dts = fs.readFileSync(require.resolve("@azure/identity/package.json").replace(/package\.json$/, "dist/commonjs/index.d.ts"), "utf8");
    const names = new Set<string>();
    for (const m of dts.matchAll(/export\s*\{([^}]*)\}/g)) {
      for (const part of m[1]!.split(",")) {
        const name = part.trim().split(/\s+as\s+/).pop()!.trim();
        if (name) names.add(name);
      }
    }
    for (const m of dts.matchAll(/export declare function (\w+)/g)) names.add(m[1]!);
    assert.ok(names.size > 60, `read ${names.size} names from @azure/identity's index.d.ts`);
    // The same program against each module: every name used as a type and as
    // a value. Names that are only one of the two fail the other use in both
    // programs alike; a name azmi lacks fails only against azmi.
    const body = [...names].sort().map((n) => `export type T_${n} = M.${n} extends unknown ? 1 : 0;\nexport type V_${n} = typeof M.${n};`).join("\n");
    const tsc = path.join(ROOT, "node_modules/.bin/tsc");
    const errorsFor = (from: string): string[] => {
      const program = path.join(dir, `types-${from.includes("@azure") ? "identity" : "azmi"}.ts`);
      fs.writeFileSync(program, `import type * as M from ${JSON.stringify(from)};\n${body}\n`);
      const r = spawnSync(tsc, ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--target", "es2022", program], {
        cwd: dir, // not the repository's: tsc refuses a file list beside a tsconfig.json
        encoding: "utf8",
        timeout: 60_000,
      });
      return `${r.stdout}${r.stderr}`
        .split("\n")
        .map((l) => l.replace(/^.*?types-\w+\.ts/, "").split(from).join("M").trim())
        .filter((l) => l.includes("error"));
    };
    const reference = errorsFor(path.join(ROOT, "node_modules/@azure/identity"));
    // Against @azure/identity itself the only errors are names used as what they
    // are not ("no member", "does not exist"); anything else (a module not
    // found, a bad option) means the check itself broke.
    assert.ok(reference.length > 0 && reference.every((l) => /error TS(2339|2551|2694|2724|2693|2749):/.test(l)), reference.join("\n"));
    // Compared by position: the two programs are the same text, line for line.
    const where = (l: string) => l.slice(0, l.indexOf(":"));
    const identityErrors = new Set(reference.map(where));
    const extra = errorsFor(path.join(ROOT, "dist/src/index")).filter((l) => !identityErrors.has(where(l)));
    assert.deepEqual(extra, []);
  });
});
