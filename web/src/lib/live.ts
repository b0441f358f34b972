/**
 * Live updates for the waiting room and the seat map. WebSocket when config.json names one,
 * server-sent events otherwise, and polling every 2 s whenever either is unavailable or fails.
 */

import { api, apiUrl, availabilityText } from "../api/client";
import { loadConfig } from "../api/config";
import { ApiError } from "../api/errors";
import type { Availability, QueueStatus } from "../api/types";
import { markOnce } from "./perf";
import { takeAvailability } from "./prefetch";
import { readSse } from "./sse";
import { newTraceId, traceparent } from "./trace";

export type Transport = "connecting" | "websocket" | "sse" | "polling";

interface Handlers<T> {
  onData: (d: T) => void;
  onError?: (e: unknown) => void;
  onTransport?: (t: Transport) => void;
}

const POLL_MS = 2000;
/** The longest a server's `Retry-After` holds polling back (a wait beyond it is checked again). */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * How long polling waits after `e` before asking again: the server's `Retry-After` when it sent
 * one (a 429 or 503 under a rush: asking every 2 s would only prolong it), else the usual 2 s.
 */
export function pollDelay(e: unknown): number {
  if (e instanceof ApiError && e.retryAfter !== undefined) return Math.min(MAX_RETRY_AFTER_MS, Math.max(POLL_MS, e.retryAfter * 1000));
  return POLL_MS;
}

/**
 * Polls `fetchOnce` every 2 s until stopped; errors are reported and polling goes on, after the
 * server's `Retry-After` when it gave one.
 */
function poll<T>(fetchOnce: (s: AbortSignal) => Promise<T>, h: Handlers<T>, signal: AbortSignal, stopWhen?: (d: T) => boolean) {
  h.onTransport?.("polling");
  const tick = async () => {
    if (signal.aborted) return;
    let wait = POLL_MS;
    try {
      const d = await fetchOnce(signal);
      if (signal.aborted) return;
      h.onData(d);
      if (stopWhen?.(d)) return;
    } catch (e) {
      if (signal.aborted) return;
      h.onError?.(e);
      if (e instanceof ApiError && (e.code === "TOKEN_NOT_FOUND" || e.code === "EVENT_NOT_FOUND")) return;
      wait = pollDelay(e);
    }
    setTimeout(tick, wait);
  };
  void tick();
}

/** WebSocket of the contract (§3 of the shared interfaces); resolves false if it cannot be used. */
function websocket<T>(
  wsUrl: string,
  query: Record<string, string>,
  type: "queue" | "availability",
  h: Handlers<T>,
  signal: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    let opened = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${wsUrl}${wsUrl.includes("?") ? "&" : "?"}${new URLSearchParams(query)}`);
    } catch {
      resolve(false);
      return;
    }
    signal.addEventListener("abort", () => ws.close());
    ws.onopen = () => {
      opened = true;
      h.onTransport?.("websocket");
    };
    ws.onmessage = (m) => {
      try {
        const msg = JSON.parse(String(m.data)) as { type: string; data?: T; code?: string };
        if (msg.type === type && msg.data) h.onData(msg.data);
        else if (msg.type === "error") ws.close();
      } catch {
        /* a frame we do not understand: ignore it */
      }
    };
    ws.onclose = () => resolve(opened && signal.aborted);
    ws.onerror = () => ws.close();
  });
}

/**
 * Whether a status is final for the waiting room: sold out, or no longer in the lobby, waiting or
 * at a turn not taken yet. A turn is followed until it is taken (here, or in another tab of the
 * same place) or lapses after its 30 s, so the page never keeps offering a turn that is gone.
 */
export function queueDone(s: QueueStatus): boolean {
  if (s.sold_out) return true;
  if (s.status === "waiting" || s.status === "lobby") return false;
  return !(s.status === "ready" && !s.entered);
}

/** Status of a waiting token while it is in the lobby or waiting. Returns a stop function. */
export function followQueue(token: string, eventId: string, h: Handlers<QueueStatus>): () => void {
  const ctl = new AbortController();
  const done = queueDone;
  let last: QueueStatus | null = null;
  const onData = (s: QueueStatus) => {
    last = s;
    h.onData(s);
  };
  void (async () => {
    h.onTransport?.("connecting");
    const cfg = await loadConfig();
    if (cfg.ws_url) {
      if (await websocket(cfg.ws_url, { event_id: eventId, token }, "queue", { ...h, onData }, ctl.signal)) return;
    } else {
      try {
        h.onTransport?.("sse");
        const url = await apiUrl(`/api/v1/queue/stream?token=${encodeURIComponent(token)}`);
        // A stream ends by itself after a while (the server bounds it), or after one event behind
        // a gateway that buffers: one that brought a status is opened again after the `retry` its
        // events ask for, as EventSource would; one that brought nothing gives way to polling.
        for (;;) {
          const before: QueueStatus | null = last;
          await readSse(url, { traceparent: traceparent(newTraceId()) }, ctl.signal, (m) => {
            if (m.event === "status") onData(JSON.parse(m.data) as QueueStatus);
            else if (m.event === "error") h.onError?.(new ApiError(404, m.data, "The waiting token is no longer valid."));
          });
          if (last && done(last)) return;
          if (ctl.signal.aborted || last === before) break;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      } catch {
        /* fall back to polling below */
      }
    }
    if (ctl.signal.aborted || (last && done(last))) return;
    poll((s) => api.queueStatus(token, s), { ...h, onData }, ctl.signal, done);
  })();
  return () => ctl.abort();
}

/**
 * Seat and ticket counts of an event, live. Returns a stop function.
 *
 * A snapshot comes first, from the plain `GET …/availability` (an answer the server caches): the
 * seat map is drawn from it without waiting for the stream, whose first event repeats it (an
 * arena's is about 1 MB, slower to stream than to answer). The stream's events, every 2 s and
 * mostly unchanged, are parsed and passed on only when their text differs from the last one.
 */
export function followAvailability(eventId: string, h: Handlers<Availability>): () => void {
  const ctl = new AbortController();
  let last = "";
  const deliver = (text: string) => {
    markOnce("tacos:availability");
    if (text === last) return;
    last = text;
    h.onData(JSON.parse(text) as Availability);
  };
  void (async () => {
    h.onTransport?.("connecting");
    const cfg = await loadConfig();
    const snapshot = await (takeAvailability(eventId) ?? availabilityText(eventId, ctl.signal));
    if (ctl.signal.aborted) return;
    if (snapshot !== null) {
      try {
        deliver(snapshot);
      } catch {
        /* not JSON: the stream, or the polling, that follows reports what is wrong */
      }
    }
    if (cfg.ws_url) {
      const onData = (a: Availability) => {
        markOnce("tacos:availability");
        h.onData(a);
      };
      if (await websocket(cfg.ws_url, { event_id: eventId }, "availability", { ...h, onData }, ctl.signal)) return;
    } else {
      try {
        const url = await apiUrl(`/api/v1/events/${encodeURIComponent(eventId)}/availability/stream`);
        await readSse(url, { traceparent: traceparent(newTraceId()) }, ctl.signal, (m) => {
          if (m.event === "availability") {
            h.onTransport?.("sse");
            deliver(m.data);
          }
        });
      } catch {
        /* fall back to polling below */
      }
    }
    if (ctl.signal.aborted) return;
    poll((s) => api.availability(eventId, s), h, ctl.signal);
  })();
  return () => ctl.abort();
}
