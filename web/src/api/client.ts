/**
 * Every API call goes through `request`: the base URL from config.json, a `traceparent` on every
 * call, the bearer token when signed in, an `Idempotency-Key` where the contract wants one, and
 * every failure turned into an [`ApiError`] (never a silent success).
 */

import { loadConfig } from "./config";
import { ApiError, errorFromResponse } from "./errors";
import { keyFor, settle } from "./idempotency";
import { deviceToken, getSession, setSession } from "./session";
import { observeServerDate } from "../lib/serverClock";
import { newTraceId, traceparent } from "../lib/trace";
import type {
  AuditPage,
  Availability,
  AuthSession,
  DrawInfo,
  EventInfo,
  JoinAnswer,
  JoinBody,
  JoinChallenge,
  PaymentIntent,
  QueueStatus,
  Reservation,
  Sale,
  SaleSettings,
  Scenario,
} from "./types";

interface Options {
  body?: unknown;
  /** Name of the user action, for its idempotency key (POSTs that need one). */
  idempotent?: string;
  /** The idempotency key itself, when the caller chose it (a join's: its proof of work covers it). */
  idempotencyKey?: string;
  /** One trace per user action: pass the action's trace id to every call it makes. */
  traceId?: string;
  signal?: AbortSignal;
}

export async function apiUrl(path: string): Promise<string> {
  const { api_base_url } = await loadConfig();
  return `${api_base_url}${path}`;
}

export async function request<T>(method: string, path: string, opts: Options = {}): Promise<T> {
  const url = await apiUrl(path);
  const headers: Record<string, string> = {
    Accept: "application/json",
    traceparent: traceparent(opts.traceId ?? newTraceId()),
  };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const session = getSession();
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
  else if (opts.idempotent) headers["Idempotency-Key"] = keyFor(opts.idempotent, opts.body);
  let res: Response;
  const sentAt = Date.now();
  try {
    res = await fetch(url, {
      method,
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "NETWORK_ERROR", "The server could not be reached.");
  }
  // The server's clock, for deadlines it gives as times of day; not from a cache's stored answer.
  if (!res.headers.has("Age")) observeServerDate(res.headers.get("Date"), sentAt, Date.now());
  const text = await res.text();
  if (!res.ok) {
    const err = errorFromResponse(res.status, res.headers.get("Retry-After"), text, res.headers.get("X-Trace-Id"), {
      method,
      path: path.split("?")[0],
    });
    if (err.code === "INVALID_TOKEN") setSession(null);
    throw err;
  }
  if (opts.idempotent) settle(opts.idempotent, opts.body);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, "BAD_RESPONSE", "The server sent an answer the app cannot read.");
  }
}

/**
 * The text of `GET /events/{id}/availability` (the seat map's first snapshot, kept as text so that
 * the stream's repeat of it is recognised unparsed), or null when it cannot be had: the stream, or
 * the polling, that follows reports what is wrong.
 */
export async function availabilityText(eventId: string, signal?: AbortSignal): Promise<string | null> {
  try {
    const res = await fetch(await apiUrl(`/api/v1/events/${encodeURIComponent(eventId)}/availability`), {
      headers: { Accept: "application/json", traceparent: traceparent(newTraceId()) },
      signal,
    });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

export const api = {
  events: () => request<{ events: EventInfo[] }>("GET", "/api/v1/events").then((r) => r.events),
  event: (id: string) => request<EventInfo>("GET", `/api/v1/events/${encodeURIComponent(id)}`),
  availability: (id: string, signal?: AbortSignal) =>
    request<Availability>("GET", `/api/v1/events/${encodeURIComponent(id)}/availability`, { signal }),

  register: (username: string, password: string, traceId?: string) =>
    request<AuthSession>("POST", "/api/v1/auth/register", { body: { username, password }, traceId }),
  /** With this browser's device token for the username, if it has one (its own login budget). */
  login: (username: string, password: string, traceId?: string) => {
    const device_token = deviceToken(username);
    const body = device_token ? { username, password, device_token } : { username, password };
    return request<AuthSession>("POST", "/api/v1/auth/login", { body, traceId });
  },

  /**
   * The proof of work a join of this caller must carry (`bits` 0: none). Bound to the caller: the
   * session's account when signed in (its bearer token is sent), else the client address.
   */
  challenge: (eventId: string, signal?: AbortSignal) =>
    request<JoinChallenge>("GET", `/api/v1/queue/challenge?event_id=${encodeURIComponent(eventId)}`, { signal }),
  /**
   * Joins the waiting room with the key `idempotencyKey` chosen by the caller (`lib/join.ts`): the
   * work covers it, and a retry sends the same key and body.
   */
  join: (body: JoinBody, idempotencyKey: string, traceId?: string, signal?: AbortSignal) =>
    request<JoinAnswer>("POST", "/api/v1/queue/join", { body, idempotencyKey, traceId, signal }),
  queueStatus: (token: string, signal?: AbortSignal) =>
    request<QueueStatus>("GET", `/api/v1/queue/status?token=${encodeURIComponent(token)}`, { signal }),
  /** The public record of the event's opening draw: the commitment before, the seed and places after. */
  draw: (eventId: string, page: { after?: string; limit?: number } = {}, signal?: AbortSignal) =>
    request<DrawInfo>("GET", `/api/v1/queue/draw${drawQuery(eventId, page)}`, { signal }),
  enter: (waiting_token: string, traceId?: string) =>
    request<{ admission: string; reservation_token: string; ttl_sec: number }>("POST", "/api/v1/queue/enter", {
      body: { waiting_token },
      idempotent: "queue.enter",
      traceId,
    }),
  leave: (token: string) => request<{ status: string }>("DELETE", `/api/v1/queue/leave?token=${encodeURIComponent(token)}`),

  reserve: (
    body: { event_id: string; seat_ids?: string[]; quantity: number; reservation_token: string },
    traceId?: string,
  ) => request<Reservation>("POST", "/api/v1/reservations", { body, idempotent: "reservation.create", traceId }),
  reservation: (id: string, traceId?: string) =>
    request<Reservation>("GET", `/api/v1/reservations/${encodeURIComponent(id)}`, { traceId }),
  cancel: (id: string, traceId?: string) =>
    request<{ status: string }>("DELETE", `/api/v1/reservations/${encodeURIComponent(id)}`, { traceId }),

  paymentIntent: (
    body: { reservation_id: string; amount: number; currency: string; scenario: Scenario },
    traceId?: string,
  ) => request<PaymentIntent>("POST", "/api/v1/payments/intent", { body, idempotent: "payment.intent", traceId }),
  paymentStatus: (id: string, traceId?: string) =>
    request<PaymentIntent>("GET", `/api/v1/payments/${encodeURIComponent(id)}/status`, { traceId }),
  processPayment: (payment_intent_id: string, traceId?: string) =>
    request<{ payment_intent_id: string; status: string }>("POST", "/api/v1/payments/process", {
      body: { payment_intent_id },
      idempotent: "payment.process",
      traceId,
    }),

  // Operators (an administrator's token). Each action answers the sale as it then stands; a
  // repeat that changes nothing is harmless, so they need no idempotency key.
  pauseSale: (eventId: string, traceId?: string) => saleAction(eventId, "pause", traceId),
  resumeSale: (eventId: string, traceId?: string) => saleAction(eventId, "resume", traceId),
  /** For good: a closed sale cannot be reopened or changed. */
  closeSale: (eventId: string, traceId?: string) => saleAction(eventId, "close", traceId),
  updateSale: (eventId: string, settings: SaleSettings, traceId?: string) =>
    request<Sale>("PATCH", `/api/v1/admin/events/${encodeURIComponent(eventId)}`, { body: settings, traceId }),
  /** One page of the audit log, newest first; `before` is the previous page's `next`. */
  audit: (query: { event_id?: string; limit?: number; before?: string }, signal?: AbortSignal) =>
    request<AuditPage>("GET", `/api/v1/admin/audit${auditQuery(query)}`, { signal }),
};

function saleAction(eventId: string, action: "pause" | "resume" | "close", traceId?: string): Promise<Sale> {
  return request<Sale>("POST", `/api/v1/admin/events/${encodeURIComponent(eventId)}/${action}`, { traceId });
}

/** `?event_id=…&after=…&limit=…`: a page of the draw's entries (`after`, the previous page's `next`). */
export function drawQuery(eventId: string, page: { after?: string; limit?: number } = {}): string {
  const q = new URLSearchParams({ event_id: eventId });
  if (page.after) q.set("after", page.after);
  if (page.limit !== undefined) q.set("limit", String(page.limit));
  return `?${q}`;
}

/** `?event_id=…&limit=…&before=…` with the parameters given, or "" when none is. */
export function auditQuery(query: { event_id?: string; limit?: number; before?: string }): string {
  const q = new URLSearchParams();
  if (query.event_id) q.set("event_id", query.event_id);
  if (query.limit !== undefined) q.set("limit", String(query.limit));
  if (query.before) q.set("before", query.before);
  const s = q.toString();
  return s ? `?${s}` : "";
}
