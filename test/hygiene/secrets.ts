/**
 * Secret scanning for the hygiene suites: a registry of every secret value a
 * scenario put in play (tokens, client secrets, certificate passwords,
 * identity headers), and a scan of captured output for each of them in the
 * forms a careless logger would print (as is, URL-encoded, base64,
 * base64url), reporting where it was found with a little context.
 *
 * @example
 * ```ts
 * const secrets = new SecretSet();
 * secrets.add("IDENTITY_HEADER", header);
 * assert.deepEqual(secrets.leaks("stderr of azmi token", stderr), []);
 * ```
 */

export interface Leak {
  where: string;
  secret: string;
  form: string;
  context: string;
}

/** Forms a value may take in output. */
function forms(value: string): Array<[string, string]> {
  const out: Array<[string, string]> = [["as is", value]];
  const enc = encodeURIComponent(value);
  if (enc !== value) out.push(["URL-encoded", enc]);
  out.push(["base64", Buffer.from(value).toString("base64").replace(/=+$/, "")]);
  out.push(["base64url", Buffer.from(value).toString("base64url")]);
  return out;
}

export class SecretSet {
  private readonly values = new Map<string, string>();

  /** Register a secret under a label (labels show in failures; values never do). */
  add(label: string, value: string | undefined): this {
    if (value && value.length >= 8) this.values.set(value, label);
    return this;
  }

  /** Every registered value except those in `allowed`. */
  without(...allowed: Array<string | undefined>): SecretSet {
    const s = new SecretSet();
    for (const [v, l] of this.values) if (!allowed.includes(v)) s.add(l, v);
    return s;
  }

  get size(): number {
    return this.values.size;
  }

  /** Where any registered secret appears in `text`. */
  leaks(where: string, text: string): Leak[] {
    const found: Leak[] = [];
    for (const [value, label] of this.values) {
      for (const [form, needle] of forms(value)) {
        const i = text.indexOf(needle);
        if (i >= 0) {
          const context = text
            .slice(Math.max(0, i - 60), i + needle.length + 20)
            .split(needle)
            .join(`<${label}>`)
            .replace(/\s+/g, " ");
          found.push({ where, secret: label, form, context });
        }
      }
    }
    return found;
  }
}

/** Failures, one per line, for assertion messages. */
export function formatLeaks(leaks: Leak[]): string {
  return leaks.map((l) => `${l.where}: ${l.secret} (${l.form}) in "…${l.context}…"`).join("\n");
}
