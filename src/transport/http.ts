/**
 * URL-level requests for identity endpoints: `send()` resolves the host with
 * its own timeout, then hands plain HTTP to the active transport (native
 * addon or node:net fallback) and HTTPS (Service Fabric) to node:https with
 * optional certificate-thumbprint pinning. Proxy variables are never used:
 * identity endpoints are loopback or link-local.
 *
 * PLACEHOLDER: this first version uses node:http so other modules can be
 * written against the signature; the transport work replaces the body and
 * keeps the signature.
 */
import * as http from "node:http";
import * as https from "node:https";
import { ErrorCode, TransportError } from "../errors";
import type { RawResponse } from "./types";

export interface SendOptions {
  url: string | URL;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** One deadline for resolve + connect + write + read. */
  timeoutMs: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  /** HTTPS only: accept the server certificate iff its SHA-1 thumbprint (hex, any case) matches. */
  pinnedThumbprint?: string;
}

export async function send(options: SendOptions): Promise<RawResponse> {
  const url = typeof options.url === "string" ? new URL(options.url) : options.url;
  const started = performance.now();
  const lib = url.protocol === "https:" ? https : http;
  return new Promise<RawResponse>((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: options.method ?? "GET",
        headers: options.headers,
        agent: false,
        rejectUnauthorized: options.pinnedThumbprint ? false : undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? "",
            headers,
            body: Buffer.concat(chunks),
            elapsedMs: performance.now() - started,
          });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(
        new TransportError(ErrorCode.Timeout, `Request to ${url.host} timed out after ${options.timeoutMs} ms`, {
          phase: "connect",
          address: url.hostname,
          port: Number(url.port),
          timeoutMs: options.timeoutMs,
          elapsedMs: performance.now() - started,
        }),
      );
    }, options.timeoutMs);
    req.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new TransportError(e.code ?? ErrorCode.ConnectionReset, `Request to ${url.host} failed: ${e.code}`, {
          phase: "connect",
          address: url.hostname,
          port: Number(url.port),
          timeoutMs: options.timeoutMs,
          elapsedMs: performance.now() - started,
        }),
      );
    });
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Which transport answers plain-HTTP requests in this process. */
export function transportKind(): "native" | "node" {
  return "node";
}
