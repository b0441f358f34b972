/**
 * Proof of work at join (docs/web-app.md, "Proof of work at join"): the search for a `solution`
 * (a decimal counter, "0", "1", "2", …) such that SHA-256 of `challenge:idempotencyKey:solution`
 * starts with at least `bits` zero bits, the check the server makes (docs/api.md). Pure and
 * synchronous, so it is unit-tested as is; the app runs it in a worker (`pow.worker.ts`,
 * `solveInWorker` in `challenge.ts`).
 *
 * Incremental: the prefix `challenge:key:` is hashed once, and each attempt copies that state
 * into one reused hasher and hashes only the counter's digits: one SHA-256 compression per
 * attempt for the server's challenges, and nothing allocated in the loop.
 */

import { sha256 } from "@noble/hashes/sha2.js";

/** Leading zero bits of `digest`, from its first byte, most significant bit first. */
export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < digest.length; i++) {
    const byte = digest[i];
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** The bytes SHA-256 is taken of for `solution`: `challenge:key:solution`, UTF-8. */
export function workInput(challenge: string, key: string, solution: string): Uint8Array {
  return new TextEncoder().encode(`${challenge}:${key}:${solution}`);
}

/** Whether `solution` is work of at least `bits` for `challenge` and `key` (as the server checks it). */
export function checkSolution(challenge: string, key: string, solution: string, bits: number): boolean {
  return leadingZeroBits(sha256(workInput(challenge, key, solution))) >= bits;
}

/** Digits a counter below 2^53 needs, at most. */
const MAX_DIGITS = 16;
const ZERO = 0x30;

/**
 * A search for a solution that goes on from where it stopped: `run(n)` tries up to `n` more
 * counters and answers the solution found, or null. `hashes` counts the attempts so far.
 */
export interface Solver {
  run(maxAttempts: number): string | null;
  readonly hashes: number;
}

export function createSolver(challenge: string, key: string, bits: number): Solver {
  if (!Number.isInteger(bits) || bits < 0 || bits > 256) throw new RangeError(`bits must be a whole number of 0 to 256, not ${bits}`);
  const base = sha256.create().update(new TextEncoder().encode(`${challenge}:${key}:`));
  const work = sha256.create();
  const out = new Uint8Array(32);
  // The counter's decimal digits, least significant last, kept as ASCII and incremented in place;
  // views of the first 1, 2, … digits made once.
  const digits = new Uint8Array(MAX_DIGITS).fill(ZERO);
  const views = Array.from({ length: MAX_DIGITS + 1 }, (_, n) => digits.subarray(0, n));
  let length = 1;
  let hashes = 0;

  /** counter + 1, in the digits. */
  const increment = () => {
    for (let i = length - 1; i >= 0; i--) {
      if (digits[i] !== ZERO + 9) {
        digits[i]++;
        return;
      }
      digits[i] = ZERO;
    }
    // 9…9 + 1: one more digit, 10…0.
    if (length === MAX_DIGITS) throw new Error("the counter ran out of digits");
    digits[0] = ZERO + 1;
    digits[length] = ZERO;
    length++;
  };

  return {
    run(maxAttempts: number): string | null {
      for (let n = 0; n < maxAttempts; n++) {
        base._cloneInto(work);
        work.update(views[length]);
        work.digestInto(out);
        hashes++;
        if (leadingZeroBits(out) >= bits) {
          const solution = String.fromCharCode(...views[length]);
          increment(); // a further run goes on past this solution
          return solution;
        }
        increment();
      }
      return null;
    },
    get hashes() {
      return hashes;
    },
  };
}

/**
 * The first counter that solves the challenge (and the hashes it took), synchronously: the
 * worker's search in one go, for tests. `maxAttempts` bounds it (null past that).
 */
export function solve(challenge: string, key: string, bits: number, maxAttempts = Number.MAX_SAFE_INTEGER): { solution: string; hashes: number } | null {
  const solver = createSolver(challenge, key, bits);
  const solution = solver.run(maxAttempts);
  return solution === null ? null : { solution, hashes: solver.hashes };
}
