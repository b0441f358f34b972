/**
 * Joining the waiting room, with the proof of work an event may ask for (bot friction an
 * operator turns on per event: docs/web-app.md, "Proof of work at join").
 *
 * - An event that asks for none (its `sale.join_challenge_bits` 0, the default) is joined at
 *   once: no challenge is asked for, no work done.
 * - One that asks for some: a challenge is fetched, a fresh `Idempotency-Key` chosen, the work
 *   for that key found in a worker (`solver.ts`), then the join sent with that key and
 *   `{event_id, challenge, solution}`.
 * - The server answers 428 `CHALLENGE_REQUIRED` when the work is missing or no longer good (the
 *   operator turned it on or raised it meanwhile, the challenge expired): a new challenge is
 *   solved for a new key, and the join sent again, up to `MAX_SOLVES` times.
 * - A join whose answer never came (no network, a 5xx, a 429) is retried as it was, with the same
 *   key and body, so that the server replays its first answer instead of giving a second place.
 */

import { api } from "../api/client";
import { ApiError } from "../api/errors";
import type { JoinAnswer, JoinBody, JoinChallenge } from "../api/types";
import { solveInWorker, type SolveOptions } from "./solver";

/** New challenges solved for one join, at most. */
export const MAX_SOLVES = 3;

/** What a join is doing, for the page to show. */
export type JoinProgress =
  | { phase: "challenge"; attempt: number }
  | { phase: "solving"; attempt: number; bits: number; hashes: number }
  | { phase: "joining"; worked: boolean };

export interface JoinOptions {
  /** The event's `sale.join_challenge_bits` as last read (undefined: not known). */
  bitsHint?: number;
  traceId?: string;
  signal?: AbortSignal;
  onProgress?: (p: JoinProgress) => void;
}

/** The calls a join makes (the API's and the worker's by default; stand-ins in tests). */
export interface JoinDeps {
  challenge: (eventId: string, signal?: AbortSignal) => Promise<JoinChallenge>;
  join: (body: JoinBody, key: string, traceId?: string, signal?: AbortSignal) => Promise<JoinAnswer>;
  solve: (challenge: string, key: string, bits: number, opts: SolveOptions) => Promise<{ solution: string }>;
  newKey: () => string;
}

const defaults: JoinDeps = {
  challenge: api.challenge,
  join: api.join,
  solve: solveInWorker,
  newKey: () => crypto.randomUUID(),
};

/** Events that answered 428 to a join of this page: the next join solves first. */
const asksForWork = new Set<string>();
/** Per event, the join sent whose answer never came: a retry sends it again as it was. */
const unanswered = new Map<string, { key: string; body: JoinBody }>();

/** Whether `e` is the server's "this join needs (new) proof of work". */
export function isChallengeRequired(e: unknown): boolean {
  return e instanceof ApiError && (e.code === "CHALLENGE_REQUIRED" || e.status === 428);
}

/** A join that may have reached the server though no answer came back: retried with the same key. */
function outcomeUnknown(e: unknown): boolean {
  if (e instanceof DOMException && e.name === "AbortError") return true;
  return e instanceof ApiError && (e.status === 0 || e.status >= 500 || e.status === 429 || e.code === "IDEMPOTENCY_IN_PROGRESS");
}

/** Joins `eventId`'s waiting room (see the module's documentation). */
export async function joinQueue(eventId: string, opts: JoinOptions = {}, deps: JoinDeps = defaults): Promise<JoinAnswer> {
  const { bitsHint, traceId, signal, onProgress } = opts;
  let pending = unanswered.get(eventId);
  let solves = 0;
  let refused: unknown = null;
  // Rounds: the join as it was (or without work), then up to MAX_SOLVES new challenges.
  for (let round = 0; round <= MAX_SOLVES; round++) {
    if (!pending) {
      const body: JoinBody = { event_id: eventId };
      const key = deps.newKey();
      if (refused !== null || asksForWork.has(eventId) || (bitsHint ?? 0) > 0) {
        if (solves === MAX_SOLVES) break;
        solves++;
        onProgress?.({ phase: "challenge", attempt: solves });
        const ch = await deps.challenge(eventId, signal);
        if (ch.bits > 0) {
          onProgress?.({ phase: "solving", attempt: solves, bits: ch.bits, hashes: 0 });
          const { solution } = await deps.solve(ch.challenge, key, ch.bits, {
            signal,
            onProgress: (hashes) => onProgress?.({ phase: "solving", attempt: solves, bits: ch.bits, hashes }),
          });
          body.challenge = ch.challenge;
          body.solution = solution;
        }
      }
      pending = { key, body };
      unanswered.set(eventId, pending);
    }
    onProgress?.({ phase: "joining", worked: pending.body.solution !== undefined });
    try {
      const answer = await deps.join(pending.body, pending.key, traceId, signal);
      unanswered.delete(eventId);
      return answer;
    } catch (e) {
      if (!outcomeUnknown(e)) unanswered.delete(eventId);
      if (!isChallengeRequired(e)) throw e;
      // Work missing, expired, too easy now: a new challenge, for a new key.
      asksForWork.add(eventId);
      refused = e;
      pending = undefined;
    }
  }
  throw refused;
}

/**
 * How likely a search has found its solution after `hashes` attempts at `bits`: 1 − (1 − 2^−bits)^hashes,
 * the honest progress of a search whose length is a matter of luck (about 2^bits on average).
 */
export function solveProbability(hashes: number, bits: number): number {
  if (bits <= 0) return 1;
  return -Math.expm1(hashes * Math.log1p(-(2 ** -bits)));
}

/** Forgets what joins of this page learned (tests). */
export function resetJoins(): void {
  asksForWork.clear();
  unanswered.clear();
}
