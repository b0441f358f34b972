import { describe, expect, it } from "vitest";
import type { QueueStatus } from "../api/types";
import { nextAnnouncement, spokenWait, waitMessage, type Announcement } from "./waiting";

const waiting = (over: Partial<QueueStatus> = {}): QueueStatus => ({
  status: "waiting",
  position: 42,
  eta_sec: 170,
  eta_range_sec: [102, 240],
  likely_sold_out: false,
  waiting_time: 3,
  ready_for_entry: false,
  event_id: "evt_x",
  sold_out: false,
  entered: false,
  paused: false,
  ...over,
});

describe("the waiting page's message", () => {
  it("is the range with the point estimate while the line moves", () => {
    expect(waitMessage(waiting())).toEqual({
      kind: "range",
      text: "about 2–4 minutes",
      spoken: "about 2 to 4 minutes",
      point: "about 3 minutes",
    });
  });
  it("leaves out a point estimate that says no more than the range", () => {
    expect(waitMessage(waiting({ eta_sec: 0, eta_range_sec: [0, 0] }))).toMatchObject({ text: "any moment now", point: null });
    expect(waitMessage(waiting({ eta_sec: 120, eta_range_sec: [110, 130] }))).toMatchObject({ text: "about 2 minutes", point: null });
  });
  it("tells a place beyond the stock that tickets will likely run out, never a wait", () => {
    const m = waitMessage(waiting({ likely_sold_out: true, eta_sec: 95, eta_range_sec: [23, 182] }));
    expect(m).toEqual({ kind: "likely_sold_out", knownIn: "about 2 minutes" });
    expect(spokenWait(m!)).toBe(
      "Tickets will likely run out before your turn. You keep your place in case some come back: you can stay in line or leave.",
    );
  });
  it("shows no range while paused", () => {
    expect(waitMessage(waiting({ paused: true }))).toEqual({ kind: "paused" });
    expect(spokenWait({ kind: "paused" })).toBe("Estimated wait unknown until admission resumes.");
  });
  it("still says tickets will likely run out while paused, without when it will be known", () => {
    expect(waitMessage(waiting({ paused: true, likely_sold_out: true }))).toEqual({ kind: "likely_sold_out", knownIn: null });
  });
  it("says nothing of a wait once not waiting (ready, expired, closed, sold out)", () => {
    expect(waitMessage(waiting({ status: "ready", ready_for_entry: true, position: 0, eta_sec: 0, eta_range_sec: [0, 0] }))).toBeNull();
    expect(waitMessage(waiting({ status: "expired" }))).toBeNull();
    expect(waitMessage(waiting({ status: "closed", position: 0 }))).toBeNull();
    expect(waitMessage(waiting({ sold_out: true }))).toBeNull();
  });
  it("makes a range of the point estimate when a server sends none", () => {
    const old = waiting({ eta_sec: 9 }) as Partial<QueueStatus>;
    delete old.eta_range_sec;
    delete old.likely_sold_out;
    delete old.paused;
    expect(waitMessage(old as QueueStatus)).toMatchObject({ kind: "range", text: "about 10 seconds", point: "about 9 seconds" });
  });
});

describe("what screen readers are told", () => {
  it("says the position and the wait on the first status", () => {
    expect(nextAnnouncement(null, waiting())?.text).toBe("You are number 42 in line. Estimated wait about 2 to 4 minutes.");
  });
  it("says nothing new while the rounded range stays the same, however the position and seconds move", () => {
    const first = nextAnnouncement(null, waiting());
    let a: Announcement | null = first;
    for (const [position, eta, lo, hi] of [[41, 168, 100, 236], [39, 160, 98, 250], [35, 150, 95, 230]]) {
      a = nextAnnouncement(a, waiting({ position, eta_sec: eta, eta_range_sec: [lo, hi] }));
    }
    expect(a).toBe(first);
  });
  it("speaks again when the range's words change, with the position then", () => {
    const first = nextAnnouncement(null, waiting());
    const next = nextAnnouncement(first, waiting({ position: 20, eta_sec: 80, eta_range_sec: [40, 150] }));
    expect(next).not.toBe(first);
    expect(next?.text).toBe("You are number 20 in line. Estimated wait about 1 to 3 minutes.");
  });
  it("speaks when the stock will likely run out, and when admission pauses or resumes", () => {
    let a = nextAnnouncement(null, waiting());
    a = nextAnnouncement(a, waiting({ likely_sold_out: true }));
    expect(a?.text).toMatch(/^You are number 42 in line\. Tickets will likely run out before your turn\./);
    const likely = a;
    expect(nextAnnouncement(a, waiting({ likely_sold_out: true, position: 40, eta_sec: 300 }))).toBe(likely);
    a = nextAnnouncement(a, waiting({ paused: true }));
    expect(a?.text).toBe("You are number 42 in line. Estimated wait unknown until admission resumes.");
    expect(nextAnnouncement(a, waiting({ paused: true, position: 41, eta_range_sec: [10, 900] }))).toBe(a);
    a = nextAnnouncement(a, waiting());
    expect(a?.text).toBe("You are number 42 in line. Estimated wait about 2 to 4 minutes.");
  });
  it("falls silent once the wait is over (the turn, expiry and closing announce themselves)", () => {
    const a = nextAnnouncement(null, waiting());
    expect(nextAnnouncement(a, waiting({ status: "ready", ready_for_entry: true }))).toBeNull();
    expect(nextAnnouncement(a, waiting({ status: "closed" }))).toBeNull();
  });
});

describe("what screen readers are told in the lobby", () => {
  const lobby = (opens_in_sec: number) =>
    waiting({ status: "lobby", opens_in_sec, position: 0, eta_sec: opens_in_sec, eta_range_sec: [opens_in_sec, opens_in_sec] });
  it("says once that the person is in the lobby, never the seconds of the countdown", () => {
    const first = nextAnnouncement(null, lobby(42));
    expect(first?.text).toBe(
      "You are in the lobby: the sale has not opened yet. Everyone here before the opening gets a random place in line when it opens.",
    );
    let a = first;
    for (let s = 41; s >= 0; s--) a = nextAnnouncement(a, lobby(s));
    expect(a).toBe(first);
    // No wait is told in the lobby.
    expect(waitMessage(lobby(42))).toBeNull();
  });
  it("begins the first wait after the opening with the draw's result, then speaks as usual", () => {
    const inLobby = nextAnnouncement(null, lobby(1));
    const drawn = nextAnnouncement(inLobby, waiting({ position: 17 }));
    expect(drawn?.text).toBe("The draw is done: your place in line is 17. Estimated wait about 2 to 4 minutes.");
    expect(nextAnnouncement(drawn, waiting({ position: 16 }))).toBe(drawn);
    expect(nextAnnouncement(drawn, waiting({ position: 5, eta_sec: 30, eta_range_sec: [20, 40] }))?.text).toBe(
      "You are number 5 in line. Estimated wait about 20 to 40 seconds.",
    );
  });
  it("a turn at the opening is left to the turn's own announcement", () => {
    const inLobby = nextAnnouncement(null, lobby(1));
    expect(nextAnnouncement(inLobby, waiting({ status: "ready", ready_for_entry: true, position: 0 }))).toBeNull();
  });
});
