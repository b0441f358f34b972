import { describe, expect, it } from "vitest";
import type { EventInfo, QueueStatus } from "../api/types";
import { queueDone } from "./live";
import {
  NO_LOBBY,
  drawnText,
  formatOpensIn,
  nextLobby,
  shortHex,
  spokenOpensIn,
  syncDeadline,
  tokenSha256,
  upcomingOpening,
  type LobbyPhase,
} from "./lobby";

const status = (over: Partial<QueueStatus> = {}): QueueStatus => ({
  status: "lobby",
  opens_in_sec: 42,
  position: 0,
  eta_sec: 42,
  eta_range_sec: [42, 42],
  likely_sold_out: false,
  waiting_time: 3,
  ready_for_entry: false,
  event_id: "evt_x",
  sold_out: false,
  entered: false,
  paused: false,
  ...over,
});
const waiting = (over: Partial<QueueStatus> = {}) =>
  status({ status: "waiting", opens_in_sec: undefined, position: 7, eta_sec: 30, eta_range_sec: [20, 40], ...over });

describe("the countdown to the opening", () => {
  it("reads m:ss under an hour, h:mm:ss under a day, and days beyond", () => {
    expect(formatOpensIn(83)).toBe("1:23");
    expect(formatOpensIn(59)).toBe("0:59");
    expect(formatOpensIn(0)).toBe("0:00");
    expect(formatOpensIn(-5)).toBe("0:00");
    expect(formatOpensIn(3599)).toBe("59:59");
    expect(formatOpensIn(3600)).toBe("1:00:00");
    expect(formatOpensIn(3723)).toBe("1:02:03");
    expect(formatOpensIn(86_400)).toBe("1 day 0:00:00");
    expect(formatOpensIn(2 * 86_400 + 3 * 3600 + 4 * 60 + 5)).toBe("2 days 3:04:05");
    expect(formatOpensIn(Number.NaN)).toBe("0:00");
  });
  it("is spoken in words, leaving out the units at zero", () => {
    expect(spokenOpensIn(83)).toBe("1 minute 23 seconds");
    expect(spokenOpensIn(1)).toBe("1 second");
    expect(spokenOpensIn(0)).toBe("0 seconds");
    expect(spokenOpensIn(7200)).toBe("2 hours");
    expect(spokenOpensIn(90_061)).toBe("1 day 1 hour 1 minute 1 second");
  });
  it("keeps its deadline while statuses agree within a second, and takes theirs otherwise", () => {
    const first = syncDeadline(null, 42, 1_000_000);
    expect(first).toBe(1_042_000);
    // A second later the server says 41 (or 40 having rounded down late): the same deadline, no jump.
    expect(syncDeadline(first, 41, 1_001_000)).toBe(first);
    expect(syncDeadline(first, 40, 1_001_300)).toBe(first);
    // The opening was moved (or the page slept): the server's.
    expect(syncDeadline(first, 100, 1_001_000)).toBe(1_101_000);
    expect(syncDeadline(first, 30, 1_001_000)).toBe(1_031_000);
    expect(syncDeadline(null, -3, 5)).toBe(5);
  });
});

describe("from the lobby to the draw", () => {
  it("enters the lobby on a lobby status and follows the countdown, the same phase while nothing changes", () => {
    let p: LobbyPhase = nextLobby(NO_LOBBY, status(), 1_000_000);
    expect(p).toEqual({ kind: "lobby", deadline: 1_042_000 });
    const same = nextLobby(p, status({ opens_in_sec: 41 }), 1_001_000);
    expect(same).toBe(p);
    p = nextLobby(p, status({ opens_in_sec: 300 }), 1_002_000);
    expect(p).toEqual({ kind: "lobby", deadline: 1_302_000 });
  });
  it("the first status after the lobby is the draw's result: the position then, kept as the line moves", () => {
    const lobby = nextLobby(NO_LOBBY, status(), 0);
    const drawn = nextLobby(lobby, waiting({ position: 7 }), 42_000);
    expect(drawn).toEqual({ kind: "drawn", place: 7 });
    expect(drawnText(7)).toBe("The draw is done: your place in line is 7.");
    expect(nextLobby(drawn, waiting({ position: 3 }), 50_000)).toBe(drawn);
    expect(nextLobby(drawn, waiting({ status: "ready", ready_for_entry: true, position: 0 }), 60_000)).toBe(drawn);
  });
  it("a turn that came at once is said as such", () => {
    const lobby = nextLobby(NO_LOBBY, status(), 0);
    const drawn = nextLobby(lobby, waiting({ status: "ready", ready_for_entry: true, position: 0 }), 42_000);
    expect(drawn).toEqual({ kind: "drawn", place: null });
    expect(drawnText(null)).toBe("The draw is done: it is your turn.");
  });
  it("a token that joined after the opening has no draw to tell", () => {
    expect(nextLobby(NO_LOBBY, waiting(), 0)).toBe(NO_LOBBY);
    expect(nextLobby(NO_LOBBY, waiting({ status: "ready", ready_for_entry: true }), 0)).toBe(NO_LOBBY);
  });
  it("a sale closed or sold out at the opening ends the lobby without a place", () => {
    const lobby = nextLobby(NO_LOBBY, status(), 0);
    expect(nextLobby(lobby, waiting({ status: "closed", position: 0 }), 1)).toBe(NO_LOBBY);
    expect(nextLobby(lobby, waiting({ sold_out: true }), 1)).toBe(NO_LOBBY);
    expect(nextLobby(lobby, waiting({ status: "expired", position: 0 }), 1)).toBe(NO_LOBBY);
  });
  it("a page reloaded in the lobby (no deadline yet) still tells the draw", () => {
    expect(nextLobby({ kind: "lobby", deadline: null }, waiting({ position: 12 }), 0)).toEqual({ kind: "drawn", place: 12 });
  });
  it("keeps following the queue in the lobby, and stops once final", () => {
    expect(queueDone(status())).toBe(false);
    expect(queueDone(waiting())).toBe(false);
    // A turn is followed until it is taken or lapses (it is not over while it may still be taken).
    expect(queueDone(waiting({ status: "ready", ready_for_entry: true }))).toBe(false);
    expect(queueDone(waiting({ status: "ready", ready_for_entry: false, entered: true }))).toBe(true);
    expect(queueDone(waiting({ status: "expired" }))).toBe(true);
    expect(queueDone(status({ sold_out: true }))).toBe(true);
    expect(queueDone(waiting({ status: "closed" }))).toBe(true);
  });
});

describe("the draw's public record", () => {
  it("shows the first 16 hex digits of a commitment", () => {
    expect(shortHex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")).toBe("9f86d081884c7d65");
  });
  it("finds a person's entry by the lowercase hex SHA-256 of their waiting token", async () => {
    // Checked with node's own SHA-256 (WebCrypto), independent of the library the app uses.
    const hex = async (s: string) =>
      [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)))].map((b) => b.toString(16).padStart(2, "0")).join("");
    for (const token of ["wtkn_01JABCDEF", "", "wtkn_é☃"]) {
      expect(tokenSha256(token)).toBe(await hex(token));
    }
    expect(tokenSha256("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("an event's opening", () => {
  const event = (over: Partial<EventInfo>) => ({ sale: { event_id: "evt_x", state: "open", admission_rate_per_sec: 5, hold_seconds: 60, join_challenge_bits: 0 }, ...over }) as EventInfo;
  const now = Date.parse("2026-12-04T20:00:00Z");
  it("is shown while it is ahead, from the event or its sale", () => {
    expect(upcomingOpening(event({ on_sale_at: "2026-12-04T21:00:00Z" }), now)).toBe("2026-12-04T21:00:00Z");
    const fromSale = event({});
    fromSale.sale.on_sale_at = "2026-12-04T20:00:01Z";
    expect(upcomingOpening(fromSale, now)).toBe("2026-12-04T20:00:01Z");
    // The sale's is the one in force (an operator moved it).
    const moved = event({ on_sale_at: "2026-12-04T21:00:00Z" });
    moved.sale.on_sale_at = "2026-12-04T21:30:00Z";
    expect(upcomingOpening(moved, now)).toBe("2026-12-04T21:30:00Z");
  });
  it("is not once it has passed, when there is none, or when it is not a time", () => {
    expect(upcomingOpening(event({ on_sale_at: "2026-12-04T20:00:00Z" }), now)).toBeNull();
    expect(upcomingOpening(event({}), now)).toBeNull();
    expect(upcomingOpening(event({ on_sale_at: null }), now)).toBeNull();
    expect(upcomingOpening(event({ on_sale_at: "soon" }), now)).toBeNull();
  });
});
