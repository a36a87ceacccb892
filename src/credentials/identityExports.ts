/**
 * The rest of `@azure/identity`'s public API, so that "change one import"
 * holds for code that imports more than the credentials azmi implements:
 * `import { DefaultAzureCredential, ClientSecretCredential } from "azmi"`.
 *
 * Each class here is `@azure/identity`'s own class behind a stand-in that
 * loads `@azure/identity` (~200 ms in a fresh process) only when it is used:
 * constructed, subclassed, called, or asked about (`instanceof`, a static
 * member). Reading the export does not load it, which matters because an
 * ES module that imports azmi reads every export at import time. A
 * `Proxy` rather than a wrapper class, so that what users get is exactly
 * `@azure/identity`'s: `new` returns its instance, `instanceof` and
 * `extends` work both ways, and its errors are its own.
 *
 * @example
 * ```ts
 * const { ClientSecretCredential } = require("azmi"); // @azure/identity not loaded yet
 * const credential = new ClientSecretCredential(tenantId, clientId, secret); // now it is
 * credential instanceof require("@azure/identity").ClientSecretCredential; // true
 * ```
 */
import type * as Identity from "@azure/identity";

/** The classes passed through (the credentials azmi implements itself are not here). */
export const PASSED_THROUGH_CLASSES = [
  "AuthenticationRequiredError",
  "AuthorizationCodeCredential",
  "AzurePipelinesCredential",
  "ClientAssertionCredential",
  "ClientCertificateCredential",
  "ClientSecretCredential",
  "DeviceCodeCredential",
  "InteractiveBrowserCredential",
  "OnBehalfOfCredential",
  "UsernamePasswordCredential",
  "VisualStudioCodeCredential",
] as const;

/** The plain objects passed through (`logger`: `@azure/identity`'s own AzureLogger). */
export const PASSED_THROUGH_OBJECTS = ["logger"] as const;

/** The functions passed through. */
export const PASSED_THROUGH_FUNCTIONS = ["deserializeAuthenticationRecord", "serializeAuthenticationRecord", "useIdentityPlugin"] as const;

type ClassName = (typeof PASSED_THROUGH_CLASSES)[number];
type ObjectName = (typeof PASSED_THROUGH_OBJECTS)[number];
type FunctionName = (typeof PASSED_THROUGH_FUNCTIONS)[number];

function identity(): typeof Identity {
  return require("@azure/identity") as typeof Identity;
}

/**
 * A stand-in for `@azure/identity`'s class `name`, resolved on first use.
 *
 * @example
 * ```ts
 * const ClientSecretCredential = passThroughClass("ClientSecretCredential");
 * ```
 */
export function passThroughClass<N extends ClassName>(name: N): (typeof Identity)[N] {
  const real = () => identity()[name] as unknown as new (...args: unknown[]) => object;
  // A strict function as the target: constructible, and its `prototype` is
  // writable, so the `get` trap may answer with the real class's (a class
  // target's read-only `prototype` would break the Proxy invariants).
  const target = function () {} as unknown as object;
  Object.defineProperty(target, "name", { value: name });
  const stand: object = new Proxy(target, {
    // `new Stand()` builds the real class's instance; `class Mine extends Stand` keeps `Mine`.
    construct: (_t, args, newTarget) => Reflect.construct(real(), args, newTarget === stand ? real() : newTarget),
    apply: (_t, self, args) => Reflect.apply(real() as unknown as (...a: unknown[]) => unknown, self, args),
    get: (_t, key) => (key === "name" ? name : Reflect.get(real(), key)),
    ...reflectionTraps(real),
  });
  return stand as unknown as (typeof Identity)[N];
}

/**
 * The traps that make a stand-in answer reflection as the real object does
 * (`in`, `Object.keys`, spreading, property descriptors, writes, its
 * prototype), so code that inspects or patches an export sees
 * `@azure/identity`'s. A Proxy may not report a property as non-configurable
 * unless its target has it so (the function target's `prototype`): such a
 * property is reported with the target's own flags and the real value.
 */
function reflectionTraps(real: () => object): ProxyHandler<object> {
  return {
    has: (_t, key) => Reflect.has(real(), key),
    ownKeys: (target) => [...new Set([...Reflect.ownKeys(real()), ...Reflect.ownKeys(target).filter((k) => !Reflect.getOwnPropertyDescriptor(target, k)!.configurable)])],
    getOwnPropertyDescriptor: (target, key) => {
      const pinned = Reflect.getOwnPropertyDescriptor(target, key);
      if (pinned && !pinned.configurable) return { ...pinned, value: Reflect.get(real(), key) };
      const desc = Reflect.getOwnPropertyDescriptor(real(), key);
      return desc && { ...desc, configurable: true };
    },
    set: (_t, key, value) => Reflect.set(real(), key, value),
    // An explicitly non-configurable definition is refused before it reaches
    // the real object: the Proxy would have to report it as its target's own,
    // which it is not, so the call would throw after changing @azure/identity's export.
    defineProperty: (_t, key, desc) => desc.configurable !== false && Reflect.defineProperty(real(), key, desc),
    deleteProperty: (_t, key) => Reflect.deleteProperty(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    // Refused (Object.freeze, Object.seal and Object.preventExtensions throw a
    // TypeError, Reflect.preventExtensions says false): a non-extensible target
    // must list exactly the keys the stand-in reports, which live on the real
    // object, so every later Object.keys, spread or inspect of it would throw.
    preventExtensions: () => false,
  };
}

/**
 * A stand-in for `@azure/identity`'s object `name` (every property read,
 * write or call reaches the real object, loaded on first use).
 *
 * @example
 * ```ts
 * const logger = passThroughObject("logger"); logger.info("hello"); // @azure/identity's logger
 * ```
 */
export function passThroughObject<N extends ObjectName>(name: N): (typeof Identity)[N] {
  const real = () => identity()[name] as object;
  return new Proxy({}, { get: (_t, key) => Reflect.get(real(), key), ...reflectionTraps(real) }) as unknown as (typeof Identity)[N];
}

/**
 * `@azure/identity`'s function `name`, loaded on first call.
 *
 * @example
 * ```ts
 * const useIdentityPlugin = passThroughFunction("useIdentityPlugin");
 * ```
 */
export function passThroughFunction<N extends FunctionName>(name: N): (typeof Identity)[N] {
  const fn = (...args: unknown[]) => (identity()[name] as (...a: unknown[]) => unknown)(...args);
  Object.defineProperty(fn, "name", { value: name });
  return fn as unknown as (typeof Identity)[N];
}

/**
 * `@azure/identity`'s `AzureAuthorityHosts`, as values (an enum object there):
 * a copy, so that reading it does not load `@azure/identity`
 * (test/credentials/identityExports.spec.ts checks the two agree).
 */
export const AzureAuthorityHosts = Object.freeze({
  AzureChina: "https://login.chinacloudapi.cn",
  AzureGermany: "https://login.microsoftonline.de",
  AzureGovernment: "https://login.microsoftonline.us",
  AzurePublicCloud: "https://login.microsoftonline.com",
}) as unknown as typeof Identity.AzureAuthorityHosts;
