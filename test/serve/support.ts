/**
 * Helpers for `azmi serve` tests: a temp `AZMI_HOME` per suite, and a raw
 * HTTP client over `node:net` that sends exact bytes and parses exactly one
 * response (so tests see the server's real status line, headers and body).
 *
 * @example
 * ```ts
 * const home = useTempHome();
 * const res = await raw(server.port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
 * ```
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface RawResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything received, for tests that look at bytes. */
  text: string;
}

/** A temp folder used as `AZMI_HOME` for the suite; removed afterwards. */
export function useTempHome(): { dir: string; env: NodeJS.ProcessEnv } {
  const holder = { dir: "", env: {} as NodeJS.ProcessEnv };
  before(() => {
    holder.dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-serve-test-"));
    holder.env = { AZMI_HOME: holder.dir };
  });
  after(() => {
    fs.rmSync(holder.dir, { recursive: true, force: true });
  });
  return holder;
}

/**
 * Send `request` verbatim to 127.0.0.1:`port`; resolve with the first
 * response once complete (by Content-Length) or when the server closes.
 */
export function raw(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) return reject(error);
      const parsed = parse(Buffer.concat(chunks).toString("utf8"));
      if (!parsed) return reject(new Error(`incomplete response: ${JSON.stringify(Buffer.concat(chunks).toString("utf8").slice(0, 200))}`));
      resolve(parsed);
    };
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      const parsed = parse(Buffer.concat(chunks).toString("utf8"));
      if (parsed && parsed.complete) finish();
    });
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    socket.on("error", (error) => {
      if (chunks.length > 0) finish();
      else finish(error);
    });
    socket.write(request);
  });
}

function parse(text: string): (RawResult & { complete: boolean }) | undefined {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = text.slice(0, end).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const body = text.slice(end + 4);
  const length = headers["content-length"] !== undefined ? Number(headers["content-length"]) : undefined;
  const complete = length !== undefined && Buffer.byteLength(body) >= length;
  return { status: Number(m[1]), headers, body: length !== undefined ? Buffer.from(body).subarray(0, length).toString("utf8") : body, text, complete };
}

/** A GET with the given headers, as a client library would send it. */
export function get(port: number, target: string, headers: Record<string, string> = {}): Promise<RawResult> {
  const lines = [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "Connection: close", "", ""];
  return raw(port, lines.join("\r\n"));
}

/** Decode a JWT's payload without verifying (tests verify separately with jose). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

export const VAULT = "https://vault.azure.net";
export const IMDS_PATH = "/metadata/identity/oauth2/token";
export const IMDS_QUERY = `?api-version=2018-02-01&resource=${encodeURIComponent(VAULT)}`;
