import { describe, expect, it } from "vitest";
import { solveProbability } from "./join";
import { checkSolution, createSolver, leadingZeroBits, solve, workInput } from "./pow";

/**
 * SHA-256 by node's own implementation (WebCrypto, OpenSSL underneath): independent of the
 * library the app uses.
 */
const sha256 = async (s: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
const randomUUID = () => crypto.randomUUID();

/** Leading zero bits, counted the slow, obvious way: the digest as a bit string. */
function zeroBitsSlow(digest: Uint8Array): number {
  const bitsText = [...digest].map((b) => b.toString(2).padStart(8, "0")).join("");
  const one = bitsText.indexOf("1");
  return one === -1 ? bitsText.length : one;
}

/** A challenge shaped as the server's (`c1.bits.issued_ms.nonce.tag`). */
const CHALLENGE = "c1.12.1767225600000.0123456789abcdef.0123456789abcdef0123456789abcdef";

describe("leadingZeroBits", () => {
  it("counts zero bits from the first byte, most significant bit first", () => {
    expect(leadingZeroBits(Uint8Array.of(0x80, 0, 0))).toBe(0);
    expect(leadingZeroBits(Uint8Array.of(0xff))).toBe(0);
    expect(leadingZeroBits(Uint8Array.of(0x40))).toBe(1);
    expect(leadingZeroBits(Uint8Array.of(0x01, 0xff))).toBe(7);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x80))).toBe(8);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x01))).toBe(15);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x00, 0x3f, 0x00))).toBe(18);
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256);
    expect(leadingZeroBits(new Uint8Array(0))).toBe(0);
    // Not the first set bit of a later byte: only the leading run counts.
    expect(leadingZeroBits(Uint8Array.of(0x10, 0x00, 0x00))).toBe(3);
  });
  it("agrees with a bit-by-bit count on every byte value and on real digests", async () => {
    for (let b = 0; b < 256; b++) {
      for (const first of [0, 1]) {
        const d = first ? Uint8Array.of(0, b, 0xff) : Uint8Array.of(b, 0xff);
        expect(leadingZeroBits(d)).toBe(zeroBitsSlow(d));
      }
    }
    for (let i = 0; i < 2000; i++) {
      const d = await sha256(`${CHALLENGE}:k:${i}`);
      expect(leadingZeroBits(d)).toBe(zeroBitsSlow(d));
    }
  });
});

describe("the solver", () => {
  it("finds the first counter that solves the challenge, checked with node's own SHA-256", async () => {
    for (const bits of [1, 4, 8, 12, 16, 18]) {
      const key = randomUUID();
      const found = solve(CHALLENGE, key, bits);
      expect(found).not.toBeNull();
      const { solution, hashes } = found!;
      expect(solution).toMatch(/^(0|[1-9]\d*)$/);
      expect(hashes).toBe(Number(solution) + 1);
      expect(zeroBitsSlow(await sha256(`${CHALLENGE}:${key}:${solution}`))).toBeGreaterThanOrEqual(bits);
      // …and it is the first: every smaller counter falls short (checked up to 12 bits: a few
      // thousand digests).
      if (bits <= 12) {
        for (let n = 0; n < Number(solution); n++) {
          expect(zeroBitsSlow(await sha256(`${CHALLENGE}:${key}:${n}`)), `counter ${n}`).toBeLessThan(bits);
        }
      }
      expect(checkSolution(CHALLENGE, key, solution, bits)).toBe(true);
    }
  });

  it("hashes exactly challenge:key:counter, through the counter's carries (9 → 10, 99 → 100, …)", async () => {
    // 0 bits: every counter solves; a solver that goes on counts 0, 1, 2, … one per run.
    const key = randomUUID();
    const solver = createSolver(CHALLENGE, key, 0);
    for (let n = 0; n <= 1200; n++) expect(solver.run(1)).toBe(String(n));
    expect(solver.hashes).toBe(1201);
    // At 8 bits, every solution the solver finds past a thousand counters is right.
    const eight = createSolver(CHALLENGE, key, 8);
    let last = -1;
    for (let i = 0; i < 20; i++) {
      const s = eight.run(1_000_000)!;
      expect(Number(s)).toBeGreaterThan(last);
      last = Number(s);
      expect(leadingZeroBits(await sha256(`${CHALLENGE}:${key}:${s}`))).toBeGreaterThanOrEqual(8);
    }
  });

  it("hashes the text as UTF-8, and challenges of any length (one block or several)", async () => {
    for (const challenge of ["x", "c1.0.0.é☃.00", "c".repeat(55), "c".repeat(63), "c".repeat(64), "c".repeat(200)]) {
      const key = randomUUID();
      const { solution } = solve(challenge, key, 6)!;
      expect(leadingZeroBits(await sha256(`${challenge}:${key}:${solution}`))).toBeGreaterThanOrEqual(6);
    }
    expect([...workInput("é", "☃", "7")]).toEqual([0xc3, 0xa9, 0x3a, 0xe2, 0x98, 0x83, 0x3a, 0x37]);
  });

  it("goes on where it stopped, and gives up after the attempts asked", () => {
    const key = randomUUID();
    const whole = solve(CHALLENGE, key, 12)!;
    const solver = createSolver(CHALLENGE, key, 12);
    let found: string | null = null;
    while (found === null) found = solver.run(100);
    expect(found).toBe(whole.solution);
    expect(solver.hashes).toBe(whole.hashes);
    expect(solve(CHALLENGE, key, 12, whole.hashes - 1)).toBeNull();
    expect(solve(CHALLENGE, key, 12, whole.hashes)).toEqual(whole);
  });

  it("takes about 2^bits hashes on average", () => {
    let total = 0;
    const runs = 40;
    for (let i = 0; i < runs; i++) total += solve(CHALLENGE, randomUUID(), 10)!.hashes;
    // The mean of 40 geometric draws of mean 1024 is within 1024 ± 50% (about 3 standard errors).
    expect(total / runs).toBeGreaterThan(512);
    expect(total / runs).toBeLessThan(1536);
  });

  it("refuses a difficulty that is not whole bits", () => {
    expect(() => createSolver(CHALLENGE, "k", -1)).toThrow(RangeError);
    expect(() => createSolver(CHALLENGE, "k", 1.5)).toThrow(RangeError);
  });
});

describe("solveProbability", () => {
  it("is the chance the search has ended after so many hashes", () => {
    expect(solveProbability(0, 18)).toBe(0);
    expect(solveProbability(123, 0)).toBe(1);
    expect(solveProbability(2 ** 18, 18)).toBeCloseTo(1 - Math.exp(-1), 4);
    expect(solveProbability(2 ** 20, 18)).toBeGreaterThan(0.98);
    expect(solveProbability(1, 1)).toBe(0.5);
  });
});
