import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { api } from "../api/client";
import { ApiError } from "../api/errors";
import type { Sale } from "../api/types";
import { ErrorBanner } from "./ErrorBanner";
import { formatLocalTime, formatTimestamp } from "../lib/format";
import {
  BITS_MAX,
  checkOpening,
  checkSettings,
  describeBits,
  formatBits,
  formatHold,
  formatOpening,
  formatRate,
  HOLD_MAX,
  HOLD_MIN,
  RATE_MAX,
  saleStateLabel,
  saleStateMeaning,
  toLocalInput,
  type SettingsCheck,
} from "../lib/sale";
import { newTraceId } from "../lib/trace";

type Action = "pause" | "resume" | "close" | "update" | "opening";

interface Props {
  eventId: string;
  eventName: string;
  /** Changes when the operator asks for the sale to be read again. */
  refresh: number;
  /** After every action, whatever its outcome (the audit log is read again). */
  onAction: () => void;
  /** Every failed action, also told to the page (a 401 ends the session and this component). */
  onError?: (e: unknown) => void;
}

const BUSY: Record<Action, string> = {
  pause: "Pausing the sale…",
  resume: "Resuming the sale…",
  close: "Closing the sale…",
  update: "Saving the settings…",
  opening: "Setting the opening time…",
};

/** What the sale became, said once the server has answered. */
function outcome(action: Action, sale: Sale): string {
  switch (action) {
    case "pause":
      return "Sale paused: nobody more is admitted, and everyone waiting keeps their place.";
    case "resume":
      return `Sale resumed: admitting ${formatRate(sale.admission_rate_per_sec)}.`;
    case "close":
      return "Sale closed for good.";
    case "update":
      return `Saved: ${formatRate(sale.admission_rate_per_sec)}, holds of ${formatHold(sale.hold_seconds)}, proof of work at join ${formatBits(sale.join_challenge_bits ?? 0)}.`;
    case "opening":
      return `Opening time set: ${formatOpening(sale.on_sale_at)}.`;
  }
}

/** The server's refusal of an opening time (409: the opening has passed; 400: not a time), said in its own words. */
function refusedOpening(e: unknown): e is ApiError {
  return e instanceof ApiError && (e.status === 409 || e.status === 400);
}

/**
 * One event's sale for an operator: its state, rate, hold time, proof of work at join and opening
 * time as the server last answered them, Pause / Resume / Close (Close asks first: it cannot be
 * undone), the settings form and the opening time's. Every failure is shown in words; after one
 * the sale is read again, so what is shown is what the server holds.
 */
export function SaleControls({ eventId, eventName, refresh, onAction, onError }: Props) {
  const [sale, setSale] = useState<Sale | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [busy, setBusy] = useState<Action | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [rate, setRate] = useState("");
  const [hold, setHold] = useState("");
  const [bits, setBits] = useState("");
  const [problem, setProblem] = useState<(SettingsCheck & { ok: false }) | null>(null);
  const [opening, setOpening] = useState("");
  const [openingProblem, setOpeningProblem] = useState("");
  const [openingRefused, setOpeningRefused] = useState<ApiError | null>(null);
  const retry = useRef<(() => void) | null>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const keepOpen = useRef<HTMLButtonElement>(null);

  /**
   * Shows `s`; the forms' fields too when `form` (not after a pause, which keeps what is typed),
   * or only the opening time's after it was set.
   */
  const show = (s: Sale, form: boolean | "opening") => {
    setSale(s);
    if (form === true) {
      setRate(String(s.admission_rate_per_sec));
      setHold(String(s.hold_seconds));
      setBits(String(s.join_challenge_bits ?? 0));
      setProblem(null);
    }
    if (form !== false) {
      setOpening(toLocalInput(s.on_sale_at));
      setOpeningProblem("");
    }
  };

  const read = (form: boolean) =>
    api.event(eventId).then(
      (e) => {
        show(e.sale, form);
        setLoadError(null);
      },
      (e) => setLoadError(e),
    );

  useEffect(() => {
    setDone("");
    void read(true);
    // (read is recreated each render; the event and the refresh decide when to read)
  }, [eventId, refresh]);

  useEffect(() => {
    if (confirming) keepOpen.current?.focus();
  }, [confirming]);

  const run = async (action: Action, call: (traceId: string) => Promise<Sale>) => {
    if (busy) return;
    setBusy(action);
    setError(null);
    setOpeningRefused(null);
    setDone("");
    try {
      const s = await call(newTraceId());
      show(s, action === "update" ? true : action === "opening" ? "opening" : false);
      setDone(outcome(action, s));
      retry.current = null;
    } catch (e) {
      // The server's refusal of an opening time is said by its form; anything else here.
      if (action === "opening" && refusedOpening(e)) setOpeningRefused(e);
      else setError(e);
      onError?.(e);
      retry.current = () => void run(action, call);
      // Whatever became of the action (a 409: someone closed the sale meanwhile), show the sale
      // as the server now has it.
      void read(false);
    } finally {
      setBusy(null);
      onAction();
    }
  };

  const pause = () => void run("pause", (t) => api.pauseSale(eventId, t));
  const resume = () => void run("resume", (t) => api.resumeSale(eventId, t));
  const close = () => {
    setConfirming(false);
    closeButton.current?.focus();
    void run("close", (t) => api.closeSale(eventId, t));
  };
  const cancelClose = () => {
    setConfirming(false);
    closeButton.current?.focus();
  };
  const onConfirmKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") cancelClose();
  };
  const save = (e: FormEvent) => {
    e.preventDefault();
    if (!sale) return;
    const check = checkSettings(sale, rate, hold, bits);
    if (!check.ok) {
      setProblem(check);
      setDone("");
      return;
    }
    setProblem(null);
    void run("update", (t) => api.updateSale(eventId, check.settings, t));
  };
  const saveOpening = (e: FormEvent) => {
    e.preventDefault();
    if (!sale) return;
    const check = checkOpening(opening, sale);
    if (!check.ok) {
      setOpeningProblem(check.message);
      setOpeningRefused(null);
      setDone("");
      return;
    }
    setOpeningProblem("");
    void run("opening", (t) => api.updateSale(eventId, { on_sale_at: check.on_sale_at }, t));
  };

  if (!sale) {
    return (
      <>
        {!loadError && <p aria-live="polite">Loading the sale…</p>}
        <ErrorBanner error={loadError} onRetry={() => void read(true)} />
      </>
    );
  }

  const closed = sale.state === "closed";
  // What the opening time's field says, in UTC as it would be sent.
  const openingPreview = checkOpening(opening, { ...sale, on_sale_at: undefined });
  // aria-disabled rather than disabled: a button that was just pressed keeps the keyboard focus.
  const can = { pause: sale.state === "open", resume: sale.state === "paused", close: !closed };
  const unless = (allowed: boolean, go: () => void) => () => {
    if (allowed && !busy) go();
  };
  return (
    <div className="sale" data-testid="sale" data-state={sale.state}>
      <dl className="facts">
        <dt>Sale</dt>
        <dd>
          <strong className={`sale-state sale-state-${sale.state}`} data-testid="sale-state">{saleStateLabel(sale.state)}</strong>{" "}
          <span className="muted">{saleStateMeaning(sale.state)}</span>
        </dd>
        <dt>Admission rate</dt>
        <dd data-testid="sale-rate">{formatRate(sale.admission_rate_per_sec)}</dd>
        <dt>Hold time</dt>
        <dd data-testid="sale-hold">{formatHold(sale.hold_seconds)}</dd>
        <dt>Proof of work at join</dt>
        <dd data-testid="sale-bits">{formatBits(sale.join_challenge_bits ?? 0)}</dd>
        <dt>Opening time</dt>
        <dd>
          {sale.on_sale_at ? (
            <>
              <time dateTime={sale.on_sale_at} data-testid="sale-opening">{formatOpening(sale.on_sale_at)}</time>{" "}
              <span className="muted">({formatLocalTime(sale.on_sale_at)} here)</span>
            </>
          ) : (
            <span data-testid="sale-opening">none: on sale from the start</span>
          )}
        </dd>
        <dt>Last changed</dt>
        <dd>{sale.changed_at ? <time dateTime={sale.changed_at}>{formatTimestamp(sale.changed_at)}</time> : "never"}</dd>
      </dl>

      <div className="actions" role="group" aria-label={`Sale of ${eventName}`}>
        <button type="button" className="button" aria-disabled={!can.pause || busy !== null} onClick={unless(can.pause, pause)}>
          Pause sale
        </button>
        <button type="button" className="button" aria-disabled={!can.resume || busy !== null} onClick={unless(can.resume, resume)}>
          Resume sale
        </button>
        <button
          type="button"
          ref={closeButton}
          className="button button-danger"
          aria-disabled={!can.close || busy !== null}
          aria-expanded={confirming}
          aria-controls={confirming ? "close-confirm" : undefined}
          onClick={unless(can.close, () => setConfirming(true))}
        >
          Close sale…
        </button>
      </div>

      {confirming && (
        <div id="close-confirm" className="banner banner-error" role="group" aria-labelledby="close-confirm-title" onKeyDown={onConfirmKey}>
          <p id="close-confirm-title" className="banner-title">Close the sale of {eventName} for good?</p>
          <p>
            Everyone still waiting is told that sales are closed, and nobody can join, enter or place a new hold. Holds already
            placed may still be paid. A closed sale cannot be reopened.
          </p>
          <div className="actions">
            <button type="button" className="button button-danger" onClick={close}>Yes, close the sale for good</button>
            <button type="button" ref={keepOpen} className="button" onClick={cancelClose}>Keep the sale</button>
          </div>
        </div>
      )}

      <div role="status" aria-live="polite">
        {busy && <p>{BUSY[busy]}</p>}
        {done && <p className="banner banner-success" data-testid="sale-done">{done}</p>}
      </div>
      <ErrorBanner error={error} onRetry={() => retry.current?.()} />
      {/* The sale could not be read again (after a Refresh or a failed action): what is shown is older. */}
      <ErrorBanner error={loadError} onRetry={() => void read(true)} />

      <form className="sale-settings" onSubmit={save} noValidate aria-labelledby="sale-settings-title">
        <h3 id="sale-settings-title">Settings</h3>
        {closed ? (
          <p className="muted">A closed sale cannot be changed.</p>
        ) : (
          <fieldset>
            <legend className="sr-only">Settings of the sale of {eventName}</legend>
            <label htmlFor="sale-rate-input">Admission rate (people per second)</label>
            <input
              id="sale-rate-input"
              type="number"
              inputMode="decimal"
              min={0}
              max={RATE_MAX}
              step="any"
              required
              value={rate}
              aria-invalid={problem?.field === "rate"}
              aria-describedby={problem?.field === "rate" ? "sale-rate-hint settings-problem" : "sale-rate-hint"}
              onChange={(e) => setRate(e.target.value)}
            />
            <p id="sale-rate-hint" className="muted small">Above 0, at most {RATE_MAX.toLocaleString("en-US")}. Takes effect within a second.</p>
            <label htmlFor="sale-hold-input">Hold time (seconds)</label>
            <input
              id="sale-hold-input"
              type="number"
              inputMode="numeric"
              min={HOLD_MIN}
              max={HOLD_MAX}
              step={1}
              required
              value={hold}
              aria-invalid={problem?.field === "hold"}
              aria-describedby={problem?.field === "hold" ? "sale-hold-hint settings-problem" : "sale-hold-hint"}
              onChange={(e) => setHold(e.target.value)}
            />
            <p id="sale-hold-hint" className="muted small">
              {HOLD_MIN} to {HOLD_MAX.toLocaleString("en-US")}, for holds placed from now on.
            </p>
            <label htmlFor="sale-bits-input">Proof of work at join (bits, 0 = off)</label>
            <input
              id="sale-bits-input"
              type="number"
              inputMode="numeric"
              min={0}
              max={BITS_MAX}
              step={1}
              required
              value={bits}
              aria-invalid={problem?.field === "bits"}
              aria-describedby={problem?.field === "bits" ? "sale-bits-hint settings-problem" : "sale-bits-hint"}
              onChange={(e) => setBits(e.target.value)}
            />
            <p id="sale-bits-hint" className="muted small" data-testid="sale-bits-hint">
              Bot friction: each join first solves a puzzle in the buyer's browser. {describeBits(Number(bits.trim() === "" ? NaN : bits))} For
              joins from now on.
            </p>
            <button type="submit" className="button button-primary" aria-disabled={busy !== null}>
              Save settings
            </button>
          </fieldset>
        )}
        {problem && (
          <p id="settings-problem" className="form-problem" role="alert" data-testid="settings-problem">
            {problem.message}
          </p>
        )}
      </form>

      <form className="sale-settings sale-opening" onSubmit={saveOpening} noValidate aria-labelledby="sale-opening-title">
        <h3 id="sale-opening-title">Opening time</h3>
        {closed ? (
          <p className="muted">A closed sale's opening time cannot be moved.</p>
        ) : (
          <fieldset>
            <legend className="sr-only">Opening time of the sale of {eventName}</legend>
            <label htmlFor="sale-opening-input">Opens at (your local time)</label>
            <input
              id="sale-opening-input"
              type="datetime-local"
              step={1}
              required
              value={opening}
              aria-invalid={openingProblem !== ""}
              aria-describedby={openingProblem ? "sale-opening-hint opening-problem" : "sale-opening-hint"}
              onChange={(e) => setOpening(e.target.value)}
            />
            <p id="sale-opening-hint" className="muted small" data-testid="sale-opening-hint">
              {openingPreview.ok ? `Sent as ${formatOpening(openingPreview.on_sale_at)}. ` : "Sent in UTC. "}
              Until then joins wait in a lobby, and everyone there gets a random place in line at the opening. It can be set or moved
              only while the opening is still ahead.
            </p>
            <button type="submit" className="button button-primary" aria-disabled={busy !== null}>
              Set opening time
            </button>
          </fieldset>
        )}
        {openingProblem && (
          <p id="opening-problem" className="form-problem" role="alert" data-testid="opening-problem">
            {openingProblem}
          </p>
        )}
        {openingRefused && (
          <div className="banner banner-error" role="alert" data-error-code={openingRefused.code} data-testid="opening-refused">
            <p className="banner-title">The opening time was not changed</p>
            <p>{openingRefused.message}</p>
            {openingRefused.traceId && <p className="muted small">Reference: {openingRefused.traceId}</p>}
          </div>
        )}
      </form>
    </div>
  );
}
