/**
 * The pure-Node transport: `node:net` sockets and the same strict parser as
 * the addon (parser.ts mirrors native/http1.cc), used only when the addon is
 * missing or `AZMI_TRANSPORT=node`. Same codes, phases and messages as the
 * native transport; the shared suite in test/transport checks that.
 */
import net = require("node:net");
import { ErrorCode } from "../errors";
import { errnoCode, errnoDetail, transportError } from "./facts";
import { ResponseParser } from "./parser";
import type { ProbeResult, RawRequest, RawResponse, Transport } from "./types";
import { checkIp, checkPort, checkTimeout, joinHeaders, normalizeRequest, type NormalizedRequest } from "./http";
import { nowMs } from "../clock";

/**
 * Serialises the request exactly as native/http1.cc BuildRequest does.
 *
 * @example
 * ```ts
 * buildRequest(normalizeRequest({ ip: "127.0.0.1", port: 80, method: "GET", path: "/", timeoutMs: 100 }))
 *   .toString(); // "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
 * ```
 */
export function buildRequest(r: NormalizedRequest): Buffer {
  let hasHost = false;
  let hasLength = false;
  let hasConnection = false;
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  let lines = "";
  for (let i = 0; i < r.headers.length; i += 2) {
    const name = r.headers[i]!;
    const lower = name.toLowerCase();
    if (lower === "host") hasHost = true;
    else if (lower === "content-length") hasLength = true;
    else if (lower === "connection") hasConnection = true;
    lines += `${name}: ${r.headers[i + 1]}\r\n`;
  }
  if (!hasHost) {
    const host = r.ip.includes(":") ? `[${r.ip}]` : r.ip;
    head += r.port === 80 ? `Host: ${host}\r\n` : `Host: ${host}:${r.port}\r\n`;
  }
  head += lines;
  const bodyLength = r.body?.length ?? 0;
  if (!hasLength && (bodyLength > 0 || r.method === "POST" || r.method === "PUT" || r.method === "PATCH")) {
    head += `Content-Length: ${bodyLength}\r\n`;
  }
  if (!hasConnection) head += "Connection: close\r\n";
  head += "\r\n";
  const headBuf = Buffer.from(head, "latin1");
  return bodyLength > 0 ? Buffer.concat([headBuf, r.body!]) : headBuf;
}

async function probe(ip: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  checkIp(ip, "ip");
  checkPort(port, "port");
  const t = checkTimeout(timeoutMs, "timeoutMs");
  const started = nowMs();
  return new Promise<ProbeResult>((resolve) => {
    const socket = net.connect({ host: ip, port });
    const settle = (result: ProbeResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => settle({ outcome: "timeout", elapsedMs: nowMs() - started }), t);
    socket.once("connect", () => settle({ outcome: "connected", elapsedMs: nowMs() - started }));
    socket.once("error", (e: NodeJS.ErrnoException) => {
      const errno = e.code ?? "EIO";
      const outcome = errno === "ECONNREFUSED" ? "refused" : errno === "ETIMEDOUT" ? "timeout" : "unreachable";
      settle(outcome === "timeout" ? { outcome, elapsedMs: nowMs() - started } : { outcome, elapsedMs: nowMs() - started, errno });
    });
  });
}

async function request(raw: RawRequest): Promise<RawResponse> {
  const r = normalizeRequest(raw);
  const wire = buildRequest(r);
  const started = nowMs();
  return new Promise<RawResponse>((resolve, reject) => {
    let phase: "connect" | "write" | "headers" | "body" = "connect";
    let settled = false;
    const parser = new ResponseParser(r.maxHeaderBytes, r.maxBodyBytes, r.method === "HEAD");
    const socket = net.connect({ host: r.ip, port: r.port, noDelay: true });
    const fail = (code: string, ph: typeof phase, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(
        transportError({
          code, phase: ph, address: r.ip, port: r.port, timeoutMs: r.timeoutMs,
          elapsedMs: nowMs() - started, detail, maxHeaderBytes: r.maxHeaderBytes, maxBodyBytes: r.maxBodyBytes,
        }),
      );
    };
    const readPhase = (): typeof phase => (parser.inHead() ? "headers" : "body");
    const outcome = (result: "more" | "done" | "error"): void => {
      if (result === "more" || settled) return;
      if (result === "error") {
        fail(parser.errorCode, parser.errorPhase || readPhase(), parser.errorDetail);
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        status: parser.status,
        statusText: parser.statusText,
        headers: joinHeaders(parser.headers),
        body: parser.body(),
        elapsedMs: nowMs() - started,
      });
    };
    const timer = setTimeout(() => fail(ErrorCode.Timeout, phase === "connect" || phase === "write" ? phase : readPhase(), "timed out"), r.timeoutMs);
    socket.once("connect", () => {
      phase = "write";
      socket.write(wire, () => {
        if (phase === "write") phase = "headers";
      });
      // Written straight into the kernel (the usual case), as the native send() does.
      if (socket.writableLength === 0) phase = "headers";
    });
    socket.on("data", (chunk: Buffer) => {
      if (phase === "write") phase = "headers";
      outcome(parser.feed(chunk));
      // Like the native loop: a peer that keeps bytes flowing still cannot outlive the deadline.
      if (!settled && nowMs() - started >= r.timeoutMs) fail(ErrorCode.Timeout, readPhase(), "timed out");
    });
    socket.once("end", () => outcome(parser.finish()));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const code = errnoCode(e.code);
      fail(code, phase === "connect" || phase === "write" ? phase : readPhase(), errnoDetail(e.code ?? ""));
    });
  });
}

/**
 * The node:net `Transport`.
 *
 * @example
 * ```ts
 * const res = await fallbackTransport.request({ ip: "127.0.0.1", port: 8080, method: "GET", path: "/", timeoutMs: 500 });
 * ```
 */
export const fallbackTransport: Transport = { kind: "node", probe, request };
