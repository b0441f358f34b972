/**
 * What the page being opened will ask the API for, asked while the app boots (main.tsx) instead
 * of after React has drawn the page and run its effects: an event's page and its seat map need
 * the event and its availability, and a slow phone spends a few hundred milliseconds booting.
 * Each answer is taken once, by the first to ask for it; a reload or a retry asks again.
 */

import { api, availabilityText } from "../api/client";
import type { EventInfo } from "../api/types";

/** Older than this, an answer nobody took is asked for again (the page was left meanwhile). */
const FRESH_MS = 10_000;
const pending = new Map<string, { p: Promise<unknown>; at: number }>();

function keep(key: string, p: Promise<unknown>) {
  p.catch(() => {}); // whoever takes it handles its failure; nobody may
  pending.set(key, { p, at: Date.now() });
}

function take<T>(key: string): Promise<T> | undefined {
  const kept = pending.get(key);
  pending.delete(key);
  return kept && Date.now() - kept.at < FRESH_MS ? (kept.p as Promise<T>) : undefined;
}

/** Starts the requests of the page at `pathname`: `/events/{id}` and `/events/{id}/reserve`. */
export function prefetch(pathname: string): void {
  const m = /^\/events\/([^/]+)(?:\/reserve)?\/?$/.exec(pathname);
  let id: string;
  try {
    if (!m) return;
    id = decodeURIComponent(m[1]);
  } catch {
    return; // not an address the app routes anyway
  }
  keep(`event ${id}`, api.event(id));
  keep(`availability ${id}`, availabilityText(id));
}

/** The event, as prefetched for this page if it was, else asked for now. */
export function eventOnce(id: string): Promise<EventInfo> {
  return take<EventInfo>(`event ${id}`) ?? api.event(id);
}

/** The prefetched availability's text, if there is one. */
export function takeAvailability(id: string): Promise<string | null> | undefined {
  return take<string | null>(`availability ${id}`);
}
