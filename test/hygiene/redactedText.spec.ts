/**
 * Every line the CLI, `azmi doctor`, the bridge and the log write passes
 * through `redact()`, which replaces the word after a secret field's name and
 * a `:` or `=` ("IDENTITY_HEADER: abc" ⇒ "IDENTITY_HEADER: [REDACTED]"). A
 * message of ours worded that way ("Check IDENTITY_HEADER: it must be …")
 * reached users garbled ("Check IDENTITY_HEADER: [REDACTED] must be …").
 *
 * This reads every string and template literal in src/ (types stripped by
 * esbuild, then a small scanner that knows comments, regular expressions and
 * nested templates, so code such as `{ secret: v("AZURE_CLIENT_SECRET") }` is
 * not text; TypeScript 7 has no JavaScript parser API) and checks that
 * redact() leaves each as it is. A template's substitutions stand as a
 * neutral word, so the text around them counts.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { SRC, sourceFiles } from "./sources";
import { transformSync } from "esbuild";
import { redact } from "../../src/log";


/**
 * What a template's substitution reads as in the scanned text. An expression
 * whose name says it holds the name of a secret variable (`${secretVar}`) reads
 * as one, IDENTITY_HEADER, so "Check ${secretVar}: it must …" is seen as what it
 * prints; any other reads as a character no message holds.
 */
function substitute(expression: string): string {
  return /secret|header|password|assertion/i.test(expression) ? "IDENTITY_HEADER" : "\u0000";
}

/** Words after which a `/` starts a regular expression, not a division. */
const BEFORE_REGEX_WORDS = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await"]);

/**
 * The text of each string and template literal in JavaScript `code`, with
 * the line it starts on; a template's substitutions read as `substitute` says (their own
 * literals are listed too).
 */
export function literalsOf(code: string): { text: string; line: number }[] {
  const found: { text: string; line: number }[] = [];
  let i = 0;
  const lineAt = (at: number) => code.slice(0, at).split("\n").length;
  const readQuoted = (quote: string): string => {
    let text = "";
    for (i++; i < code.length && code[i] !== quote; i++) {
      if (code[i] === "\\") text += code[++i];
      else text += code[i];
    }
    i++;
    return text;
  };
  const readRegex = () => {
    let inClass = false;
    for (i++; i < code.length; i++) {
      const c = code[i];
      if (c === "\\") i++;
      else if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      else if (c === "/" && !inClass) break;
    }
    for (i++; /[a-z]/.test(code[i] ?? ""); i++);
  };
  // Scans code until an unmatched `}` (inside a template substitution) or the end.
  const scan = (): void => {
    let depth = 0;
    let last = ""; // the last significant token's text (a word, or one punctuation character)
    while (i < code.length) {
      const c = code[i]!;
      if (c === "/" && code[i + 1] === "/") {
        while (i < code.length && code[i] !== "\n") i++;
      } else if (c === "/" && code[i + 1] === "*") {
        i = code.indexOf("*/", i + 2) + 2;
      } else if (c === '"' || c === "'") {
        const line = lineAt(i);
        found.push({ text: readQuoted(c), line });
        last = "x";
      } else if (c === "`") {
        const line = lineAt(i);
        let text = "";
        for (i++; i < code.length && code[i] !== "`"; ) {
          if (code[i] === "\\") {
            text += code[i + 1];
            i += 2;
          } else if (code[i] === "$" && code[i + 1] === "{") {
            i += 2;
            const from = i;
            scan();
            text += substitute(code.slice(from, i));
            i++; // the closing }
          } else text += code[i++];
        }
        i++;
        found.push({ text, line });
        last = "x";
      } else if (c === "/") {
        if (last === "" || /^[(,=:[!&|?{};+\-*%<>~^]$/.test(last) || BEFORE_REGEX_WORDS.has(last)) readRegex();
        else i++;
        last = "x";
      } else if (/[A-Za-z0-9_$]/.test(c)) {
        const start = i;
        while (i < code.length && /[A-Za-z0-9_$]/.test(code[i]!)) i++;
        last = code.slice(start, i);
      } else if (/\s/.test(c)) {
        i++;
      } else {
        if (c === "{") depth++;
        if (c === "}" && depth-- === 0) return;
        last = c;
        i++;
      }
    }
  };
  scan();
  return found;
}

/** The literals of a TypeScript file (types stripped first, so `a < b > c` generics cannot confuse the scanner). */
function literals(file: string): { text: string; line: number }[] {
  return literalsOf(transformSync(fs.readFileSync(file, "utf8"), { loader: "ts", sourcefile: file }).code);
}

describe("hygiene: no message of ours is garbled by redact()", () => {
  it("redact() leaves every string and template literal in src/ unchanged", () => {
    const garbled = sourceFiles().flatMap((file) =>
      literals(file)
        // `azmi token --help` documents the header format with a placeholder; help goes to stdout, never through redact().
        .map((l) => ({ ...l, text: l.text.replace("Authorization: Bearer <token>", "Authorization header") }))
        .filter(({ text }) => redact(text) !== text)
        .map(({ text, line }) => `${path.relative(SRC, file)}:${line}: ${JSON.stringify(text)} → ${JSON.stringify(redact(text))}`),
    );
    assert.deepEqual(garbled, []);
  });

  it("the check sees a garbling message (the wording that reached users)", () => {
    const code = [
      'const advice = `Check IDENTITY_HEADER: it must be the secret of ${f({ a: "x" })}.`;',
      "const named = `Check ${secretVar}: it must be the secret of the endpoint running now.`;",
      'const fields = { secret: read("S"), n: a / b / c }; // "not: a literal"',
      'const pattern = /["\'](?:secret)["\']/g; /* \'nor: this\' */',
    ].join("\n");
    const texts = literalsOf(code).map((l) => l.text);
    assert.deepEqual(texts, ["x", "Check IDENTITY_HEADER: it must be the secret of \u0000.", "Check IDENTITY_HEADER: it must be the secret of the endpoint running now.", "S"]);
    assert.notEqual(redact(texts[1]!), texts[1]);
    // The wording that reached users, with the variable's name in a substitution.
    assert.notEqual(redact(texts[2]!), texts[2]);
  });
});
