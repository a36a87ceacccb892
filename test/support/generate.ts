/**
 * Seeded inputs for differential tests (a hand-written check against the
 * pattern or parser it replaced): the same strings every run, so a failure
 * names a string that reproduces.
 *
 * @example
 * ```ts
 * for (const s of randomStrings(7, ["a", " ", "\u0000"], 10_000, 8)) assert.equal(mine(s), OLD.test(s));
 * ```
 */

/** mulberry32: a small seedable generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` strings of 0 to `maxLen - 1` pieces, each drawn from `alphabet`. */
export function randomStrings(seed: number, alphabet: readonly string[], count: number, maxLen: number): string[] {
  const r = seededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = "";
    for (let n = Math.floor(r() * maxLen); n > 0; n--) s += alphabet[Math.floor(r() * alphabet.length)]!;
    out.push(s);
  }
  return out;
}
