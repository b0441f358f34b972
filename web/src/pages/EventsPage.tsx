import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { api } from "../api/client";
import type { EventInfo } from "../api/types";
import { ErrorBanner } from "../components/ErrorBanner";
import { formatDate, formatLocalTime, formatPrice } from "../lib/format";
import { upcomingOpening } from "../lib/lobby";
import { useTitle } from "../lib/hooks";

export function EventsPage() {
  useTitle("Events");
  const [events, setEvents] = useState<EventInfo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    setError(null);
    api.events().then(setEvents, setError);
  }, []);
  useEffect(load, [load]);
  const now = Date.now();
  return (
    <section>
      <h1>Upcoming events</h1>
      <ErrorBanner error={error} onRetry={load} />
      {events === null && !error && <p aria-live="polite">Loading events…</p>}
      {events?.length === 0 && <p>No events on sale right now.</p>}
      <ul className="cards">
        {events?.map((e) => {
          const opens = upcomingOpening(e, now);
          return (
            <li key={e.event_id} className="card">
              <h2><Link to={`/events/${e.event_id}`}>{e.name}</Link></h2>
              <p>{e.venue}</p>
              <p>{formatDate(e.starts_at)}</p>
              <p>
                {formatPrice(e)} · {e.kind === "seated" ? `${e.total} reserved seats` : `general admission, ${e.total} places`}
              </p>
              {opens && (
                <p className="opens-at" data-testid="opens-at">
                  Opens at <time dateTime={opens}>{formatLocalTime(opens)}</time>
                </p>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
