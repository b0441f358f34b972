/** Display helpers: pure, unit-tested. */

import type { Section } from "../api/types";
import { priceRange } from "./seats";

/** Seconds left until `deadline` (ms since epoch) at `now`, never negative, rounded up. */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** `m:ss` for a countdown (`0:59`, `1:00`, `0:00`). */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A spoken form for screen readers (`59 seconds`, `1 minute 5 seconds`). */
export function spokenDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  const r = s % 60;
  const parts: string[] = [];
  if (m > 0) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (r > 0 || m === 0) parts.push(`${r} second${r === 1 ? "" : "s"}`);
  return parts.join(" ");
}

/**
 * Money in the currency's minor unit as its display form: cents for USD (4500 → $45.00), whole
 * units for currencies without a minor unit (55000 KRW → ₩55,000), as the API counts them.
 */
export function formatMoney(minor: number, currency: string): string {
  try {
    const format = moneyFormat(currency);
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

// One formatter per currency: making one takes longer than many renders of a page.
const formats = new Map<string, Intl.NumberFormat>();
function moneyFormat(currency: string): Intl.NumberFormat {
  let f = formats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { style: "currency", currency });
    formats.set(currency, f);
  }
  return f;
}

/**
 * An event's price: `$45.00`, or the range of its sections' prices when they differ
 * (`₩99,000–₩220,000`).
 */
export function formatPrice(event: { price: number; currency: string; sections?: Section[] }): string {
  const { min, max } = priceRange(event.sections ?? [], event.price);
  return min === max ? formatMoney(min, event.currency) : `${formatMoney(min, event.currency)}–${formatMoney(max, event.currency)}`;
}

/** ETA wording for the waiting room. */
export function formatEta(seconds: number): string {
  if (seconds <= 0) return "any moment now";
  if (seconds < 60) return `about ${seconds} second${seconds === 1 ? "" : "s"}`;
  const m = Math.round(seconds / 60);
  return `about ${m} minute${m === 1 ? "" : "s"}`;
}

/** A wait range in words, shown (`about 2–4 minutes`) and spoken (`about 2 to 4 minutes`). */
export interface EtaRangeText {
  text: string;
  spoken: string;
}

/**
 * A wait range for the waiting room, in the unit its upper end calls for: seconds under a minute
 * (to 10 s), minutes under an hour and a half (to the minute up to 15 minutes, then to 5), hours
 * beyond. Each end is rounded to the nearest step, so that a range moving by a few seconds reads
 * the same; equal ends collapse (`about 2 minutes`), a lower end that rounds to nothing reads as
 * `up to …`, and a range ending at 0 is `any moment now`.
 */
export function formatEtaRange(low: number, high: number): EtaRangeText {
  const hi = Math.max(0, Number.isFinite(high) ? high : 0);
  const lo = Math.min(hi, Math.max(0, Number.isFinite(low) ? low : 0));
  if (hi <= 0) return { text: "any moment now", spoken: "any moment now" };
  const [unit, size, step]: [string, number, number] =
    hi < 55 ? ["second", 1, 10] : hi < 90 * 60 ? ["minute", 60, hi / 60 <= 15 ? 1 : 5] : ["hour", 3600, 1];
  const round = (v: number) => Math.round(v / size / step) * step;
  const top = Math.max(step, round(hi));
  const bottom = Math.min(top, round(lo));
  const unitFor = (n: number) => `${unit}${n === 1 ? "" : "s"}`;
  if (bottom === 0) {
    const t = `up to ${top} ${unitFor(top)}`;
    return { text: t, spoken: t };
  }
  if (bottom === top) {
    const t = `about ${top} ${unitFor(top)}`;
    return { text: t, spoken: t };
  }
  return { text: `about ${bottom}–${top} ${unitFor(top)}`, spoken: `about ${bottom} to ${top} ${unitFor(top)}` };
}

export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-US", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
}

/** A moment to the second, in UTC (`2026-05-01 18:04:09 UTC`): when an operator did something. */
export function formatTimestamp(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/**
 * A moment in the reader's own time zone, named (`Dec 4, 2026, 10:00 PM GMT+1`): when a sale
 * opens. `timeZone` only for tests; the browser's own otherwise.
 */
export function formatLocalTime(iso: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-US", {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
    timeZone,
  });
}
