/**
 * Helpers for the specs of the readable start-up text of `azmi serve` and
 * `npm start`: wait for the whole text, read the server's secrets from its
 * state file (the text itself must not hold them), put `azmi` and `node` on
 * the child's PATH (as `npm link` / a Node install would) so a printed line
 * runs as printed, and run such a line through a real bash.
 *
 * @example
 * ```ts
 * const text = await readableStartup(child);
 * const line = loadLine(text.stdout, "bash/zsh");
 * const r = await runInBash(`${line} && printf %s "$IDENTITY_ENDPOINT"`, env);
 * ```
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { AZMI_BIN, collect, until, type RunResult } from "./support";

export interface StartupText {
  /** Everything on stdout up to and including "Press Ctrl-C to stop.\n". */
  stdout: string;
  /** stderr so far (it keeps growing while the child runs). */
  stderr: () => string;
}

/** Resolve once the child printed its whole start-up text (or reject if it exits first). */
export async function readableStartup(child: ChildProcess, timeoutMs = 20_000): Promise<StartupText> {
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  await until(() => out.includes("Press Ctrl-C to stop.\n") || child.exitCode !== null, timeoutMs);
  if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}; stdout=${out} stderr=${err}`);
  return { stdout: out, stderr: () => err };
}

/** The state file a running server wrote in `env.AZMI_HOME` (it holds the secrets). */
export function readState(home: string): { url: string; env: Record<string, string>; dialects: Record<string, Record<string, string>> } {
  return JSON.parse(fs.readFileSync(path.join(home, "serve.json"), "utf8"));
}

/** The command printed after `label:` (e.g. "bash/zsh", "PowerShell") in the start-up text. */
export function loadLine(text: string, label: string): string {
  const m = new RegExp(`^  ${label.replace(/[/]/g, "\\/")}:\\s+(.+)$`, "m").exec(text);
  if (!m) throw new Error(`no '${label}:' line in:\n${text}`);
  return m[1]!;
}

/** The bash command printed for one dialect (`#   eval "$(azmi env --dialect NAME …)"`). */
export function dialectLoadLine(text: string, dialect: string): string {
  const section = text.slice(text.indexOf(`# ${dialect} — `));
  const m = /^#   (eval .+)$/m.exec(section);
  if (!m) throw new Error(`no eval line for ${dialect} in:\n${text}`);
  return m[1]!;
}

/**
 * Put an `azmi` shim (running this checkout's bin/azmi.js) and `node` on the
 * PATH folder of a {@link cleanEnv} environment.
 */
export function installShims(env: NodeJS.ProcessEnv): void {
  const bin = env.PATH!.split(":")[0]!;
  // A symlink to bin/azmi.js, as npm links a package's bin: run by its shebang, so it sees itself as `azmi`.
  fs.symlinkSync(AZMI_BIN, path.join(bin, "azmi"));
  if (!fs.existsSync(path.join(bin, "node"))) fs.symlinkSync(process.execPath, path.join(bin, "node"));
}

/** Run `script` with /bin/bash in `env`, in folder `cwd` (default: this process's). */
export function runInBash(script: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000, cwd = process.cwd()): Promise<RunResult> {
  return collect(spawn("/bin/bash", ["-c", script], { env, cwd, stdio: ["ignore", "pipe", "pipe"] }), timeoutMs);
}

/**
 * A node one-liner that gets a token with the real `@azure/identity`
 * ManagedIdentityCredential from whatever variables its environment has and
 * prints it (resolved from this checkout's node_modules).
 */
export function identityTokenScript(scope: string): string {
  const identity = require.resolve("@azure/identity");
  const js =
    `const { ManagedIdentityCredential } = require(${JSON.stringify(identity)});` +
    `new ManagedIdentityCredential().getToken(${JSON.stringify(scope)}).then((t) => process.stdout.write(t.token), (e) => { console.error(e.name + ": " + e.message); process.exit(1); });`;
  return `node -e '${js.replace(/'/g, `'\\''`)}'`;
}
