/**
 * Two checks every first token runs, written as loops instead of regexes (a
 * fresh process compiles each regex on its first runs): they must accept
 * exactly what the patterns they replaced accepted, on generated strings of
 * every ASCII character and a few beyond.
 */
import * as assert from "node:assert/strict";
import { resourceProblem, scopeProblem } from "../../src/credentials/scopes";
import { checkHeaderVar } from "../../src/managed-identity/detect";
import { randomStrings } from "../support/generate";


const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
const mostlyVisible = [...ascii.slice(0x21, 0x7f), " ", " ", "\t", "\r", "\n", "\u0000", "\u007f", "\u00a0", "\u00e9", "\u2028"];

describe("managed-identity: text checks without regexes", () => {
  it("resourceProblem finds the first character outside visible ASCII where /[^!-~]/ did", () => {
    for (const s of [...randomStrings(11, mostlyVisible, 20_000, 8), ""]) {
      const at = s.search(/[^!-~]/);
      const problem = resourceProblem(s);
      if (at === -1 && s.length > 0) assert.equal(problem, undefined, JSON.stringify(s));
      else if (at !== -1) assert.match(problem!.why, new RegExp(`at position ${at + 1}$`), JSON.stringify(s));
    }
  });

  it("checkHeaderVar accepts exactly /^[\\x21-\\x7e](?:[\\x20-\\x7e]*[\\x21-\\x7e])?$/", () => {
    const pattern = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
    for (const s of [...randomStrings(12, mostlyVisible, 20_000, 6), "", " ", "a", " a", "a ", "a b"]) {
      let ok = true;
      try {
        checkHeaderVar("IDENTITY_HEADER", s);
      } catch {
        ok = false;
      }
      assert.equal(ok, pattern.test(s), JSON.stringify(s));
    }
  });
});

describe("credentials/scopes: scopeProblem", () => {
  it("gives a resource's scope room for /.default: a 2048-character resource's 2057-character scope passes, one more does not", () => {
    const resource = `api://${"a".repeat(2042)}`;
    assert.equal(resource.length, 2048);
    assert.equal(scopeProblem(`${resource}/.default`), undefined);
    assert.equal(scopeProblem(`${resource}a/.default`)?.why, "is 2058 characters long (at most 2057)");
    // A scope that is not a resource's .default scope is held to the resource's own length.
    assert.equal(scopeProblem(resource), undefined);
    assert.equal(scopeProblem(`${resource}/user.read`)?.why, "is 2058 characters long (at most 2048)");
    // A scope names a resource: "/.default" alone is an empty one.
    assert.equal(scopeProblem("/.default")?.why, "names no resource before /.default");
    assert.equal(scopeProblem("a/.default"), undefined);
  });
});
