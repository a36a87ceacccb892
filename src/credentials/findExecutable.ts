/**
 * Finds a program on `PATH` without spawning anything, so a developer-tool
 * link that cannot work says so in microseconds ("az not found on PATH")
 * instead of paying for a shell that prints "command not found".
 *
 * @example
 * ```ts
 * findExecutable("az", process.env); // "/usr/bin/az" or undefined
 * ```
 */
// Named imports: `import * as` compiles to a copy of every export of fs (esModuleInterop), paid at load.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? env.Path ?? "").split(delimiter).filter((d) => d.length > 0);
  const extensions =
    process.platform === "win32" ? ["", ...(env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").filter(Boolean)] : [""];
  for (const dir of dirs) {
    for (const ext of extensions) {
      const candidate = join(dir, name + ext);
      try {
        const stat = statSync(candidate);
        if (!stat.isFile()) continue;
        if (process.platform !== "win32") accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}
