import { useEffect, useState } from "react";
import { apiUrl } from "../api/client";
import { loadConfig } from "../api/config";
import { Chart } from "../components/Chart";
import { derive, snapshot, type Point, type Snapshot } from "../lib/metrics";
import { parsePrometheus } from "../lib/prometheus";
import { useTitle } from "../lib/hooks";
import { newTraceId, traceparent } from "../lib/trace";

const POLL_MS = 2000;
const KEEP = 150; // five minutes of points

type State = { kind: "loading" } | { kind: "unavailable"; reason: string } | { kind: "ok" };

/** Operator dashboard: /metrics scraped every 2 s, charted live. */
export function OperatorPage() {
  useTitle("Operator");
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
        const res = await fetch(await apiUrl("/metrics"), {
          headers: { Accept: "text/plain", traceparent: traceparent(newTraceId()) },
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
    <section className="operator">
      <h1>Operator</h1>
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
