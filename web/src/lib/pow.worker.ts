/**
 * The proof-of-work search off the main thread (`solveInWorker` in `solver.ts` starts one per
 * challenge and ends it with `terminate()` when the answer is in or the page no longer wants it).
 * Receives `{challenge, key, bits}`; posts `{type: "progress", hashes}` about every 100 ms and
 * `{type: "done", solution, hashes, ms}` once found (`ms`: the search's own time, in here).
 */

import { createSolver } from "./pow";

/** Attempts between looks at the clock (a few milliseconds on a phone). */
const SLICE = 4096;
const PROGRESS_MS = 100;

export interface SolveRequest {
  challenge: string;
  key: string;
  bits: number;
}

export type SolveMessage =
  | { type: "progress"; hashes: number }
  | { type: "done"; solution: string; hashes: number; ms: number };

const post = (m: SolveMessage) => self.postMessage(m);

self.onmessage = (e: MessageEvent<SolveRequest>) => {
  const { challenge, key, bits } = e.data;
  const solver = createSolver(challenge, key, bits);
  const started = performance.now();
  let reported = started;
  for (;;) {
    const solution = solver.run(SLICE);
    const now = performance.now();
    if (solution !== null) {
      post({ type: "done", solution, hashes: solver.hashes, ms: now - started });
      return;
    }
    if (now - reported >= PROGRESS_MS) {
      reported = now;
      post({ type: "progress", hashes: solver.hashes });
    }
  }
};
