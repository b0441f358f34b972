import { useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router";
import { api, apiUrl } from "../api/client";
import { loadConfig } from "../api/config";
import { getSession } from "../api/session";
import { ApiError } from "../api/errors";
import type { EventInfo } from "../api/types";
import { AuditLog } from "../components/AuditLog";
import { Chart } from "../components/Chart";
import { ErrorBanner } from "../components/ErrorBanner";
import { SaleControls } from "../components/SaleControls";
import { derive, snapshot, type Point, type Snapshot } from "../lib/metrics";
import { parsePrometheus } from "../lib/prometheus";
import { useSession, useTitle } from "../lib/hooks";
import { newTraceId, traceparent } from "../lib/trace";
import { AuthForm } from "./LoginPage";

const POLL_MS = 2000;
const KEEP = 150; // five minutes of points

type State = { kind: "loading" } | { kind: "unavailable"; reason: string } | { kind: "ok" };

/** Operator page: a sale's controls and audit log (an administrator's), and the live metrics. */
export function OperatorPage() {
  useTitle("Operator");
  return (
    <section className="operator">
      <h1>Operator</h1>
      <SaleOperations />
      <Metrics />
    </section>
  );
}

/**
 * An administrator signs in (the app's own session), picks an event (`?event=` in the address,
 * so a reload or a link keeps it) and steers its sale; the audit log of that sale follows.
 */
function SaleOperations() {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const [events, setEvents] = useState<EventInfo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [refresh, setRefresh] = useState(0);
  const [actions, setActions] = useState(0);

  const chosen = params.get("event");
  const event = events?.find((e) => e.event_id === chosen) ?? (chosen ? undefined : events?.[0]);
  const choose = (id: string) => setParams({ event: id }, { replace: true });
  const onAction = useCallback(() => setActions((n) => n + 1), []);
  // A 401 (the token expired or was refused) ends the session, and with it the controls that
  // were told: the page keeps saying why until the operator has logged in again. The first 401
  // is the reason; requests already under way when it ended the session come back 401 too (sent
  // without a token by then) and must not replace it.
  const [ended, setEnded] = useState<unknown>(null);
  const onError = useCallback((e: unknown) => {
    if (e instanceof ApiError && e.status === 401) setEnded((first: unknown) => first ?? e);
  }, []);
  // The events' own read is told too: after a reload with a refused token it is the first (and
  // may be the only) request to come back 401.
  const load = useCallback(() => {
    setError(null);
    api.events().then(setEvents, (e: unknown) => {
      setError(e);
      onError(e);
    });
  }, [onError]);
  useEffect(load, [load]);
  useEffect(() => {
    if (session) setEnded(null);
  }, [session]);

  return (
    <>
      <section aria-labelledby="sale-title" className="sale-operations">
        <h2 id="sale-title">Sale controls</h2>
        {session?.role !== "admin" && (
          <>
            {session ? (
              <p className="banner banner-info" role="status">
                You are logged in as {session.username}, who is not an administrator: the server refuses these controls to this
                account. Log in as an administrator to operate a sale.
              </p>
            ) : (
              <>
                <ErrorBanner error={ended} />
                <p>Pausing, resuming or closing a sale, and changing its rate or hold time, need an administrator's account.</p>
              </>
            )}
            {/* Afresh for each account: after a buyer's login it asks for the administrator's again. */}
            <AuthForm key={session?.user_id ?? ""} mode="login" title="Log in as an administrator" initialUsername="admin" onDone={() => undefined} />
          </>
        )}
        {session && (
          <>
            <ErrorBanner error={error} onRetry={load} />
            {events === null && !error && <p aria-live="polite">Loading events…</p>}
            {events?.length === 0 && <p>There are no events.</p>}
            {events && events.length > 0 && (
              <div className="sale-picker">
                <div>
                  <label htmlFor="operator-event">Event</label>
                  <select id="operator-event" value={event?.event_id ?? ""} onChange={(e) => choose(e.target.value)}>
                    {!event && <option value="">Choose an event</option>}
                    {events.map((e) => (
                      <option key={e.event_id} value={e.event_id}>
                        {e.name} ({e.event_id})
                      </option>
                    ))}
                  </select>
                </div>
                <button
                  type="button"
                  className="button"
                  onClick={() => {
                    load();
                    setRefresh((n) => n + 1);
                  }}
                >
                  Refresh
                </button>
              </div>
            )}
            {chosen && events && !event && (
              <p className="banner banner-error" role="alert">
                There is no event <code>{chosen}</code>. Choose one from the list.
              </p>
            )}
            {event && (
              <SaleControls key={`${event.event_id} ${session.user_id}`} eventId={event.event_id} eventName={event.name} refresh={refresh} onAction={onAction} onError={onError} />
            )}
          </>
        )}
      </section>
      {session && event && (
        <section aria-labelledby="audit-title" className="audit-section">
          <h2 id="audit-title">Audit log</h2>
          <AuditLog
            key={`${event.event_id} ${session.user_id}`}
            eventId={event.event_id}
            eventName={event.name}
            version={refresh + actions}
            you={session.user_id}
            onError={onError}
          />
        </section>
      )}
    </>
  );
}

/** The live metrics: /metrics scraped every 2 s, charted. */
function Metrics() {
  const [points, setPoints] = useState<Point[]>([]);
  const [last, setLast] = useState<Snapshot | null>(null);
  const [state, setState] = useState<State>({ kind: "loading" });
  // On AWS Lambda no process keeps the series to scrape: the stack's CloudWatch dashboard has them.
  const [dashboard, setDashboard] = useState<string | null>(null);
  useEffect(() => {
    void loadConfig().then((c) => setDashboard(c.metrics_dashboard_url));
  }, []);

  useEffect(() => {
    let prev: Snapshot | null = null;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const scrape = async () => {
      try {
        // The signed-in operator's token: a deployment that sets TACOS_METRICS_TOKEN serves the
        // metrics to it (and to the scraper's token) only.
        const session = getSession();
        const res = await fetch(await apiUrl("/metrics"), {
          headers: {
            Accept: "text/plain",
            traceparent: traceparent(newTraceId()),
            ...(session ? { Authorization: `Bearer ${session.token}` } : {}),
          },
          cache: "no-store",
        });
        if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
        const snap = snapshot(parsePrometheus(await res.text()), Date.now() / 1000);
        if (stopped) return;
        if (!snap.recognised) throw new Error("/metrics has none of the expected metrics");
        if (prev) {
          const p = derive(prev, snap);
          setPoints((ps) => [...ps, p].slice(-KEEP));
        }
        prev = snap;
        setLast(snap);
        setState({ kind: "ok" });
      } catch (e) {
        if (!stopped) setState({ kind: "unavailable", reason: e instanceof Error ? e.message : String(e) });
      }
      if (!stopped) timer = setTimeout(scrape, POLL_MS);
    };
    void scrape();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  const x = points.map((p) => p.at);
  const latest = points[points.length - 1];
  const ms = (v: number | null) => (v == null ? null : v * 1000);
  return (
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">Live metrics</h2>
      <p className="muted">Live from <code>/metrics</code>, every 2 seconds.</p>
      {state.kind === "loading" && <p aria-live="polite">Loading metrics…</p>}
      {state.kind === "unavailable" && (
        <div className="banner banner-error" role="alert" data-error-code="METRICS_UNAVAILABLE">
          <p className="banner-title">Metrics unavailable</p>
          <p>The server's metrics cannot be read right now ({state.reason}). Retrying every 2 seconds.</p>
          {dashboard && (
            <p data-testid="metrics-dashboard">
              This deployment's functions report their metrics to CloudWatch:{" "}
              <a href={dashboard} target="_blank" rel="noopener noreferrer">open the operator dashboard</a>.
            </p>
          )}
        </div>
      )}
      {last && (
        <dl className="tiles" aria-live="polite" data-testid="metric-tiles">
          <div><dt>In the queue</dt><dd data-testid="tile-queue">{last.queueLength}</dd></div>
          <div><dt>Admitted</dt><dd>{last.admittedTotal}</dd></div>
          <div><dt>Holds</dt><dd data-testid="tile-holds">{last.statusTotals.HOLD ?? 0}</dd></div>
          <div><dt>Sales</dt><dd data-testid="tile-sales">{last.statusTotals.CONFIRMED ?? 0}</dd></div>
          <div><dt>Expired</dt><dd>{last.statusTotals.EXPIRED ?? 0}</dd></div>
          <div><dt>Oversell attempts rejected</dt><dd data-testid="tile-rejected">{Object.values(last.rejected).reduce((a, b) => a + b, 0)}</dd></div>
          <div><dt>Latency p50 / p95</dt><dd>{latest?.p50 != null ? `${(latest.p50 * 1000).toFixed(1)} / ${((latest.p95 ?? 0) * 1000).toFixed(1)} ms` : "–"}</dd></div>
        </dl>
      )}
      {/* Charts once a scrape has worked: empty axes would look like a quiet on-sale. */}
      {last && (
        <div className="charts" data-points={points.length}>
          <Chart
            title="Waiting room"
            series={[{ label: "Queue length", color: "#1b5e9e", digits: 0 }, { label: "Admissions/s", color: "#a3470b" }]}
            data={[x, points.map((p) => p.queueLength), points.map((p) => p.admissionRate)]}
          />
          <Chart
            title="Holds and sales per second"
            series={[{ label: "Holds/s", color: "#1b5e9e" }, { label: "Sales/s", color: "#1e7b34" }, { label: "Expiries/s", color: "#a3470b" }]}
            data={[x, points.map((p) => p.holdsPerSec), points.map((p) => p.salesPerSec), points.map((p) => p.expiriesPerSec)]}
          />
          <Chart
            title="Request latency"
            unit="ms"
            series={[{ label: "p50", color: "#1e7b34" }, { label: "p95", color: "#b3261e" }]}
            data={[x, points.map((p) => ms(p.p50)), points.map((p) => ms(p.p95))]}
          />
          <Chart
            title="Rejected oversell attempts"
            series={[{ label: "Total", color: "#b3261e", digits: 0 }, { label: "Per second", color: "#6b3fa0" }]}
            data={[x, points.map((p) => p.rejectedTotal), points.map((p) => p.rejectedPerSec)]}
          />
        </div>
      )}
    </section>
  );
}
