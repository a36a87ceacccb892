/**
 * What `require("azmi")` loads (package.json `main`): the package as one
 * bundle through the start-up code cache (see `bundle.ts`), or the unbundled
 * `index.ts` where there is no bundle. Both export the same API; the types
 * come from `index.d.ts`.
 *
 * @example
 * ```ts
 * const { DefaultAzureCredential } = require("azmi");
 * ```
 */
import { loadBundle } from "./bundle";

type Azmi = typeof import("../index");
export = loadBundle<Azmi>("azmi", "index.js") ?? (require("../index") as Azmi);
