import { beforeEach, describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import type { JoinBody, JoinChallenge } from "../api/types";
import { joinQueue, MAX_SOLVES, resetJoins, type JoinDeps, type JoinProgress } from "./join";
import { checkSolution, solve } from "./pow";

// The join flow against a stand-in server: what it is asked, with which key and body.
interface Joined {
  body: JoinBody;
  key: string;
}

const WAITING = { waiting_token: "wt_1", position_hint: 1, status: "waiting" };
const required = () => new ApiError(428, "CHALLENGE_REQUIRED", "this event asks joins for proof of work");

function server(opts: { bits?: number; answers?: (unknown | "ok")[] } = {}) {
  const challenges: string[] = [];
  const joins: Joined[] = [];
  const solved: { challenge: string; key: string; bits: number }[] = [];
  const answers = [...(opts.answers ?? [])];
  let keys = 0;
  const deps: JoinDeps = {
    challenge: async (eventId): Promise<JoinChallenge> => {
      const challenge = `c1.${opts.bits ?? 8}.1767225600000.${String(challenges.length).padStart(16, "0")}.tag-of-${eventId}`;
      challenges.push(challenge);
      return { challenge, bits: opts.bits ?? 8, expires_at: "2030-01-01T00:10:00Z", algorithm: "sha256" };
    },
    join: async (body, key) => {
      joins.push({ body: { ...body }, key });
      const next = answers.shift() ?? "ok";
      if (next !== "ok") throw next;
      return WAITING;
    },
    // The real solver, synchronously (the worker runs the same function).
    solve: async (challenge, key, bits, { onProgress }) => {
      solved.push({ challenge, key, bits });
      const s = solve(challenge, key, bits)!;
      onProgress?.(s.hashes);
      return s;
    },
    newKey: () => `00000000-0000-4000-8000-${String(++keys).padStart(12, "0")}`,
  };
  return { deps, challenges, joins, solved };
}

beforeEach(() => resetJoins());

describe("joining the waiting room", () => {
  it("at 0 bits: one join, no challenge asked for, no work", async () => {
    const s = server();
    expect(await joinQueue("evt_a", { bitsHint: 0 }, s.deps)).toEqual(WAITING);
    expect(s.challenges).toEqual([]);
    expect(s.solved).toEqual([]);
    expect(s.joins).toEqual([{ body: { event_id: "evt_a" }, key: "00000000-0000-4000-8000-000000000001" }]);
  });

  it("when the event asks for work: a challenge, solved for the join's key, then the join with both", async () => {
    const s = server({ bits: 10 });
    const seen: JoinProgress[] = [];
    await joinQueue("evt_a", { bitsHint: 10, onProgress: (p) => seen.push(p) }, s.deps);
    expect(s.challenges).toHaveLength(1);
    expect(s.joins).toHaveLength(1);
    const [{ body, key }] = s.joins;
    expect(body.event_id).toBe("evt_a");
    expect(body.challenge).toBe(s.challenges[0]);
    // The work covers this join's Idempotency-Key.
    expect(s.solved).toEqual([{ challenge: s.challenges[0], key, bits: 10 }]);
    expect(checkSolution(body.challenge!, key, body.solution!, 10)).toBe(true);
    expect(seen.map((p) => p.phase)).toEqual(["challenge", "solving", "solving", "joining"]);
    expect(seen.at(-1)).toEqual({ phase: "joining", worked: true });
  });

  it("a challenge of 0 bits (the operator turned it off meanwhile) needs no work", async () => {
    const s = server({ bits: 0 });
    await joinQueue("evt_a", { bitsHint: 18 }, s.deps);
    expect(s.challenges).toHaveLength(1);
    expect(s.solved).toEqual([]);
    expect(s.joins[0].body).toEqual({ event_id: "evt_a" });
  });

  it("a 428 (work turned on or raised meanwhile, challenge expired): a new challenge, solved for a new key", async () => {
    const s = server({ bits: 6, answers: [required(), "ok"] });
    const seen: JoinProgress[] = [];
    await joinQueue("evt_a", { bitsHint: 0, onProgress: (p) => seen.push(p) }, s.deps);
    expect(s.joins).toHaveLength(2);
    expect(s.joins[0].body).toEqual({ event_id: "evt_a" });
    expect(s.joins[1].key).not.toBe(s.joins[0].key);
    expect(s.solved[0].key).toBe(s.joins[1].key);
    expect(checkSolution(s.joins[1].body.challenge!, s.joins[1].key, s.joins[1].body.solution!, 6)).toBe(true);
    expect(seen[0]).toEqual({ phase: "joining", worked: false });
    expect(seen[1]).toEqual({ phase: "challenge", attempt: 1 });
    // The next join of the event solves first.
    await joinQueue("evt_a", { bitsHint: 0 }, s.deps);
    expect(s.joins).toHaveLength(3);
    expect(s.joins[2].body.solution).toBeDefined();
  });

  it(`gives up after ${MAX_SOLVES} new challenges refused, with the server's 428`, async () => {
    const s = server({ bits: 4, answers: Array.from({ length: 10 }, required) });
    const e = await joinQueue("evt_a", { bitsHint: 4 }, s.deps).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 428, code: "CHALLENGE_REQUIRED" });
    expect(s.challenges).toHaveLength(MAX_SOLVES);
    expect(s.joins).toHaveLength(MAX_SOLVES);
    expect(new Set(s.joins.map((j) => j.key)).size).toBe(MAX_SOLVES);
  });

  it("a join whose answer never came is retried with the same key and body, without new work", async () => {
    const s = server({ bits: 6, answers: [new ApiError(0, "NETWORK_ERROR", "no network"), new ApiError(503, "UNAVAILABLE", "busy"), "ok"] });
    await expect(joinQueue("evt_a", { bitsHint: 6 }, s.deps)).rejects.toMatchObject({ code: "NETWORK_ERROR" });
    await expect(joinQueue("evt_a", { bitsHint: 6 }, s.deps)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await joinQueue("evt_a", { bitsHint: 6 }, s.deps);
    expect(s.challenges).toHaveLength(1);
    expect(s.joins).toHaveLength(3);
    expect(s.joins[1]).toEqual(s.joins[0]);
    expect(s.joins[2]).toEqual(s.joins[0]);
    // Once answered, the next join is a new one: new key, new work.
    await joinQueue("evt_a", { bitsHint: 6 }, s.deps);
    expect(s.joins[3].key).not.toBe(s.joins[0].key);
    expect(s.challenges).toHaveLength(2);
  });

  it("a refusal that is final (sale closed) is not retried, and the next join starts afresh", async () => {
    const s = server({ answers: [new ApiError(409, "SALE_CLOSED", "closed"), "ok"] });
    await expect(joinQueue("evt_a", { bitsHint: 0 }, s.deps)).rejects.toMatchObject({ code: "SALE_CLOSED" });
    await joinQueue("evt_a", { bitsHint: 0 }, s.deps);
    expect(s.joins[1].key).not.toBe(s.joins[0].key);
  });

  it("cancelled while solving: nothing is sent", async () => {
    const s = server({ bits: 8 });
    const ctl = new AbortController();
    s.deps.solve = (_c, _k, _b, { signal }) =>
      new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new DOMException("cancelled", "AbortError"))));
    const joining = joinQueue("evt_a", { bitsHint: 8, signal: ctl.signal }, s.deps);
    await new Promise((r) => setTimeout(r, 0));
    ctl.abort();
    await expect(joining).rejects.toMatchObject({ name: "AbortError" });
    expect(s.joins).toEqual([]);
  });
});
