/**
 * Linux network-namespace harness: lets tests reach "169.254.169.254" without
 * ever touching the real network. A namespace starts with only `lo` (so
 * 169.254.169.254 is unreachable at once); options add an `ifb` black hole
 * for 169.254.0.0/16 (packets vanish: connects hit their deadline; the
 * kernel here has no `dummy` module) and/or 169.254.169.254/32 on `lo` for a
 * fake IMDS at the real address. Processes run INSIDE with
 * `ip netns exec <ns> ...`; `destroy()` deletes the namespace.
 *
 * @example
 * ```ts
 * before(function () { skipWithoutNetns(this); });
 * const ns = await Netns.create({ imdsOnLoopback: true });
 * const imds = ns.spawnNode(["dist/test/fakes/imdsMain.js"]);      // a fake IMDS inside
 * await imds.waitForOutput(/listening/);
 * const r = await ns.runNode(["dist/test/netns/client.js", JSON.stringify({ op: "send", url: "http://169.254.169.254/..." })]);
 * await imds.stop(); await ns.destroy();
 * ```
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as path from "node:path";

export interface NetnsOptions {
  /** Add an `ifb` interface holding 169.254.0.1/16 that drops every packet. */
  blackHole?: boolean;
  /** Put 169.254.169.254/32 on `lo`, so a server inside can listen at the real IMDS address. */
  imdsOnLoopback?: boolean;
  /** Name prefix (default "azmi"); the full name adds the pid and a counter. */
  prefix?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A process running inside a namespace. */
export interface NetnsProcess {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when stdout matches `pattern`; rejects on exit or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after 2 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** The package root (works from src and from dist). */
export const REPO_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? "../../.." : "../..");

let counter = 0;
let availability: string | null | undefined;

function ip(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10000 });
  return { ok: r.status === 0, err: (r.stderr || r.error?.message || "").trim() };
}

/**
 * Why namespaces cannot be used here, or `null` when they can (checked once:
 * root, the `ip` tool, and actually creating and deleting one).
 *
 * @example
 * ```ts
 * before(function () { const why = netnsUnavailable(); if (why) { console.log(`(skipped: ${why})`); this.skip(); } });
 * ```
 */
export function netnsUnavailable(): string | null {
  if (availability !== undefined) return availability;
  if (process.platform !== "linux") return (availability = "network namespaces need Linux");
  if (typeof process.getuid === "function" && process.getuid() !== 0) return (availability = "network namespaces need root");
  const name = `azmi-check-${process.pid}`;
  const add = ip(["netns", "add", name]);
  if (!add.ok) return (availability = `cannot create a network namespace (ip netns add: ${add.err || "failed"})`);
  ip(["netns", "del", name]);
  return (availability = null);
}

/**
 * For a suite's `before`: skips the suite where namespaces cannot be made
 * (printing why), else deletes namespaces dead runs left behind.
 *
 * @example
 * ```ts
 * before(function () { skipWithoutNetns(this); });
 * ```
 */
export function skipWithoutNetns(context: Mocha.Context): void {
  const why = netnsUnavailable();
  if (why) {
    console.log(`    (skipped: ${why})`);
    context.skip();
  }
  sweepStaleNamespaces();
}

/**
 * Deletes namespaces left by earlier runs that died before cleaning up
 * (names carry the creating pid; only dead pids' namespaces are removed).
 *
 * @example
 * ```ts
 * sweepStaleNamespaces();
 * ```
 */
export function sweepStaleNamespaces(prefix = "azmi"): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const m = new RegExp(`^(${prefix}-(\\d+)-\\d+)`).exec(line.trim());
    if (!m) continue;
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) ip(["netns", "del", m[1]!]);
  }
}

export class Netns {
  private destroyed = false;
  private readonly children = new Set<NetnsProcess>();

  private constructor(readonly name: string) {}

  /**
   * Creates a namespace with `lo` up and the requested extras.
   *
   * @example
   * ```ts
   * const ns = await Netns.create({ blackHole: true });
   * ```
   */
  static async create(options: NetnsOptions = {}): Promise<Netns> {
    const why = netnsUnavailable();
    if (why) throw new Error(why);
    const name = `${options.prefix ?? "azmi"}-${process.pid}-${++counter}`;
    const steps: string[][] = [["netns", "add", name], ["-n", name, "link", "set", "lo", "up"]];
    if (options.blackHole) {
      steps.push(
        ["-n", name, "link", "add", "i0", "type", "ifb"],
        ["-n", name, "addr", "add", "169.254.0.1/16", "dev", "i0"],
        ["-n", name, "link", "set", "i0", "up"],
      );
    }
    if (options.imdsOnLoopback) steps.push(["-n", name, "addr", "add", "169.254.169.254/32", "dev", "lo"]);
    const ns = new Netns(name);
    for (const step of steps) {
      const r = ip(step);
      if (!r.ok) {
        await ns.destroy();
        throw new Error(`ip ${step.join(" ")} failed: ${r.err}`);
      }
    }
    return ns;
  }

  /** Runs a command inside the namespace to completion (cwd = repo root). */
  run(argv: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn("ip", ["netns", "exec", this.name, ...argv], {
        cwd: REPO_ROOT,
        env: options.env ?? process.env,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30000);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      child.stdin.end(options.input ?? "");
    });
  }

  /** Runs `node <args>` inside the namespace to completion. */
  runNode(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return this.run([process.execPath, ...args], options);
  }

  /** Starts a long-running command inside the namespace (a fake server, say). */
  spawn(argv: string[], options: { env?: NodeJS.ProcessEnv } = {}): NetnsProcess {
    const child = spawn("ip", ["netns", "exec", this.name, ...argv], {
      cwd: REPO_ROOT,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<void>((r) => child.once("close", () => r()));
    const proc: NetnsProcess = {
      child,
      get stdout() {
        return stdout;
      },
      get stderr() {
        return stderr;
      },
      waitForOutput: (pattern, timeoutMs = 10000) =>
        new Promise<string>((resolve, reject) => {
          const check = (): boolean => {
            const m = pattern.exec(stdout);
            if (m) {
              cleanup();
              resolve(m[0]);
              return true;
            }
            return false;
          };
          const onData = (): void => void check();
          const onClose = (): void => {
            cleanup();
            reject(new Error(`process exited before printing ${pattern}; stderr: ${stderr.slice(-500)}`));
          };
          const timer = setTimeout(() => {
            cleanup();
            reject(new Error(`no ${pattern} on stdout after ${timeoutMs} ms; stderr: ${stderr.slice(-500)}`));
          }, timeoutMs);
          const cleanup = (): void => {
            clearTimeout(timer);
            child.stdout!.off("data", onData);
            child.off("close", onClose);
          };
          child.stdout!.on("data", onData);
          child.once("close", onClose);
          check();
        }),
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const t = setTimeout(() => child.kill("SIGKILL"), 2000);
          await exited;
          clearTimeout(t);
        }
        this.children.delete(proc);
      },
    };
    this.children.add(proc);
    return proc;
  }

  /** Starts `node <args>` inside the namespace. */
  spawnNode(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): NetnsProcess {
    return this.spawn([process.execPath, ...args], options);
  }

  /** Stops every process started with spawn() and deletes the namespace. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.children].map((c) => c.stop()));
    ip(["netns", "del", this.name]);
  }
}

/** One `request {...}` line of test/fakes/imdsMain. */
export interface FakeImdsRequestLine {
  method: string;
  target: string;
  metadata: string | null;
  accept: string | null;
}

/**
 * The `request {...}` lines a fake IMDS (test/fakes/imdsMain) printed so far,
 * parsed, once `ready(lines)` holds (polled; the parent may read the fake's
 * stdout after the client's answer). After `timeoutMs` it returns what it has,
 * so the caller's exact assertion fails with the full list.
 *
 * @example
 * ```ts
 * const requests = await requestLines(imds, (l) => l.length >= 2);
 * assert.deepEqual(requests, [probe, tokenRequest]);
 * ```
 */
export async function requestLines(
  proc: NetnsProcess,
  ready: (lines: FakeImdsRequestLine[]) => boolean,
  timeoutMs = 5000,
): Promise<FakeImdsRequestLine[]> {
  const parse = (): FakeImdsRequestLine[] =>
    proc.stdout.split("\n").filter((l) => l.startsWith("request ")).map((l) => JSON.parse(l.slice(8)) as FakeImdsRequestLine);
  const deadline = Date.now() + timeoutMs;
  let lines = parse();
  while (!ready(lines) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    lines = parse();
  }
  return lines;
}
