/**
 * HTTPS for the one identity source that uses it (Service Fabric), through
 * node:https on a TLS socket we verify ourselves first: with
 * `pinnedThumbprint` the server certificate is accepted when it verifies
 * normally OR its SHA-1 thumbprint matches (case-insensitive), as MSAL.NET
 * does; without it, normal verification only. The request (which carries the
 * `secret` header) is written only after the certificate was accepted.
 */
import type { TLSSocket } from "node:tls";
import { ErrorCode } from "../errors";
import { errnoCode, errnoDetail, transportError } from "./facts";
import { joinHeaders } from "./http";
import type { RawResponse } from "./types";
import { nowMs } from "../clock";

/** One HTTPS exchange as `send()` hands it over: host already resolved, options validated. */
export interface HttpsExchange {
  ip: string;
  /** Name for SNI and hostname verification (omitted for numeric hosts). */
  servername?: string;
  port: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  /** Lower-case hex without separators. */
  pinnedThumbprint?: string;
}

type Phase = "connect" | "tls" | "write" | "headers" | "body";

/**
 * One HTTPS exchange under one deadline.
 *
 * @example
 * ```ts
 * const res = await httpsExchange({ ip: "127.0.0.1", servername: "localhost", port: 2377, method: "GET",
 *   path: "/metadata/identity/oauth2/token?api-version=2019-07-01-preview", headers: { secret: s },
 *   timeoutMs: 5000, maxHeaderBytes: 16384, maxBodyBytes: 1 << 20, pinnedThumbprint: "ab12..." });
 * ```
 */
export function httpsExchange(x: HttpsExchange): Promise<RawResponse> {
  const tls = require("node:tls") as typeof import("node:tls");
  const https = require("node:https") as typeof import("node:https");
  const started = nowMs();
  return new Promise<RawResponse>((resolve, reject) => {
    let phase: Phase = "connect";
    let settled = false;
    let req: import("node:http").ClientRequest | undefined;
    const fail = (code: string, detail: string, cause?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      socket.destroy();
      reject(
        transportError(
          { code, phase, address: x.ip, port: x.port, timeoutMs: x.timeoutMs, elapsedMs: nowMs() - started, detail,
            maxHeaderBytes: x.maxHeaderBytes, maxBodyBytes: x.maxBodyBytes },
          cause,
        ),
      );
    };
    const timer = setTimeout(() => fail(ErrorCode.Timeout, "timed out"), x.timeoutMs);
    const socket: TLSSocket = tls.connect({
      host: x.ip,
      port: x.port,
      servername: x.servername,
      // Verification is decided below, so a pinned self-signed certificate
      // can be accepted; nothing is written before that decision.
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    socket.once("connect", () => {
      phase = "tls";
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (phase === "tls") fail(ErrorCode.Tls, "TLS handshake failed", e);
      else if (phase === "connect") fail(errnoCode(e.code), errnoDetail(e.code ?? ""), e);
      else fail(errnoCode(e.code), errnoDetail(e.code ?? ""), e);
    });
    socket.once("secureConnect", () => {
      if (!socket.authorized) {
        const thumbprint = socket.getPeerCertificate()?.fingerprint?.replace(/:/g, "").toLowerCase();
        if (x.pinnedThumbprint === undefined) {
          fail(ErrorCode.Tls, `server certificate rejected (${String(socket.authorizationError)})`);
          return;
        }
        if (thumbprint !== x.pinnedThumbprint) {
          fail(ErrorCode.TlsThumbprintMismatch, "server certificate thumbprint does not match the pinned thumbprint");
          return;
        }
      }
      phase = "write";
      send();
    });

    const send = (): void => {
      const headers: Record<string, string> = { ...x.headers };
      if (x.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-length")) {
        headers["Content-Length"] = String(x.body.length);
      }
      req = https.request({
        method: x.method,
        path: x.path,
        headers,
        // No agent: with createConnection set, the request uses our verified
        // socket (agent:false would make a fresh Agent that dials again).
        maxHeaderSize: x.maxHeaderBytes,
        createConnection: () => socket,
      });
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (settled) return;
        if (e.code === "HPE_HEADER_OVERFLOW") fail(ErrorCode.HeadersTooLarge, "response headers too large", e);
        else if (typeof e.code === "string" && e.code.startsWith("HPE_")) fail(ErrorCode.HttpParse, "invalid HTTP response", e);
        else if (e.code === "ECONNRESET" && phase !== "body") fail(ErrorCode.ConnectionReset, "connection closed before the response headers were complete", e);
        else fail(errnoCode(e.code), errnoDetail(e.code ?? ""), e);
      });
      req.on("response", (res) => {
        phase = "body";
        const chunks: Buffer[] = [];
        let length = 0;
        res.on("data", (c: Buffer) => {
          length += c.length;
          if (length > x.maxBodyBytes) fail(ErrorCode.BodyTooLarge, "response body too large");
          else chunks.push(c);
        });
        res.on("aborted", () => fail(ErrorCode.ConnectionReset, "connection closed before the response body was complete"));
        res.on("error", (e: NodeJS.ErrnoException) => fail(ErrorCode.ConnectionReset, "connection closed before the response body was complete", e));
        res.on("end", () => {
          if (settled) return;
          if (!res.complete) {
            fail(ErrorCode.ConnectionReset, "connection closed before the response body was complete");
            return;
          }
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          const flat: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) flat.push(res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!);
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? "",
            headers: joinHeaders(flat),
            body: Buffer.concat(chunks, length),
            elapsedMs: nowMs() - started,
          });
        });
      });
      phase = "headers";
      req.end(x.body);
    };
  });
}

