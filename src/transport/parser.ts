/**
 * The strict, incremental HTTP/1.x response parser of the node:net fallback:
 * a line-for-line port of `ResponseParser` in native/http1.cc, so both
 * transports accept, reject and cap exactly the same responses with the
 * same codes, phases and details. Change both together.
 */
import { ErrorCode } from "../errors";

/** What a `feed()`/`finish()` call found: need more bytes, a complete response, or an error. */
export type ParseResult = "more" | "done" | "error";

const enum S {
  Status,
  Header,
  BodyLength,
  BodyClose,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  Done,
  Error,
}

/** Longest chunk-size line (with extensions) accepted. */
const MAX_CHUNK_LINE = 4096;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values and reason phrases: visible ASCII, SP, HTAB, obs-text.
const FIELD = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

/**
 * Incremental response parser; feed it socket chunks, then `finish()` on EOF.
 *
 * @example
 * ```ts
 * const p = new ResponseParser(16384, 1 << 20, false);
 * p.feed(Buffer.from("HTTP/1.1 204 No Content\r\n\r\n")); // "done"
 * p.status; // 204
 * ```
 */
export class ResponseParser {
  status = 0;
  statusText = "";
  /** Lower-cased names in arrival order, flat `[name, value, ...]`. */
  headers: string[] = [];
  errorCode = "";
  errorPhase: "headers" | "body" | "" = "";
  errorDetail = "";

  private state = S.Status;
  private headBytes = 0;
  private line = "";
  private remaining = 0;
  private chunkEndSeen = 0;
  private bodyParts: Buffer[] = [];
  private bodyLength = 0;

  constructor(
    private readonly maxHeaderBytes: number,
    private readonly maxBodyBytes: number,
    private readonly headRequest = false,
  ) {}

  /** True while the status line or headers are still being read. */
  inHead(): boolean {
    return this.state === S.Status || this.state === S.Header;
  }

  /** The decoded body once `done`. */
  body(): Buffer {
    return this.bodyParts.length === 1 ? this.bodyParts[0]! : Buffer.concat(this.bodyParts, this.bodyLength);
  }

  private fail(code: string, detail: string): "error" {
    this.errorPhase = this.inHead() ? "headers" : "body";
    this.errorCode = code;
    this.errorDetail = detail;
    this.state = S.Error;
    return "error";
  }

  private appendBody(chunk: Buffer): void {
    this.bodyParts.push(chunk);
    this.bodyLength += chunk.length;
  }

  /** Feeds bytes as they arrive; bytes after a complete response are ignored. */
  feed(data: Buffer): ParseResult {
    let pos = 0;
    const len = data.length;
    while (pos < len) {
      switch (this.state) {
        case S.Done:
          return "done";
        case S.Error:
          return "error";
        case S.Status:
        case S.Header:
        case S.Trailer:
        case S.ChunkSize: {
          const head = this.state !== S.ChunkSize;
          const lf = data.indexOf(10, pos);
          const end = lf === -1 ? len : lf + 1;
          const used = end - pos;
          if (head) this.headBytes += used;
          this.line += data.toString("latin1", pos, end);
          pos = end;
          if (head && this.headBytes > this.maxHeaderBytes) {
            return this.fail(ErrorCode.HeadersTooLarge, "response headers too large");
          }
          if (!head && this.line.length > MAX_CHUNK_LINE) return this.fail(ErrorCode.HttpParse, "chunk header too long");
          if (lf === -1) return "more";
          if (this.line.length < 2 || this.line.charCodeAt(this.line.length - 2) !== 13) {
            return this.fail(ErrorCode.HttpParse, "line does not end with CRLF");
          }
          const line = this.line.slice(0, -2);
          this.line = "";
          if (line.includes("\r")) return this.fail(ErrorCode.HttpParse, "line does not end with CRLF");
          let ok = true;
          if (this.state === S.Status) {
            ok = this.parseStatusLine(line);
            if (ok) this.state = S.Header;
          } else if (this.state === S.Header) {
            ok = line.length === 0 ? this.startBody() : this.parseHeaderLine(line, false);
          } else if (this.state === S.Trailer) {
            if (line.length === 0) this.state = S.Done;
            else ok = this.parseHeaderLine(line, true);
          } else {
            ok = this.parseChunkSize(line);
          }
          if (!ok) return "error";
          break;
        }
        case S.BodyLength:
        case S.ChunkData: {
          const take = Math.min(len - pos, this.remaining);
          this.appendBody(data.subarray(pos, pos + take));
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = this.state === S.BodyLength ? S.Done : S.ChunkDataEnd;
          break;
        }
        case S.ChunkDataEnd: {
          const want = this.chunkEndSeen === 0 ? 13 : 10;
          if (data[pos] !== want) return this.fail(ErrorCode.HttpParse, "chunk data not followed by CRLF");
          pos++;
          if (++this.chunkEndSeen === 2) this.state = S.ChunkSize;
          break;
        }
        case S.BodyClose: {
          const take = len - pos;
          if (take > this.maxBodyBytes - this.bodyLength) return this.fail(ErrorCode.BodyTooLarge, "response body too large");
          this.appendBody(data.subarray(pos));
          pos = len;
          break;
        }
      }
    }
    if (this.state === S.Done) return "done";
    if (this.state === S.Error) return "error";
    return "more";
  }

  /** The peer closed: completes a close-delimited body or reports an incomplete response. */
  finish(): ParseResult {
    switch (this.state) {
      case S.Done:
        return "done";
      case S.Error:
        return "error";
      case S.BodyClose:
        this.state = S.Done;
        return "done";
      case S.Status:
      case S.Header:
        return this.fail(ErrorCode.ConnectionReset, "connection closed before the response headers were complete");
      default:
        return this.fail(ErrorCode.ConnectionReset, "connection closed before the response body was complete");
    }
  }

  private parseStatusLine(l: string): boolean {
    if (l.length < 12 || !l.startsWith("HTTP/1.") || (l[7] !== "0" && l[7] !== "1") || l[8] !== " ") {
      this.fail(ErrorCode.HttpParse, "status line is not HTTP/1.x");
      return false;
    }
    const digits = l.slice(9, 12);
    if (!/^[0-9]{3}$/.test(digits)) {
      this.fail(ErrorCode.HttpParse, "invalid status code");
      return false;
    }
    const status = Number(digits);
    if (status < 100 || status > 599 || (l.length > 12 && l[12] !== " ")) {
      this.fail(ErrorCode.HttpParse, "invalid status code");
      return false;
    }
    const reason = l.length > 13 ? l.slice(13) : "";
    if (!FIELD.test(reason)) {
      this.fail(ErrorCode.HttpParse, "invalid character in status line");
      return false;
    }
    this.status = status;
    this.statusText = reason;
    return true;
  }

  private parseHeaderLine(l: string, trailer: boolean): boolean {
    const colon = l.indexOf(":");
    if (colon <= 0 || !TOKEN.test(l.slice(0, colon))) {
      this.fail(ErrorCode.HttpParse, "invalid header line");
      return false;
    }
    const raw = l.slice(colon + 1);
    if (!FIELD.test(raw)) {
      this.fail(ErrorCode.HttpParse, "invalid character in header value");
      return false;
    }
    if (!trailer) this.headers.push(l.slice(0, colon).toLowerCase(), trimOws(raw));
    return true;
  }

  private startBody(): boolean {
    if (this.status >= 100 && this.status < 200) {
      if (this.status === 101) {
        this.fail(ErrorCode.HttpParse, "unexpected 101 Switching Protocols");
        return false;
      }
      // Interim response (e.g. 100 Continue): forget it, read the real one.
      this.headers = [];
      this.statusText = "";
      this.status = 0;
      this.state = S.Status;
      return true;
    }
    let te: string | undefined;
    let hasCl = false;
    let cl = -1;
    for (let i = 0; i < this.headers.length; i += 2) {
      const name = this.headers[i];
      const value = this.headers[i + 1]!;
      if (name === "transfer-encoding") {
        te = te === undefined ? value : `${te},${value}`;
      } else if (name === "content-length") {
        hasCl = true;
        for (const raw of value.split(",")) {
          const part = trimOws(raw);
          if (!CONTENT_LENGTH.test(part) || (cl !== -1 && Number(part) !== cl)) {
            this.fail(ErrorCode.HttpParse, "invalid Content-Length");
            return false;
          }
          cl = Number(part);
        }
      }
    }
    if (this.headRequest || this.status === 204 || this.status === 304) {
      this.state = S.Done;
      return true;
    }
    if (te !== undefined) {
      if (hasCl) {
        this.fail(ErrorCode.HttpParse, "both Transfer-Encoding and Content-Length");
        return false;
      }
      const parts = te.split(",").map(trimOws);
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        if (p.length === 0 || (p.toLowerCase() === "chunked" && i !== parts.length - 1)) {
          this.fail(ErrorCode.HttpParse, "invalid Transfer-Encoding");
          return false;
        }
      }
      this.state = parts[parts.length - 1]!.toLowerCase() === "chunked" ? S.ChunkSize : S.BodyClose;
      return true;
    }
    if (hasCl) {
      if (cl > this.maxBodyBytes) {
        this.state = S.BodyLength; // so the phase reads "body"
        this.fail(ErrorCode.BodyTooLarge, "response body too large");
        return false;
      }
      this.remaining = cl;
      this.state = cl === 0 ? S.Done : S.BodyLength;
      return true;
    }
    this.state = S.BodyClose;
    return true;
  }

  private parseChunkSize(l: string): boolean {
    const m = /^[0-9A-Fa-f]+/.exec(l);
    if (m === null || m[0].length > 15) {
      this.fail(ErrorCode.HttpParse, "invalid chunk size");
      return false;
    }
    const size = parseInt(m[0], 16);
    const rest = l.slice(m[0].length).replace(/^[ \t]+/, "");
    if (rest.length > 0) {
      if (rest[0] !== ";") {
        this.fail(ErrorCode.HttpParse, "invalid chunk size");
        return false;
      }
      if (!FIELD.test(rest)) {
        this.fail(ErrorCode.HttpParse, "invalid chunk extension");
        return false;
      }
    }
    if (size > this.maxBodyBytes - this.bodyLength) {
      this.fail(ErrorCode.BodyTooLarge, "response body too large");
      return false;
    }
    this.remaining = size;
    this.state = size === 0 ? S.Trailer : S.ChunkData;
    this.chunkEndSeen = 0;
    return true;
  }
}
