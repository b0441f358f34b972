import { Link, useParams } from "react-router";
import { ErrorBanner } from "../components/ErrorBanner";
import { JoinCheck } from "../components/JoinCheck";
import { SeatMap, useSeatPlan } from "../components/SeatMap";
import { formatDate, formatLocalTime, formatPrice } from "../lib/format";
import { upcomingOpening } from "../lib/lobby";
import { useTitle } from "../lib/hooks";
import { useAvailability, useEvent, useJoin } from "../lib/useEventData";
import { getFlow } from "../lib/flow";

const NONE: string[] = [];

export function EventPage() {
  const { eventId = "" } = useParams();
  const { event, error, reload } = useEvent(eventId);
  const { availability } = useAvailability(eventId);
  const plan = useSeatPlan(event, availability);
  const { join, busy, error: joinError, progress } = useJoin(eventId, event?.sale?.join_challenge_bits);
  useTitle(event?.name ?? "Event");
  const soldOut = availability !== null && availability.available === 0 && availability.held === 0;
  const waiting = getFlow(eventId).waiting_token;
  const opens = event ? upcomingOpening(event, Date.now()) : null;
  return (
    <section>
      <p><Link to="/">← All events</Link></p>
      <ErrorBanner error={error} onRetry={reload} />
      {!event && !error && <p aria-live="polite">Loading…</p>}
      {event && (
        <>
          <h1>{event.name}</h1>
          <dl className="facts">
            <dt>Venue</dt><dd>{event.venue}</dd>
            <dt>Starts</dt><dd>{formatDate(event.starts_at)}</dd>
            <dt>Price</dt><dd>{formatPrice(event)} per {event.kind === "seated" ? "seat" : "ticket"}</dd>
            <dt>Per order</dt><dd>up to {event.max_per_order}</dd>
            {opens && (
              <>
                <dt>Sale opens</dt>
                <dd data-testid="opens-at">Opens at <time dateTime={opens}>{formatLocalTime(opens)}</time></dd>
              </>
            )}
          </dl>
          <p className="availability" aria-live="polite" data-testid="availability">
            {availability
              ? `${availability.available} of ${availability.total} available · ${availability.held} held · ${availability.sold} sold`
              : "Checking availability…"}
          </p>
          {soldOut ? (
            <p className="banner banner-info" role="status">Sold out: there is nothing left to sell.</p>
          ) : (
            <div className="actions">
              <button type="button" className="button button-primary" onClick={join} disabled={busy}>
                {busy ? "Joining…" : "Join the waiting room"}
              </button>
              {waiting && <Link className="button" to={`/events/${eventId}/waiting`}>Back to my place in line</Link>}
            </div>
          )}
          <JoinCheck progress={progress} />
          {opens && !soldOut && (
            <p data-testid="lobby-note">
              Joining before the opening puts you in the lobby: everyone there when the sale opens gets a random place in line, so
              there is no need to rush at the last second.
            </p>
          )}
          <p className="muted">No account needed to queue. You will be asked to log in or register when it is your turn.</p>
          <ErrorBanner error={joinError} onRetry={join} />
          {plan && (
            <>
              <h2>Seats</h2>
              <SeatMap plan={plan} currency={event.currency} selected={NONE} readOnly />
            </>
          )}
        </>
      )}
    </section>
  );
}
