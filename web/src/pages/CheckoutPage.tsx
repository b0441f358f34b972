import { useCallback, useEffect, useRef, useState } from "react";
import { Link, Navigate, useLocation, useParams } from "react-router";
import { api } from "../api/client";
import { ApiError } from "../api/errors";
import { getSession } from "../api/session";
import type { Reservation, Scenario } from "../api/types";
import { ConfirmButton } from "../components/ConfirmButton";
import { Countdown } from "../components/Countdown";
import { ErrorBanner } from "../components/ErrorBanner";
import { JoinCheck } from "../components/JoinCheck";
import { formatMoney, secondsLeft } from "../lib/format";
import { deviceTime } from "../lib/serverClock";
import { useNow, useTitle } from "../lib/hooks";
import { newTraceId } from "../lib/trace";
import { useJoin } from "../lib/useEventData";

const SCENARIOS: { value: Scenario; label: string; hint: string }[] = [
  { value: "approve", label: "Approve", hint: "The card is accepted." },
  { value: "fail", label: "Fail", hint: "The card is declined." },
  { value: "delay", label: "Delay", hint: "The bank takes a couple of seconds, then accepts." },
];

type Phase = "idle" | "paying" | "waiting";

/**
 * The hold the reserve page passed along in the history entry, if it is this reservation and
 * belongs to whoever is signed in now: after a logout, Back must not show the previous buyer's
 * hold (the entry keeps it across reloads).
 */
function passedHold(state: unknown, reservationId: string): Reservation | null {
  const r = state as Reservation | null;
  return r && r.reservation_id === reservationId && r.user_id === getSession()?.user_id ? r : null;
}

/** The server will not show this reservation to this caller (signed out, another account's). */
function notShown(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404);
}

/** The hold with its countdown, and the simulated payment. */
export function CheckoutPage() {
  const { reservationId = "" } = useParams();
  const location = useLocation();
  const [rsv, setRsv] = useState<Reservation | null>(() => passedHold(location.state, reservationId));
  const [error, setError] = useState<unknown>(null);
  const [scenario, setScenario] = useState<Scenario>("approve");
  const [phase, setPhase] = useState<Phase>("idle");
  // The payment made on this page (kept across reloads): a cancellation after it is its failure.
  const paidKey = `tacos.payment.${reservationId}`;
  const [paymentId, setPaymentId] = useState<string | null>(() => sessionStorage.getItem(paidKey));
  const trace = useRef(newTraceId());
  const now = useNow(250);
  const { join, error: joinError, progress: joinProgress } = useJoin(rsv?.event_id ?? "");
  useTitle(rsv?.status === "HOLD" ? "Your hold" : "Reservation");

  const refresh = useCallback(async () => {
    try {
      const r = await api.reservation(reservationId, trace.current);
      setRsv(r);
      return r;
    } catch (e) {
      setError(e);
      if (notShown(e)) setRsv(null);
      return null;
    }
  }, [reservationId]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // What became of that payment, once the reservation is over without a sale.
  const [paymentOutcome, setPaymentOutcome] = useState<string | null>(null);
  useEffect(() => {
    if (!paymentId || (rsv?.status !== "CANCELLED" && rsv?.status !== "EXPIRED")) return;
    api.paymentStatus(paymentId, trace.current).then((p) => setPaymentOutcome(p.status), () => setPaymentOutcome(null));
  }, [paymentId, rsv?.status]);
  const declined = paymentOutcome === "FAILED";

  // A hold whose payment has started is kept until the payment's deadline (its answer may come
  // after the hold's own expiry), so the page counts to that: on the server's clock, whatever
  // this device's says.
  const deadline = rsv ? deviceTime(Date.parse(rsv.payment_deadline ?? rsv.hold_expires_at)) : 0;
  const left = secondsLeft(deadline, now);
  const status = rsv?.status;
  // A payment of this hold is under way (the server names it): started on this page before a
  // reload, in another tab, or one whose answer was lost. Its outcome is awaited, never paid again.
  const underWay = status === "HOLD" && Boolean(rsv?.payment_intent_id);
  const shownPhase: Phase = phase === "idle" && underWay ? "waiting" : phase;

  // While held and not paying, look again once the hold has run out (the server expires it).
  useEffect(() => {
    if (status !== "HOLD" || left > 0) return;
    const t = setInterval(() => void refresh(), 1000);
    return () => clearInterval(t);
  }, [status, left, refresh]);

  // After paying, follow the reservation until the payment's outcome settles it.
  const following = status === "HOLD" && shownPhase === "waiting";
  useEffect(() => {
    if (phase === "waiting" && status !== "HOLD") setPhase("idle");
  }, [phase, status]);
  useEffect(() => {
    if (!following) return;
    const t = setInterval(() => void refresh(), 1000);
    return () => clearInterval(t);
  }, [following, refresh]);
  // The payment's id, for what became of it, when the server named it before this page did.
  useEffect(() => {
    if (rsv?.payment_intent_id && !paymentId) setPaymentId(rsv.payment_intent_id);
  }, [rsv?.payment_intent_id, paymentId]);

  const pay = async () => {
    if (!rsv || underWay) return;
    setPhase("paying");
    setError(null);
    trace.current = newTraceId();
    try {
      const intent = await api.paymentIntent(
        { reservation_id: rsv.reservation_id, amount: rsv.total_amount, currency: rsv.currency, scenario },
        trace.current,
      );
      sessionStorage.setItem(paidKey, intent.payment_intent_id);
      setPaymentId(intent.payment_intent_id);
      await api.processPayment(intent.payment_intent_id, trace.current);
      setPhase("waiting");
      void refresh();
    } catch (e) {
      setError(e);
      setPhase("idle");
      // The payment may have started though its answer was lost: the reservation says so.
      void refresh();
    }
  };

  const cancel = async () => {
    if (!rsv) return;
    try {
      await api.cancel(rsv.reservation_id, newTraceId());
      await refresh();
    } catch (e) {
      setError(e);
    }
  };

  if (status === "CONFIRMED") return <Navigate to={`/reservations/${reservationId}/confirmation`} replace />;

  const seatsText = rsv ? (rsv.seat_ids.length > 0 ? rsv.seat_ids.join(", ") : `${rsv.quantity} general admission ticket${rsv.quantity === 1 ? "" : "s"}`) : "";

  return (
    <section>
      <h1>{status === "HOLD" ? "Your hold" : "Reservation"}</h1>
      {!rsv && !error && <p aria-live="polite">Loading your reservation…</p>}
      {rsv && (
        <div className="card">
          <dl className="facts">
            <dt>Reservation</dt><dd data-testid="reservation-id">{rsv.reservation_id}</dd>
            <dt>{rsv.seat_ids.length > 0 ? "Seats" : "Tickets"}</dt><dd data-testid="held-seats">{seatsText}</dd>
            <dt>Total</dt><dd>{formatMoney(rsv.total_amount, rsv.currency)}</dd>
            <dt>Status</dt><dd data-testid="reservation-status">{rsv.status}</dd>
          </dl>
        </div>
      )}
      {status === "HOLD" && left > 0 && <Countdown deadline={deadline} label="Hold expires in" />}
      {status === "HOLD" && left === 0 && (
        <div className="banner banner-error" role="alert" data-error-code="HOLD_TIME_UP">
          <p className="banner-title">Hold time is up</p>
          <p>Your hold has run out; releasing your seats…</p>
        </div>
      )}
      {status === "EXPIRED" && (
        <div className="banner banner-error" role="alert" data-error-code="RESERVATION_EXPIRED">
          <p className="banner-title">Your hold expired</p>
          <p>
            The seats were released and are available to others again.{" "}
            {paymentOutcome === "REFUNDED" ? "Your payment arrived too late and was refunded." : "Nothing was charged."}
          </p>
          <TryAgain eventId={rsv?.event_id} onJoin={join} />
        </div>
      )}
      {status === "CANCELLED" && (
        <div className="banner banner-error" role="alert" data-error-code={declined ? "PAYMENT_FAILED" : "CANCELLED"}>
          <p className="banner-title">{declined ? "Payment failed" : "Reservation cancelled"}</p>
          <p>
            {declined ? "Your payment was declined, so nothing was charged. " : ""}
            Your seats were released.
          </p>
          <TryAgain eventId={rsv?.event_id} onJoin={join} />
        </div>
      )}
      <ErrorBanner error={error} onRetry={shownPhase === "idle" && status === "HOLD" ? pay : () => void refresh()} onRejoin={join} />
      <JoinCheck progress={joinProgress} />
      <ErrorBanner error={joinError} onRetry={join} />
      {status === "HOLD" && left > 0 && (
        <form className="card payment" onSubmit={(e) => { e.preventDefault(); void pay(); }}>
          <fieldset disabled={shownPhase !== "idle"}>
            <legend>Payment (simulated)</legend>
            {SCENARIOS.map((s) => (
              <div className="radio" key={s.value}>
                <input type="radio" id={`scenario-${s.value}`} name="scenario" value={s.value} checked={scenario === s.value} onChange={() => setScenario(s.value)} aria-describedby={`scenario-${s.value}-hint`} />
                <label htmlFor={`scenario-${s.value}`}>{s.label}</label>
                <span id={`scenario-${s.value}-hint`} className="muted small"> {s.hint}</span>
              </div>
            ))}
          </fieldset>
          <div className="actions">
            <button type="submit" className="button button-primary" disabled={shownPhase !== "idle"}>
              {shownPhase === "idle" ? `Pay ${rsv ? formatMoney(rsv.total_amount, rsv.currency) : ""}` : "Processing payment…"}
            </button>
            <ConfirmButton
              label="Cancel hold"
              question="Release your hold?"
              confirm="Yes, release it"
              keep="Keep my hold"
              onConfirm={() => void cancel()}
              disabled={shownPhase !== "idle"}
            >
              <p>{seatsText} {(rsv?.seat_ids.length || rsv?.quantity) === 1 ? "goes" : "go"} back on sale at once, and nothing is charged. Buying again means joining the waiting room again.</p>
            </ConfirmButton>
          </div>
          <p aria-live="polite" className="muted" data-testid="payment-phase">
            {shownPhase === "paying" ? "Sending your payment…" : shownPhase === "waiting" ? "Waiting for the bank's answer…" : ""}
          </p>
        </form>
      )}
    </section>
  );
}

/** What a buyer whose hold ended without a sale can do next. */
function TryAgain({ eventId, onJoin }: { eventId?: string; onJoin: () => void }) {
  return (
    <div className="actions">
      <button type="button" className="button" onClick={onJoin}>Join the waiting room again</button>
      <Link className="button" to={`/events/${eventId}`}>Back to the event</Link>
    </div>
  );
}
