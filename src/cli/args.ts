/**
 * The strict flag parser every `azmi` command uses. Strict because a typo in
 * a credential tool should fail loudly, not silently fall back to a default
 * identity: unknown flags, missing values, duplicates and stray arguments are
 * all a {@link UsageError} (exit code 2) whose message names the flag and the fix.
 *
 * Accepted forms: `--name value`, `--name=value`, `--flag` (booleans), and
 * `-h` as `--help`. A value may not start with `--` (that is a missing value).
 *
 * @example
 * ```ts
 * const args = parseArgs(["--resource", "https://vault.azure.net", "--verbose"], "token", {
 *   resource: { kind: "string", placeholder: "URI" },
 *   verbose: { kind: "boolean" },
 * });
 * args.resource; // "https://vault.azure.net"
 * ```
 */
import { escapeControlCharacters } from "../credentials/scopes";
import { AzmiError, ErrorCode } from "../errors";

/** How a flag takes its value. `repeat` collects every occurrence in order. */
export type FlagKind = "string" | "boolean" | "repeat";

export interface FlagSpec {
  kind: FlagKind;
  /** Allowed values; anything else is a usage error listing them. */
  choices?: readonly string[];
  /** Shown in messages, e.g. `URI` in "pass it as --resource URI". */
  placeholder?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed values by flag name (without dashes); absent flags are absent keys. */
export type ParsedArgs = Record<string, string | boolean | string[] | undefined> & { help?: boolean };

/**
 * Bad command-line input. Carries `ERR_INVALID_ARGUMENT` like every other
 * argument error so that `main` maps it to exit code 2.
 *
 * @example
 * ```ts
 * throw new UsageError("token", "--timeout-ms must be a whole number of milliseconds, e.g. --timeout-ms 5000");
 * ```
 */
export class UsageError extends AzmiError {
  /** The command the bad input was given to (`token`, `serve`, …), or "" for `azmi` itself. */
  readonly command: string;

  constructor(command: string, message: string) {
    super(ErrorCode.InvalidArgument, message);
    this.name = "UsageError";
    this.command = command;
  }
}

/**
 * Parse `argv` (the words after the command name) against `specs`.
 * Throws {@link UsageError} on the first problem; `--help`/`-h` is always accepted.
 *
 * @example
 * ```ts
 * parseArgs(["--port", "0", "--json"], "serve", { port: { kind: "string" }, json: { kind: "boolean" } });
 * // => { port: "0", json: true }
 * ```
 */
export function parseArgs(argv: readonly string[], command: string, specs: FlagSpecs): ParsedArgs {
  const out: ParsedArgs = {};
  const usage = (message: string) => new UsageError(command, message);
  // `npm start` is not an azmi command (`azmi start --help` is "unknown command"): point at its own help.
  const helpHint = command === "start" ? "npm start -- --help" : command ? `azmi ${command} --help` : "azmi --help";

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === "-h" || word === "--help") {
      out.help = true;
      continue;
    }
    if (word === "--") throw usage(`'--' is not used by azmi: every value belongs to a flag, e.g. --resource URI (see '${helpHint}')`);
    if (!word.startsWith("--")) {
      throw usage(
        word.startsWith("-") && word !== "-"
          ? `unknown flag ${escapeControlCharacters(word)}; flags are spelled with two dashes (see '${helpHint}')`
          : `unexpected argument '${escapeControlCharacters(word)}'; every value belongs to a flag, e.g. --resource URI (see '${helpHint}')`,
      );
    }
    const eq = word.indexOf("=");
    const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
    const spec = Object.prototype.hasOwnProperty.call(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const guess = closest(name, Object.keys(specs));
      throw usage(`unknown flag --${escapeControlCharacters(name)}${guess ? `; did you mean --${guess}?` : ""} (see '${helpHint}')`);
    }
    const shown = `--${name}${spec.placeholder ? ` ${spec.placeholder}` : ""}`;

    let value: string | true;
    if (spec.kind === "boolean") {
      if (eq !== -1) throw usage(`--${name} takes no value; pass just --${name}`);
      value = true;
    } else if (eq !== -1) {
      value = word.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) throw usage(`--${name} needs a value; pass it as ${shown}`);
      value = next;
      i++;
    }
    if (value !== true) {
      if (value.trim() === "") throw usage(`--${name} needs a non-empty value; pass it as ${shown}`);
      if (spec.choices && !spec.choices.includes(value)) {
        throw usage(`--${name} must be one of ${spec.choices.join(", ")} (got '${escapeControlCharacters(value)}')`);
      }
    }

    if (spec.kind === "repeat") {
      const list = (out[name] as string[] | undefined) ?? [];
      list.push(value as string);
      out[name] = list;
    } else {
      if (out[name] !== undefined) throw usage(`--${name} was given twice; pass it once`);
      out[name] = value;
    }
  }
  return out;
}

/**
 * Parse a whole number within bounds for `--name`, or throw a UsageError.
 *
 * @example
 * ```ts
 * parseWholeNumber("5000", "timeout-ms", "token", 1, 600_000); // 5000
 * ```
 */
export function parseWholeNumber(text: string, flag: string, command: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) {
    throw new UsageError(command, `--${flag} must be a whole number between ${min} and ${max} (got '${text}')`);
  }
  const n = Number(text);
  if (n < min || n > max) {
    throw new UsageError(command, `--${flag} must be between ${min} and ${max} (got ${text})`);
  }
  return n;
}

/** The known name nearest to a typo, when it is near enough to be a useful hint. */
function closest(typo: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(typo.length / 3)) + 1;
  for (const name of names) {
    const d = distance(typo, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance; names are short, so the simple table is fine. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/**
 * An option the layer below rejected at its public edge (`TypeError` /
 * `RangeError`, per the style guide) came from the command line, so it is a
 * usage error (exit 2); anything else passes through unchanged. `flags` maps
 * API option names to the flags that set them.
 *
 * @example
 * ```ts
 * catch (e) { return reportError("serve", asUsageError("serve", e)); }
 * ```
 */
export function asUsageError(command: string, error: unknown, flags: Record<string, string> = {}): unknown {
  if (error instanceof TypeError || error instanceof RangeError) {
    // Name the flag the user typed, not the API option behind it ("tenantId must…" → "--tenant must…").
    const message = error.message.replace(/\.$/, "").replace(/^(\w+)/, (word) => flags[word] ?? word);
    return new UsageError(command, message);
  }
  return error;
}
