/** The operator page's wording of a sale and its audit log, and the check of its settings form: pure, unit-tested. */

import type { AuditAction, Sale, SaleSettings, SaleState } from "../api/types";
import { formatTimestamp } from "./format";

/** The limits `PATCH /admin/events/{id}` enforces (docs/openapi.yaml, `SaleSettings`). */
export const RATE_MAX = 100_000;
export const HOLD_MIN = 10;
export const HOLD_MAX = 3600;
/** Proof of work at join: leading zero bits, 0 (off) to 28. */
export const BITS_MAX = 28;
/**
 * Hashes per second of the app's search on a phone: measured in Chromium with the CPU slowed 4×
 * (136,000–181,000 over runs of tests/browser/pow.test.mjs: docs/web-app.md, "Proof of work at
 * join"); the operator's hint of what a difficulty costs.
 */
export const PHONE_HASHES_PER_SEC = 160_000;
/** The difficulty that takes a phone about a second on average at that rate. */
export const BITS_ABOUT_A_SECOND = 17;

const STATES: Record<SaleState, string> = { open: "Open", paused: "Paused", closed: "Closed" };

/** `Open`, `Paused`, `Closed`; an unknown state as the server wrote it. */
export function saleStateLabel(state: SaleState | string): string {
  return STATES[state as SaleState] ?? state;
}

/** What each state means for buyers, in a sentence. */
export function saleStateMeaning(state: SaleState | string): string {
  switch (state) {
    case "open":
      return "People are being admitted from the waiting room.";
    case "paused":
      return "Nobody more is admitted; everyone waiting keeps their place.";
    case "closed":
      return "Closed for good: nobody can join, enter or place a new hold.";
    default:
      return "";
  }
}

const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

/** `20 people per second`, `1 person per second`, `0.5 people per second`. */
export function formatRate(rate: number): string {
  return `${number.format(rate)} ${rate === 1 ? "person" : "people"} per second`;
}

/** The short form of a rate, for the audit log: `20/s`. */
export function formatRateShort(rate: number): string {
  return `${number.format(rate)}/s`;
}

/** `60 s`. */
export function formatHold(seconds: number): string {
  return `${number.format(seconds)} s`;
}

const ACTIONS: Record<AuditAction, string> = {
  pause: "Paused",
  resume: "Resumed",
  close: "Closed",
  update: "Changed settings",
};

/** An audit entry's action as a person reads it (`Paused`, `Changed settings`). */
export function actionLabel(action: AuditAction | string): string {
  return ACTIONS[action as AuditAction] ?? action;
}

/**
 * What an action changed, part by part (`state: open → paused`, `rate: 500/s → 20/s`,
 * `hold: 60 s → 90 s`); `no change` when nothing differs.
 */
export function describeChange(before: Sale, after: Sale): string[] {
  const parts: string[] = [];
  if (before.state !== after.state) parts.push(`state: ${before.state} → ${after.state}`);
  if (before.admission_rate_per_sec !== after.admission_rate_per_sec) {
    parts.push(`rate: ${formatRateShort(before.admission_rate_per_sec)} → ${formatRateShort(after.admission_rate_per_sec)}`);
  }
  if (before.hold_seconds !== after.hold_seconds) parts.push(`hold: ${formatHold(before.hold_seconds)} → ${formatHold(after.hold_seconds)}`);
  // An entry written before the setting existed has none: off.
  const bitsBefore = before.join_challenge_bits ?? 0;
  const bitsAfter = after.join_challenge_bits ?? 0;
  if (bitsBefore !== bitsAfter) parts.push(`proof of work: ${formatBits(bitsBefore)} → ${formatBits(bitsAfter)}`);
  const openingBefore = before.on_sale_at ?? null;
  const openingAfter = after.on_sale_at ?? null;
  if (openingBefore !== openingAfter && !sameMoment(openingBefore, openingAfter)) {
    parts.push(`opening: ${formatOpening(openingBefore)} → ${formatOpening(openingAfter)}`);
  }
  // Settings this app does not know yet are still shown as the server names them.
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (KNOWN.has(key) || JSON.stringify(b[key]) === JSON.stringify(a[key])) continue;
    parts.push(`${key}: ${shown(b[key])} → ${shown(a[key])}`);
  }
  return parts.length > 0 ? parts : ["no change"];
}

const KNOWN = new Set(["event_id", "state", "admission_rate_per_sec", "hold_seconds", "join_challenge_bits", "on_sale_at", "changed_at"]);

const sameMoment = (a: string | null, b: string | null) => a !== null && b !== null && Date.parse(a) === Date.parse(b);

/** An opening time as operators read it: `2026-12-04 21:00:00 UTC`, or `none`. */
export function formatOpening(iso: string | null | undefined): string {
  return iso ? formatTimestamp(iso) : "none";
}
const shown = (v: unknown) => (v === undefined ? "none" : typeof v === "string" ? v : JSON.stringify(v));

/** A join's proof of work: `off`, `18 bits`. */
export function formatBits(bits: number): string {
  return bits === 0 ? "off" : `${bits} bit${bits === 1 ? "" : "s"}`;
}

const seconds = (s: number) =>
  s < 0.1 ? "under 0.1 s" : s < 10 ? `about ${s.toFixed(1)} s` : s < 120 ? `about ${Math.round(s)} s` : `about ${Math.round(s / 60)} minutes`;

/**
 * What a difficulty costs each join, for the operator: about 2^bits hashes, and the time that
 * takes a phone (`PHONE_HASHES_PER_SEC`). A difficulty outside 0–28 gets no estimate.
 */
export function describeBits(bits: number): string {
  if (!Number.isInteger(bits) || bits < 0 || bits > BITS_MAX) return `A whole number from 0 (off) to ${BITS_MAX}.`;
  if (bits === 0) return "Off: joining needs no work.";
  const hashes = 2 ** bits;
  return (
    `About ${number.format(hashes)} hashes per join: ${seconds(hashes / PHONE_HASHES_PER_SEC)} on a phone on average ` +
    `(by luck, 1 join in 20 takes over three times that). ${BITS_ABOUT_A_SECOND} is about a second.`
  );
}

/** The settings form's verdict: the body to send, or what is wrong with it (and in which field). */
export type SettingsCheck =
  | { ok: true; settings: SaleSettings }
  | { ok: false; field?: "rate" | "hold" | "bits"; message: string };

/**
 * The `PATCH` body for the form's `rate`, `hold` and `bits` (as typed) against the sale as shown:
 * only the values that differ from it (so that another operator's change of another one is not
 * undone), each checked against the server's limits first.
 */
export function checkSettings(sale: Sale, rateText: string, holdText: string, bitsText: string): SettingsCheck {
  const rateIn = rateText.trim();
  const holdIn = holdText.trim();
  const rate = Number(rateIn);
  if (rateIn === "" || !Number.isFinite(rate) || rate <= 0 || rate > RATE_MAX) {
    return { ok: false, field: "rate", message: `The admission rate must be a number above 0 and at most ${number.format(RATE_MAX)}.` };
  }
  const hold = Number(holdIn);
  if (holdIn === "" || !Number.isInteger(hold) || hold < HOLD_MIN || hold > HOLD_MAX) {
    return { ok: false, field: "hold", message: `The hold time must be a whole number of seconds from ${HOLD_MIN} to ${number.format(HOLD_MAX)}.` };
  }
  const bitsIn = bitsText.trim();
  const bits = Number(bitsIn);
  if (bitsIn === "" || !Number.isInteger(bits) || bits < 0 || bits > BITS_MAX) {
    return { ok: false, field: "bits", message: `The proof of work must be a whole number of bits from 0 (off) to ${BITS_MAX}.` };
  }
  const settings: SaleSettings = {};
  if (rate !== sale.admission_rate_per_sec) settings.admission_rate_per_sec = rate;
  if (hold !== sale.hold_seconds) settings.hold_seconds = hold;
  if (bits !== (sale.join_challenge_bits ?? 0)) settings.join_challenge_bits = bits;
  if (Object.keys(settings).length === 0) {
    return { ok: false, message: "Nothing to change: the sale already has these settings." };
  }
  return { ok: true, settings };
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * An RFC 3339 time as a `datetime-local` input's value in this browser's time zone, to the second
 * (`2026-12-04T22:00:00` in Paris for `2026-12-04T21:00:00Z`); "" for none.
 */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The opening time form's verdict: the UTC RFC 3339 time to send, or what is wrong with it. */
export type OpeningCheck = { ok: true; on_sale_at: string } | { ok: false; message: string };

/**
 * A `datetime-local` value (this browser's time zone; seconds optional) as the UTC RFC 3339 time
 * `PATCH /admin/events/{id}` takes (`2026-12-04T21:00:00Z`). Whether it is still ahead, and the
 * sale's opening too, is the server's to judge (409 otherwise): the page's clock may be off.
 */
export function checkOpening(text: string, sale: Sale): OpeningCheck {
  const value = text.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value);
  if (!m) return { ok: false, message: "Enter the date and time the sale opens." };
  const [y, mo, d, h, mi, sec] = m.slice(1).map((v) => Number(v ?? 0));
  const local = new Date(y, mo - 1, d, h, mi, sec);
  if (Number.isNaN(local.getTime()) || local.getMonth() !== mo - 1 || local.getDate() !== d) {
    return { ok: false, message: "Enter the date and time the sale opens." };
  }
  const on_sale_at = `${local.toISOString().slice(0, 19)}Z`;
  if (sale.on_sale_at && sameMoment(sale.on_sale_at, on_sale_at)) {
    return { ok: false, message: "Nothing to change: the sale already opens at that time." };
  }
  return { ok: true, on_sale_at };
}
