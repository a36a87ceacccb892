/**
 * Why a federated token file (`AZURE_FEDERATED_TOKEN_FILE`, workload
 * identity) cannot be used, said in terms of the file, not of Entra ID.
 * `@azure/identity` reads the file inside the exchange and reports a missing
 * or empty file as an `AuthenticationRequiredError` ("ENOENT: no such file or
 * directory, open '…'"), which reads as if Entra ID had refused. Called only
 * after an exchange failed, so a working exchange pays no extra read.
 *
 * @example
 * ```ts
 * federatedTokenFileProblem("/var/run/secrets/azure/tokens/azure-identity-token", "AZURE_FEDERATED_TOKEN_FILE");
 * // "the federated token file /var/run/… (AZURE_FEDERATED_TOKEN_FILE) cannot be read (ENOENT: no such file or directory)"
 * ```
 */

/** What to do about it, for the error's message. */
export const FEDERATED_TOKEN_FILE_HINT =
  "On AKS the workload identity webhook mounts this file into pods labelled azure.workload.identity/use: \"true\"; elsewhere point AZURE_FEDERATED_TOKEN_FILE (or tokenFilePath) at a readable file that holds the federated (OIDC) token.";

/** `undefined` when the file can be read and is not blank; else one line saying what is wrong (no file contents). */
export function federatedTokenFileProblem(path: string, setting: string): string | undefined {
  const unsafe = unsafeToReadProblem(path);
  if (unsafe) return `the federated token file ${path} (${setting}) ${unsafe}`;
  // Loaded here, on the failure path only: `import * as fs` copied node:fs's ~100 exports at every chain construction.
  const fs = require("node:fs") as typeof import("node:fs");
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (error) {
    return `the federated token file ${path} (${setting}) cannot be read (${readErrorText(error)})`;
  }
  if (text.trim() === "") return `the federated token file ${path} (${setting}) is empty`;
  return undefined;
}

/** A federated token or a PEM certificate with its key is a few KiB; a file far larger is the wrong file. */
export const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;

/**
 * Why a credential file (federated token, certificate) must not be read at
 * all, from one `stat` (no open, no read), else `undefined` (also when the
 * stat fails: the read then says why). A named pipe or a device is never
 * read: the read waits for a writer forever (a libuv pool thread blocked in
 * `open`, which even `process.exit` waits for, so no deadline could end the
 * process), and `/dev/zero` never ends. A huge file is refused before it is
 * read into memory and sent to Entra ID.
 *
 * @example
 * ```ts
 * unsafeToReadProblem("/tmp/fifo"); // "is a named pipe (FIFO), not a regular file: reading it could wait forever"
 * ```
 */
export function unsafeToReadProblem(path: string): string | undefined {
  const fs = require("node:fs") as typeof import("node:fs");
  let stat: import("node:fs").Stats;
  try {
    stat = fs.statSync(path);
  } catch {
    return undefined;
  }
  if (stat.isFile()) {
    return stat.size > MAX_CREDENTIAL_FILE_BYTES
      ? `is ${stat.size} bytes, far more than a token or certificate holds (azmi reads at most ${MAX_CREDENTIAL_FILE_BYTES} bytes): is it the right file?`
      : undefined;
  }
  if (stat.isDirectory()) return undefined; // the read fails at once with EISDIR, worded by readErrorText
  const kind = stat.isFIFO() ? "a named pipe (FIFO)" : stat.isCharacterDevice() ? "a character device" : stat.isBlockDevice() ? "a block device" : stat.isSocket() ? "a socket" : "not a plain file";
  return `is ${kind}, not a regular file: reading it could wait forever`;
}

/**
 * Why a file could not be read, as "ENOENT: no such file or directory" (the
 * code and what it means, without the path and call Node adds); shared by the
 * certificate file's message (environmentCredential.ts).
 *
 * @example
 * ```ts
 * readErrorText(Object.assign(new Error("…"), { code: "EACCES" })); // "EACCES: permission denied"
 * ```
 */
export function readErrorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}${SYSCALL_TEXT[e.code] ? `: ${SYSCALL_TEXT[e.code]}` : ""}` : String(e.message ?? e);
}

const SYSCALL_TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  ELOOP: "too many symbolic links",
};
