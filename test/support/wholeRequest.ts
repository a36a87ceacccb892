/**
 * Request framing for the raw loopback servers the tests run (protocol
 * fakes, transport servers, fault servers). They write exact bytes, so they
 * read requests themselves: a request is whole once its head and its
 * `Content-Length` body have arrived. Only the first request on a
 * connection counts: these servers answer once, then close or misbehave.
 */
import type * as net from "node:net";

/**
 * Call `onRequest` once, when the first whole request on `socket` has
 * arrived, with its bytes (head, blank line, body) and where its head ends.
 * Bytes after it are ignored.
 *
 * @example
 * ```ts
 * net.createServer((socket) => onWholeRequest(socket, (request, headEnd) => {
 *   const head = request.subarray(0, headEnd).toString("latin1");
 *   socket.end("HTTP/1.1 204 No Content\r\n\r\n");
 * }));
 * ```
 */
export function onWholeRequest(socket: net.Socket, onRequest: (request: Buffer, headEnd: number) => void): void {
  let buf = Buffer.alloc(0);
  let whole = false;
  socket.on("data", (chunk: Buffer) => {
    if (whole) return;
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString("latin1"));
    const need = end + 4 + (m ? Number(m[1]) : 0);
    if (buf.length < need) return;
    whole = true;
    onRequest(buf.subarray(0, need), end);
  });
}
