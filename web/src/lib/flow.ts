/**
 * Where a buyer is in the purchase of one event (waiting token, reservation token, hold), kept
 * in sessionStorage so a reload or the detour through login continues where it was.
 */

export interface Flow {
  waiting_token?: string;
  reservation_token?: string;
  /** When the reservation token stops being valid (ms since the epoch). */
  reservation_token_expires_at?: number;
  reservation_id?: string;
  /** The token was in the lobby before the sale's opening (the draw's result is still to come). */
  lobby?: boolean;
  /** The draw's result for the token: its place then (null: it was already its turn). */
  drawn_place?: number | null;
}

const key = (eventId: string) => `tacos.flow.${eventId}`;

export function getFlow(eventId: string): Flow {
  try {
    return JSON.parse(sessionStorage.getItem(key(eventId)) ?? "{}") as Flow;
  } catch {
    return {};
  }
}

export function setFlow(eventId: string, flow: Flow): void {
  sessionStorage.setItem(key(eventId), JSON.stringify(flow));
}

export function updateFlow(eventId: string, patch: Partial<Flow>): Flow {
  const next = { ...getFlow(eventId), ...patch };
  setFlow(eventId, next);
  return next;
}

export function clearFlow(eventId: string): void {
  sessionStorage.removeItem(key(eventId));
}

/**
 * Forgets every purchase of this tab (waiting and reservation tokens, holds, payments): on
 * logout, so whoever uses the tab next is not offered the previous buyer's place or hold.
 */
export function clearAllFlows(): void {
  const ours = Object.keys(sessionStorage).filter((k) => k.startsWith("tacos.flow.") || k.startsWith("tacos.payment."));
  for (const k of ours) sessionStorage.removeItem(k);
}
