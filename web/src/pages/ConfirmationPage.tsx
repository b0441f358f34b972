import { useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { api } from "../api/client";
import type { EventInfo, Reservation } from "../api/types";
import { ErrorBanner } from "../components/ErrorBanner";
import { clearFlow } from "../lib/flow";
import { formatDate, formatMoney } from "../lib/format";
import { useTitle } from "../lib/hooks";

/** The order, as the server has it: shown only when the reservation really is CONFIRMED. */
export function ConfirmationPage() {
  const { reservationId = "" } = useParams();
  const [rsv, setRsv] = useState<Reservation | null>(null);
  const [event, setEvent] = useState<EventInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  useTitle("Order confirmed");
  const load = useCallback(async () => {
    setError(null);
    try {
      const r = await api.reservation(reservationId);
      setRsv(r);
      if (r.status === "CONFIRMED") clearFlow(r.event_id);
      setEvent(await api.event(r.event_id));
    } catch (e) {
      setError(e);
    }
  }, [reservationId]);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section>
      <ErrorBanner error={error} onRetry={load} />
      {!rsv && !error && <p aria-live="polite">Loading your order…</p>}
      {rsv && rsv.status !== "CONFIRMED" && (
        <div className="banner banner-error" role="alert">
          <p className="banner-title">Not confirmed</p>
          <p>This reservation is {rsv.status.toLowerCase()}, not confirmed. <Link to={`/reservations/${rsv.reservation_id}`}>See the reservation</Link></p>
        </div>
      )}
      {rsv && rsv.status === "CONFIRMED" && (
        <>
          <h1>Order confirmed</h1>
          <div className="card" role="status">
            <dl className="facts">
              <dt>Order</dt><dd data-testid="order-id">{rsv.order_id}</dd>
              {event && (<><dt>Event</dt><dd>{event.name}, {event.venue}, {formatDate(event.starts_at)}</dd></>)}
              <dt>{rsv.seat_ids.length > 0 ? "Seats" : "Tickets"}</dt>
              <dd data-testid="order-seats">{rsv.seat_ids.length > 0 ? rsv.seat_ids.join(", ") : `${rsv.quantity} general admission`}</dd>
              <dt>Total paid</dt><dd data-testid="order-total">{formatMoney(rsv.total_amount, rsv.currency)}</dd>
              <dt>Reservation</dt><dd>{rsv.reservation_id}</dd>
            </dl>
          </div>
          <p><Link to="/">Back to events</Link></p>
        </>
      )}
    </section>
  );
}
