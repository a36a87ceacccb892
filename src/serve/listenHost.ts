/**
 * Which `host` values a local endpoint may listen on: an IP literal or
 * `localhost`. A name would be resolved through DNS before listening (a
 * lookup leaving the machine, for a server meant to be local) and could bind
 * wherever the name points today; an IPv6 zone id (`fe80::1%eth0`) cannot be
 * written in the URLs clients are given (`http://[fe80::1%eth0]:PORT` is not
 * a valid URL). Shared by `azmi serve --host`, `startServer` and so
 * PowerShell's `-HostName`. Small on purpose: the CLI loads it at parse time.
 *
 * @example
 * ```ts
 * listenHostProblem("example.com"); // "host names are not resolved"
 * listenHostProblem("::1"); // undefined
 * ```
 */
import { isIP } from "node:net";

/** `undefined` for an address to listen on (brackets allowed around IPv6), else why not, in a few words. */
export function listenHostProblem(host: string): string | undefined {
  const bracketed = /^\[(.*)\]$/.exec(host);
  const bare = bracketed ? bracketed[1]! : host;
  if (bare.includes("%") && isIP(bare) === 6) {
    return "an IPv6 zone id (%NAME) cannot be written in the URLs clients are given; use an address without one (::1, :: or a global address)";
  }
  if (bracketed) return isIP(bare) === 6 ? undefined : "brackets are for IPv6 addresses only";
  if (bare === "localhost" || isIP(bare) !== 0) return undefined;
  return "host names are not resolved";
}
