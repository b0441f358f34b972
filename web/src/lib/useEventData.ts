import { useCallback, useEffect, useState } from "react";
import { useNavigate } from "react-router";
import { api } from "../api/client";
import type { Availability, EventInfo } from "../api/types";
import { clearFlow, setFlow } from "./flow";
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

/** Joining the waiting room (anonymously if nobody is logged in), then to the waiting page. */
export function useJoin(eventId: string) {
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const join = useCallback(async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.join(eventId, newTraceId());
      clearFlow(eventId);
      setFlow(eventId, { waiting_token: r.waiting_token });
      navigate(`/events/${eventId}/waiting`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }, [eventId, navigate]);
  return { join, busy, error };
}
