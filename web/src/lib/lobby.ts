/**
 * The lobby before a sale's opening and the draw at it (docs/web-app.md, "The lobby and the
 * draw"): pure, unit-tested.
 *
 * Before the opening a status says `lobby` with `opens_in_sec`: the page counts down locally,
 * second by second, from a deadline set by the first status and moved by a later one only when
 * the two disagree by a second or more (a status rounds to whole seconds: re-synced by every one,
 * the count would jump back and forth). At the opening everyone in the lobby gets a random place;
 * the first status that is no longer `lobby`, for a token that was in it, is the draw's result.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { EventInfo, QueueStatus } from "../api/types";

export const LOBBY_TEXT =
  "Everyone who is here before the opening gets a random place in line when it opens — refreshing or arriving at the last second gains nothing; keep this page open.";

/** What screen readers are told once on arriving in the lobby (not the seconds: the countdown is not a live region). */
export const LOBBY_SPOKEN =
  "You are in the lobby: the sale has not opened yet. Everyone here before the opening gets a random place in line when it opens.";

/** Where a token stands with respect to the opening, as the page has seen it. */
export type LobbyPhase =
  | { kind: "none" }
  /** Before the opening; `deadline` (ms since the epoch, local clock) once a status has said when. */
  | { kind: "lobby"; deadline: number | null }
  /** The draw is done; `place` is the position of the first status after it (null: it was already this token's turn). */
  | { kind: "drawn"; place: number | null };

export const NO_LOBBY: LobbyPhase = { kind: "none" };

/**
 * The local deadline for a status's `opensInSec` received at `now`: the one already counted down
 * to while they agree within a second, else the status's.
 */
export function syncDeadline(current: number | null, opensInSec: number, now: number): number {
  const fresh = now + Math.max(0, Number.isFinite(opensInSec) ? opensInSec : 0) * 1000;
  return current !== null && Math.abs(fresh - current) < 1000 ? current : fresh;
}

/** The phase after status `s` (received at `now`); the same object when nothing changed. */
export function nextLobby(prev: LobbyPhase, s: QueueStatus, now: number): LobbyPhase {
  if (s.status === "lobby") {
    const current = prev.kind === "lobby" ? prev.deadline : null;
    const deadline = syncDeadline(current, s.opens_in_sec ?? 0, now);
    return prev.kind === "lobby" && prev.deadline === deadline ? prev : { kind: "lobby", deadline };
  }
  if (prev.kind !== "lobby") return prev;
  if (s.sold_out) return NO_LOBBY;
  if (s.status === "waiting") return { kind: "drawn", place: s.position };
  if (s.status === "ready" || s.ready_for_entry) return { kind: "drawn", place: null };
  // Closed or expired at the opening: those states say so themselves.
  return NO_LOBBY;
}

/** The draw's result as the page says it. */
export function drawnText(place: number | null): string {
  return place === null ? "The draw is done: it is your turn." : `The draw is done: your place in line is ${place}.`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Time to the opening: `1:23`, `1:02:03` from an hour, `2 days 3:04:05` from a day. */
export function formatOpensIn(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const days = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (days > 0) return `${days} day${days === 1 ? "" : "s"} ${h}:${pad(m)}:${pad(sec)}`;
  if (h > 0) return `${h}:${pad(m)}:${pad(sec)}`;
  return `${m}:${pad(sec)}`;
}

/** The same, spoken: `1 minute 23 seconds`, `2 days 3 hours`, `0 seconds`. */
export function spokenOpensIn(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const units: [number, string][] = [
    [Math.floor(s / 86_400), "day"],
    [Math.floor((s % 86_400) / 3600), "hour"],
    [Math.floor((s % 3600) / 60), "minute"],
    [s % 60, "second"],
  ];
  const parts = units.filter(([n]) => n > 0).map(([n, unit]) => `${n} ${unit}${n === 1 ? "" : "s"}`);
  return parts.length > 0 ? parts.join(" ") : "0 seconds";
}

/** The part of a commitment or seed shown at a glance: its first 16 hex digits. */
export function shortHex(hex: string): string {
  return hex.slice(0, 16);
}

/** Lowercase hex SHA-256 of a waiting token: its `token_sha256` in the draw's entries. */
export function tokenSha256(token: string): string {
  return bytesToHex(sha256(utf8ToBytes(token)));
}

/**
 * The event's opening time (RFC 3339) if it is still ahead at `now`, else null: its sale's (the
 * one in force, as an operator last moved it), else the event's.
 */
export function upcomingOpening(event: Pick<EventInfo, "on_sale_at" | "sale">, now: number): string | null {
  const at = event.sale?.on_sale_at ?? event.on_sale_at ?? null;
  if (!at) return null;
  const t = Date.parse(at);
  return Number.isFinite(t) && t > now ? at : null;
}
