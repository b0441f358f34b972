/**
 * How far this device's clock is from the server's, so that a deadline the server gives as a
 * time of day (a hold's `hold_expires_at`) is counted down right on a device whose clock is off:
 * a phone a couple of minutes fast would otherwise say at once that the hold has run out, and one
 * that is slow would count past the real end.
 *
 * Learned from the `Date` header of the API's answers, to the second only: the server wrote that
 * second, truncated, between the request's departure and the answer's arrival, which bounds the
 * offset (server − device) to an interval. The estimate is kept within the interval of every new
 * answer, starting from 0: a device whose clock is right is never corrected at all, and one that
 * is off is corrected to within about a second plus the answer's round trip. (Across origins the
 * `Date` header can be read only because the API names it in `Access-Control-Expose-Headers`.)
 */

let offsetMs = 0;

/**
 * Takes in an answer's `Date` header, for a request sent at `sentAt` and answered at `receivedAt`
 * (device ms since the epoch).
 */
export function observeServerDate(header: string | null, sentAt: number, receivedAt: number): void {
  if (!header) return;
  const written = Date.parse(header);
  if (!Number.isFinite(written) || receivedAt < sentAt) return;
  // The server's clock read [written, written + 1000) at some device instant in [sentAt, receivedAt].
  const low = written - receivedAt;
  const high = written + 1000 - sentAt;
  offsetMs = Math.min(Math.max(offsetMs, low), high);
}

/** Server time minus device time (ms), as the answers so far tell it. */
export function serverOffset(): number {
  return offsetMs;
}

/** The device's time (ms since the epoch) at which the server's clock reads `serverMs`. */
export function deviceTime(serverMs: number): number {
  return serverMs - offsetMs;
}

/** Forgets what was learned (tests). */
export function resetServerClock(): void {
  offsetMs = 0;
}
