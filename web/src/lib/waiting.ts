/**
 * What the waiting room says about the wait, from a queue status: pure, unit-tested.
 *
 * One of three messages while `status` is `waiting`:
 * - `likely_sold_out`: the stock is likely to run out before this place is reached. No time is
 *   shown as a wait (`eta_sec` is then when that would be known, not a promise of a place).
 * - `paused`: admission is paused, so no range is shown as if the line were moving.
 * - `range`: the range the wait is expected to fall in, with the point estimate beside it.
 */

import type { QueueStatus } from "../api/types";
import { formatEta, formatEtaRange } from "./format";
import { LOBBY_SPOKEN, drawnText } from "./lobby";

export type WaitMessage =
  | {
      kind: "likely_sold_out";
      /** When it should be clear whether places come back (`about 3 minutes`); null while paused. */
      knownIn: string | null;
    }
  | { kind: "paused" }
  | {
      kind: "range";
      /** Shown: `about 2–4 minutes`. */
      text: string;
      /** Read out: `about 2 to 4 minutes`. */
      spoken: string;
      /** The point estimate (`about 3 minutes`); null when it says no more than `text`. */
      point: string | null;
    };

export const LIKELY_SOLD_OUT_TITLE = "Tickets will likely run out before your turn.";
export const LIKELY_SOLD_OUT_TEXT = "You keep your place in case some come back: you can stay in line or leave.";
export const PAUSED_WAIT = "unknown until admission resumes";

/**
 * The message for a waiting status (null for any other). A status without a range (a server
 * from before ranges) is told its point estimate as a range of one.
 */
export function waitMessage(s: QueueStatus): WaitMessage | null {
  if (s.status !== "waiting" || s.sold_out) return null;
  if (s.likely_sold_out) return { kind: "likely_sold_out", knownIn: s.paused ? null : formatEta(s.eta_sec) };
  if (s.paused) return { kind: "paused" };
  const [low, high] = Array.isArray(s.eta_range_sec) && s.eta_range_sec.length === 2 ? s.eta_range_sec : [s.eta_sec, s.eta_sec];
  const { text, spoken } = formatEtaRange(low, high);
  const point = formatEta(s.eta_sec);
  return { kind: "range", text, spoken, point: point === text ? null : point };
}

/** The wait as a screen reader is told it: the same words for a status that changed nothing that matters. */
export function spokenWait(m: WaitMessage): string {
  switch (m.kind) {
    case "likely_sold_out":
      return `${LIKELY_SOLD_OUT_TITLE} ${LIKELY_SOLD_OUT_TEXT}`;
    case "paused":
      return `Estimated wait ${PAUSED_WAIT}.`;
    case "range":
      return `Estimated wait ${m.spoken}.`;
  }
}

/**
 * What the page's polite live region says. It changes only when the spoken wait does (the
 * rounded range, likely to miss out, paused): the position is said with it, as it was then, and
 * not on each status. Not waiting any more: nothing (the other states announce themselves).
 * In the lobby it says so once (never the seconds of the countdown); the first wait after the
 * lobby begins with the draw's result.
 */
export interface Announcement {
  /** The spoken wait it was made for. */
  key: string;
  text: string;
}

const LOBBY_KEY = "lobby";

export function nextAnnouncement(prev: Announcement | null, s: QueueStatus): Announcement | null {
  if (s.status === "lobby" && !s.sold_out) return prev?.key === LOBBY_KEY ? prev : { key: LOBBY_KEY, text: LOBBY_SPOKEN };
  const m = waitMessage(s);
  if (!m) return null;
  const key = spokenWait(m);
  if (prev?.key === key) return prev;
  if (prev?.key === LOBBY_KEY) return { key, text: `${drawnText(s.position)} ${key}` };
  return { key, text: `You are number ${s.position} in line. ${key}` };
}
