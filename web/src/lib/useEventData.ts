import { useCallback, useEffect, useRef, useState } from "react";
import { useNavigate } from "react-router";
import { api } from "../api/client";
import type { Availability, DrawInfo, EventInfo } from "../api/types";
import { clearFlow, setFlow } from "./flow";
import { joinQueue, type JoinProgress } from "./join";
import { followAvailability, type Transport } from "./live";
import { eventOnce } from "./prefetch";
import { newTraceId } from "./trace";

/** The event, loaded once. */
export function useEvent(eventId: string) {
  const [event, setEvent] = useState<EventInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    setError(null);
    eventOnce(eventId).then(setEvent, setError);
  }, [eventId]);
  useEffect(load, [load]);
  return { event, error, reload: load };
}

/** The event's availability, live (stream or polling). */
export function useAvailability(eventId: string) {
  const [availability, setAvailability] = useState<Availability | null>(null);
  const [transport, setTransport] = useState<Transport>("connecting");
  const [error, setError] = useState<unknown>(null);
  useEffect(
    () =>
      followAvailability(eventId, {
        onData: (a) => {
          setAvailability(a);
          setError(null);
        },
        onError: setError,
        onTransport: setTransport,
      }),
    [eventId],
  );
  return { availability, transport, error };
}

/**
 * Joining the waiting room (anonymously if nobody is logged in), then to the waiting page. When
 * the event asks for proof of work (`bitsHint`, the event's `sale.join_challenge_bits` as shown,
 * or the server's 428) the work is done in a worker first: `progress` says how far it is
 * (`JoinCheck` shows it). Leaving the page cancels it.
 */
export function useJoin(eventId: string, bitsHint?: number) {
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [progress, setProgress] = useState<JoinProgress | null>(null);
  const running = useRef<AbortController | null>(null);
  useEffect(() => () => running.current?.abort(), []);
  const join = useCallback(async () => {
    if (running.current) return; // one join at a time
    const ctl = new AbortController();
    running.current = ctl;
    setBusy(true);
    setError(null);
    setProgress(null);
    try {
      const r = await joinQueue(eventId, { bitsHint, traceId: newTraceId(), signal: ctl.signal, onProgress: setProgress });
      clearFlow(eventId);
      setFlow(eventId, { waiting_token: r.waiting_token });
      navigate(`/events/${eventId}/waiting`);
    } catch (e) {
      if (!ctl.signal.aborted) setError(e);
    } finally {
      running.current = null;
      if (!ctl.signal.aborted) {
        setBusy(false);
        setProgress(null);
      }
    }
  }, [eventId, bitsHint, navigate]);
  return { join, busy, error, progress };
}

/**
 * The event's draw (`GET /queue/draw`, its first entry only: the page shows no list) while `want`
 * says what is awaited: in the lobby the commitment, read until it is published; after the
 * opening the result, read every second until it says `drawn`. At most 20 reads; a failure is
 * retried quietly (the page works without it). Null until read.
 */
export function useDraw(eventId: string, want: "commitment" | "result" | null): DrawInfo | null {
  const [draw, setDraw] = useState<DrawInfo | null>(null);
  useEffect(() => {
    if (!want) return;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let reads = 0;
    const enough = (d: DrawInfo) => (want === "result" ? d.status === "drawn" : d.status !== "scheduled" || Boolean(d.seed_sha256));
    const read = async () => {
      reads++;
      try {
        const d = await api.draw(eventId, { limit: 1 }, ctl.signal);
        if (ctl.signal.aborted) return;
        setDraw(d);
        if (enough(d)) return;
      } catch {
        if (ctl.signal.aborted) return;
      }
      if (reads < 20) timer = setTimeout(read, want === "result" ? 1000 : 3000);
    };
    void read();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [eventId, want]);
  return draw;
}
