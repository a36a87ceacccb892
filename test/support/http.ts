/**
 * A plain HTTP GET for tests that talk to a loopback server (ours or a
 * fake) and want the status and the whole body as text.
 *
 * @example
 * ```ts
 * const { status, body } = await httpGet(`${server.url}/msi/token?api-version=2019-08-01`, { "X-IDENTITY-HEADER": secret });
 * ```
 */
import * as http from "node:http";

/** GET a URL on loopback with headers; resolves with status and body. */
export function httpGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}
