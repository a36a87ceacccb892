/**
 * The transport's character-class table is written out by hand (building it
 * at run time cost every first token ~0.1 ms): rebuilt here from the sets
 * its comments define, it must match bit for bit.
 */
import * as assert from "node:assert/strict";
import { CHAR_CLASSES } from "../../src/transport/http";

describe("transport: the character-class table", () => {
  it("equals the table built from the four documented sets (tchar, plain host, path, query)", () => {
    const lower = "abcdefghijklmnopqrstuvwxyz";
    const alnum = `${lower}${lower.toUpperCase()}0123456789`;
    const sets: [string, number][] = [
      [`${alnum}!#$%&'*+-.^_\`|~`, 1], // RFC 9110 tchar
      [`${lower}0123456789.-`, 2], // a plain URL's host
      [`${alnum}._~!$&'()*+,;=:@%/-`, 4], // a plain URL's path
      [`${alnum}._~!$&()*+,;=:@/?%-`, 8], // a plain URL's query
    ];
    const expected = new Uint8Array(128);
    for (const [chars, bit] of sets) for (const ch of chars) expected[ch.charCodeAt(0)]! |= bit;
    assert.equal(CHAR_CLASSES.length, 128);
    for (let c = 0; c < 128; c++) assert.equal(CHAR_CLASSES[c], expected[c], `code ${c} (${JSON.stringify(String.fromCharCode(c))})`);
  });
});
