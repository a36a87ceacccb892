/**
 * Entry point of the bridge process the PowerShell module starts once per
 * session: `node dist/src/bridge/main.js`. It loads the bridge as one bundle
 * through the start-up code cache (see `boot/bundle.ts`), or the unbundled
 * `server.ts` where there is no bundle, and serves the protocol (see
 * `server.ts` and `protocol.ts`).
 *
 * @example
 * ```sh
 * printf '{"id":1,"op":"ping"}\n' | node dist/src/bridge/main.js
 * ```
 */
import { loadBundle } from "../boot/bundle";

type Server = typeof import("./server");
(loadBundle<Server>("bridge", "bridge/server.js") ?? (require("./server") as Server)).main();
