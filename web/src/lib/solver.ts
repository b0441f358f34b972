/**
 * Runs the proof-of-work search (`pow.ts`) where it does not hold up the page: in a worker
 * (`pow.worker.ts`), or, where no worker can be started, on the main thread in slices of a few
 * milliseconds with the page's work in between.
 *
 * Each solve is recorded as a user-timing measure `tacos:pow` (detail: bits, hashes, the
 * worker's own time): the browser tests read them to measure the search on a slowed CPU.
 */

import type { SolveMessage, SolveRequest } from "./pow.worker";

export interface Solved {
  solution: string;
  hashes: number;
  /** From the request to the answer, as the page saw it (the worker's start included). */
  ms: number;
}

export interface SolveOptions {
  signal?: AbortSignal;
  /** Hashes tried so far, about every 100 ms. */
  onProgress?: (hashes: number) => void;
}

const aborted = () => new DOMException("The search was cancelled.", "AbortError");

/** The solution of `challenge` for the join keyed `key` at `bits`; rejects with an AbortError on `signal`. */
export function solveInWorker(challenge: string, key: string, bits: number, opts: SolveOptions = {}): Promise<Solved> {
  const { signal, onProgress } = opts;
  if (signal?.aborted) return Promise.reject(aborted());
  const started = performance.now();
  const finish = (solution: string, hashes: number, workerMs?: number): Solved => {
    const ms = performance.now() - started;
    try {
      performance.measure("tacos:pow", { start: started, duration: ms, detail: { bits, hashes, workerMs: workerMs ?? ms } });
    } catch {
      /* no user timing here: nothing to record */
    }
    return { solution, hashes, ms };
  };
  let worker: Worker;
  try {
    worker = new Worker(new URL("./pow.worker.ts", import.meta.url), { type: "module", name: "proof-of-work" });
  } catch {
    return solveInSlices(challenge, key, bits, opts).then((s) => finish(s.solution, s.hashes));
  }
  return new Promise<Solved>((resolve, reject) => {
    let heard = false;
    const stop = () => {
      worker.terminate();
      signal?.removeEventListener("abort", cancel);
    };
    const cancel = () => {
      stop();
      reject(aborted());
    };
    signal?.addEventListener("abort", cancel, { once: true });
    worker.onmessage = (e: MessageEvent<SolveMessage>) => {
      heard = true;
      const m = e.data;
      if (m.type === "progress") onProgress?.(m.hashes);
      else {
        stop();
        resolve(finish(m.solution, m.hashes, m.ms));
      }
    };
    // A worker that cannot start (a policy refuses it, say): the search goes on in the page.
    worker.onerror = (e) => {
      e.preventDefault();
      stop();
      if (heard) reject(new Error(`the proof-of-work worker failed: ${e.message}`));
      else solveInSlices(challenge, key, bits, opts).then((s) => resolve(finish(s.solution, s.hashes)), reject);
    };
    worker.postMessage({ challenge, key, bits } satisfies SolveRequest);
  });
}

/** The search on the main thread, about 8 ms at a time, yielding to the page in between. */
export async function solveInSlices(challenge: string, key: string, bits: number, { signal, onProgress }: SolveOptions = {}): Promise<{ solution: string; hashes: number }> {
  // Loaded only here: the page's own bundle carries no hashing code.
  const { createSolver } = await import("./pow");
  const solver = createSolver(challenge, key, bits);
  let slice = 256;
  let reported = performance.now();
  for (;;) {
    if (signal?.aborted) throw aborted();
    const t = performance.now();
    const solution = solver.run(slice);
    if (solution !== null) return { solution, hashes: solver.hashes };
    // Slices of about 8 ms, whatever the device's speed.
    const took = performance.now() - t;
    if (took < 4) slice *= 2;
    else if (took > 16 && slice > 256) slice /= 2;
    if (performance.now() - reported >= 100) {
      reported = performance.now();
      onProgress?.(solver.hashes);
    }
    await nextTask();
  }
}

/**
 * A new task of the page's event loop, soon: a message to itself, since a chain of
 * `setTimeout(0)` is held to 4 ms a step after five (a third of each slice lost).
 */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
