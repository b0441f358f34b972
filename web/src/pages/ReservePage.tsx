import { useCallback, useState } from "react";
import { Link, Navigate, useParams } from "react-router";
import { api } from "../api/client";
import { ApiError } from "../api/errors";
import type { Reservation } from "../api/types";
import { Countdown } from "../components/Countdown";
import { ErrorBanner } from "../components/ErrorBanner";
import { JoinCheck } from "../components/JoinCheck";
import { SeatMap, useSeatPlan } from "../components/SeatMap";
import { getFlow, updateFlow } from "../lib/flow";
import { formatMoney, secondsLeft } from "../lib/format";
import { useNow, useSession, useTitle } from "../lib/hooks";
import { newTraceId } from "../lib/trace";
import { useAvailability, useEvent, useJoin } from "../lib/useEventData";

/** Choosing seats (seated) or a quantity (general admission), then holding them. */
export function ReservePage() {
  const { eventId = "" } = useParams();
  const session = useSession();
  const { event, error: eventError, reload } = useEvent(eventId);
  const { availability } = useAvailability(eventId);
  const plan = useSeatPlan(event, availability);
  const { join, error: joinError, progress: joinProgress } = useJoin(eventId, event?.sale?.join_challenge_bits);
  const flow = getFlow(eventId);
  const [selected, setSelected] = useState<string[]>([]);
  const [quantity, setQuantity] = useState(1);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // The hold just made. Leaving for it is rendered, not called: the router moves in a transition,
  // and a render in between (a clock tick, a live availability update) would otherwise find the
  // spent reservation token gone and send the buyer back to the waiting room instead.
  const [held, setHeld] = useState<Reservation | null>(null);
  // An operator closed the sale meanwhile (a hold was refused for it): nothing more can be held
  // here, for good, whatever is chosen next.
  const [closedBy, setClosedBy] = useState<ApiError | null>(null);
  const saleClosed = closedBy !== null;
  const now = useNow(500);
  useTitle(event?.kind === "general_admission" ? "Choose tickets" : "Choose seats");
  const max = event?.max_per_order ?? 1;
  // Stable, so that the seat map (memoized) is not drawn again on every tick of the countdown.
  const toggle = useCallback(
    (id: string) => {
      setError(null);
      setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : s.length < max ? [...s, id] : s));
    },
    [max],
  );

  if (held) return <Navigate to={`/reservations/${held.reservation_id}`} state={held} />;
  if (!session) return <Navigate to={`/login?next=${encodeURIComponent(`/events/${eventId}/waiting`)}`} replace />;
  if (!flow.reservation_token) return <Navigate to={`/events/${eventId}/waiting`} replace />;

  const deadline = flow.reservation_token_expires_at ?? 0;
  const timeUp = secondsLeft(deadline, now) === 0;

  const seated = event?.kind === "seated";
  const gaMax = Math.max(0, Math.min(max, availability?.available ?? max));
  const count = seated ? selected.length : quantity;
  // Each seat at its own price (sections may have their own); tickets at the event's.
  const total = seated
    ? selected.reduce((sum, id) => sum + (plan?.find(id)?.price ?? event?.price ?? 0), 0)
    : (event?.price ?? 0) * count;

  const hold = async () => {
    if (!event || !flow.reservation_token) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.reserve(
        seated
          ? { event_id: eventId, seat_ids: selected, quantity: selected.length, reservation_token: flow.reservation_token }
          : { event_id: eventId, quantity, reservation_token: flow.reservation_token },
        newTraceId(),
      );
      updateFlow(eventId, { reservation_token: undefined, reservation_token_expires_at: undefined, reservation_id: r.reservation_id });
      setHeld(r);
    } catch (e) {
      setError(e);
      if (e instanceof ApiError && e.code === "SALE_CLOSED") setClosedBy(e);
      if (e instanceof ApiError && e.code === "SEAT_UNAVAILABLE") {
        setSelected((s) => s.filter((x) => !e.seats.includes(x)));
      }
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>{seated ? "Choose your seats" : "Choose your tickets"}{event ? `: ${event.name}` : ""}</h1>
      <ErrorBanner error={eventError} onRetry={reload} />
      {saleClosed ? null : timeUp ? (
        <div className="banner banner-error" role="alert" data-error-code="TOKEN_EXPIRED">
          <p className="banner-title">Your time to choose ran out</p>
          <p>Nothing was held. Join the waiting room again to get a new turn.</p>
          <button type="button" className="button" onClick={join}>Join the waiting room again</button>
        </div>
      ) : (
        <Countdown deadline={deadline} label="Time left to choose:" />
      )}
      <ErrorBanner error={error} onRejoin={join} onRetry={hold} />
      {error !== closedBy && <ErrorBanner error={closedBy} />}
      {saleClosed && (
        <p data-testid="sale-closed">
          Nothing was held or charged. <Link to="/">See other events</Link>
        </p>
      )}
      <JoinCheck progress={joinProgress} />
      <ErrorBanner error={joinError} onRetry={join} />
      {event && seated && plan && (
        <>
          <p className="muted">Pick up to {max} seats. Use Tab to move between seats and Enter or Space to choose.</p>
          <SeatMap plan={plan} currency={event.currency} selected={selected} onToggle={toggle} max={max} />
        </>
      )}
      {event && !seated && (
        <div className="card ga-picker">
          <p aria-live="polite">{availability ? `${availability.available} tickets left` : "Checking availability…"}</p>
          <label htmlFor="quantity">Number of tickets (up to {max})</label>
          <div className="stepper">
            <button type="button" className="button" aria-label="One fewer ticket" onClick={() => setQuantity((q) => Math.max(1, q - 1))} disabled={quantity <= 1}>−</button>
            <input
              id="quantity"
              type="number"
              inputMode="numeric"
              min={1}
              max={gaMax || 1}
              value={quantity}
              onChange={(e) => setQuantity(Math.max(1, Math.min(max, Number.parseInt(e.target.value, 10) || 1)))}
            />
            <button type="button" className="button" aria-label="One more ticket" onClick={() => setQuantity((q) => Math.min(gaMax || 1, q + 1))} disabled={quantity >= gaMax}>+</button>
          </div>
          {availability && availability.available === 0 && <p role="status">Sold out: there are no tickets left.</p>}
        </div>
      )}
      {event && (
        <div className="order-bar">
          <p aria-live="polite" data-testid="selection">
            {count === 0 ? "Nothing chosen yet." : `${seated ? selected.join(", ") : `${count} ticket${count === 1 ? "" : "s"}`} · ${formatMoney(total, event.currency)}`}
          </p>
          <button type="button" className="button button-primary" onClick={hold} disabled={busy || count === 0 || timeUp || saleClosed}>
            {busy ? "Holding…" : `Hold ${count === 0 ? "" : count + " "}${seated ? (count === 1 ? "seat" : "seats") : count === 1 ? "ticket" : "tickets"}`}
          </button>
        </div>
      )}
    </section>
  );
}
