/**
 * The TypeScript sources under src/, for the hygiene specs that read them as
 * text (how they import built-ins, what their messages say).
 *
 * @example
 * ```ts
 * for (const file of sourceFiles()) check(fs.readFileSync(file, "utf8"));
 * ```
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** src/ of this checkout (the specs run from dist/test/hygiene). */
export const SRC = path.resolve(__dirname, "../../../src");

/** Every `.ts` file (not `.d.ts`) under `dir`, depth first. */
export function sourceFiles(dir: string = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [full] : [];
  });
}
