/**
 * Helpers for the chain tests: a minimal IMDS on 127.0.0.1 (reached through
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST`), fake developer tools as real
 * executables on a private PATH, a per-suite AZMI_HOME, and capture of
 * everything @azure/logger writes.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { AzureLogger, setLogLevel, getLogLevel, type AzureLogLevel } from "@azure/logger";
import { fakeAccessToken } from "../fakes/entra";

export interface ImdsFake {
  url: string;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  issued: string[];
  /** Answer every request with this status and body instead of a token. */
  failWith?: { status: number; body: string };
  close(): Promise<void>;
}

/** An IMDS token endpoint: 200 with the IMDS JSON shape (strings), or `failWith`. */
export async function startImdsFake(options: { clientId?: string; expiresIn?: number } = {}): Promise<ImdsFake> {
  const fake: ImdsFake = {
    url: "",
    requests: [],
    issued: [],
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
  const server = http.createServer((req, res) => {
    fake.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (fake.failWith) {
      res.writeHead(fake.failWith.status, { "content-type": "application/json" });
      return res.end(fake.failWith.body);
    }
    if (req.headers.metadata !== "true") {
      res.writeHead(400, { "content-type": "application/json; charset=utf-8" });
      return res.end('{"error":"bad_request_102","error_description":"Required metadata header not specified"}');
    }
    const resource = url.searchParams.get("resource") ?? "";
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 86399;
    const clientId = url.searchParams.get("client_id") ?? options.clientId ?? "11111111-2222-3333-4444-555555555555";
    const token = fakeAccessToken({ aud: resource, nbf: now - 300, iat: now - 300, exp: now + expiresIn, appid: clientId });
    fake.issued.push(token);
    const body = JSON.stringify({
      access_token: token,
      client_id: clientId,
      expires_in: String(expiresIn),
      expires_on: String(now + expiresIn),
      ext_expires_in: String(expiresIn),
      not_before: String(now - 300),
      resource,
      token_type: "Bearer",
    });
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

/** A port on 127.0.0.1 where nothing listens (connections are refused at once). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fresh temp dir, removed by the caller (`fs.rmSync(dir, { recursive: true, force: true })`). */
export function tempDir(prefix = "azmi-cred-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes an executable shell script `name` into `dir` that prints `stdout`
 * and exits `code`. It uses shell builtins only, so it works with a PATH that
 * holds nothing but `dir` (this machine has a real `az` in /usr/bin).
 */
export function fakeTool(dir: string, name: string, stdout: string, options: { stderr?: string; code?: number; log?: string } = {}): string {
  const file = path.join(dir, name);
  const lines = ["#!/bin/sh"];
  if (options.log) lines.push(`echo "$0 $*" >> '${options.log}'`);
  lines.push("while IFS= read -r line; do printf '%s\\n' \"$line\"; done <<'AZMI_EOF'", stdout, "AZMI_EOF");
  if (options.stderr) lines.push("while IFS= read -r line; do printf '%s\\n' \"$line\" >&2; done <<'AZMI_EOF'", options.stderr, "AZMI_EOF");
  lines.push(`exit ${options.code ?? 0}`);
  fs.writeFileSync(file, lines.join("\n") + "\n", { mode: 0o755 });
  return file;
}

/** A PATH containing only `dirs` (the system dirs would find the real `az` on this machine). */
export function pathWith(...dirs: string[]): string {
  return dirs.join(path.delimiter);
}

/** Captures every @azure/logger line (azmi's and @azure/identity's) at `level` until `stop()`. */
export function captureLogs(level: AzureLogLevel = "verbose"): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  const previousLog = AzureLogger.log;
  const previousLevel = getLogLevel();
  setLogLevel(level);
  AzureLogger.log = (...args: unknown[]) => {
    lines.push(args.map((a) => (typeof a === "string" ? a : a instanceof Error ? `${a.message} ${a.stack}` : JSON.stringify(a))).join(" "));
  };
  return {
    lines,
    stop() {
      AzureLogger.log = previousLog;
      setLogLevel(previousLevel);
    },
  };
}

/** Sets AZMI_HOME to a throwaway dir for the suite (the probe memo lives there). */
export function useTempAzmiHome(): void {
  let dir = "";
  let previous: string | undefined;
  before(() => {
    previous = process.env.AZMI_HOME;
    dir = tempDir("azmi-home-");
    process.env.AZMI_HOME = dir;
  });
  after(() => {
    if (previous === undefined) delete process.env.AZMI_HOME;
    else process.env.AZMI_HOME = previous;
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * NETWORK RULE safety net for a suite: any TCP connect to a non-loopback
 * host throws (test/support/loopback.ts, installed here if the root hooks
 * have not), and the suite fails at its end naming those its tests tried, so
 * a test that would leave the machine fails loudly instead of reaching Entra
 * or IMDS. Unix sockets and 127.0.0.0/8, ::1, localhost pass.
 */
export function useLoopbackGuard(): void {
  installLoopbackGuard();
  let from = 0;
  before(() => {
    from = loopbackViolations().length;
  });
  after(() => {
    const seen = loopbackViolations().slice(from);
    assert.deepEqual(seen, [], `non-loopback connects attempted: ${seen.join(", ")}`);
  });
}

// (Kept in test/support/loopback.ts, which loads nothing else: the root hooks install the same check for the whole run.)
export { connectTarget, isLoopbackHost } from "../support/loopback";
import { installLoopbackGuard, loopbackViolations } from "../support/loopback";

/**
 * `pending`, or a failure after `ms` (a read of a named pipe with no writer
 * never ends); then a writer opens and closes the pipe, so a reader that is
 * still blocked gets end-of-file and the process can exit.
 */
export async function within<T>(pending: Promise<T>, ms: number, fifo: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      pending,
      new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (blocked reading ${fifo}?)`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
    fs.closeSync(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
  }
}
