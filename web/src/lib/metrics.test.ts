import { describe, expect, it } from "vitest";
import { parsePrometheus } from "./prometheus";
import { bucketDelta, derive, histogramQuantile, snapshot } from "./metrics";

const TEXT = (holds: number, sales: number, b: [number, number, number, number]) => `
# HELP http_server_requests_total Requests.
# TYPE http_server_requests_total counter
http_server_requests_total{method="GET",route="/api/v1/events/{id}",status_code="200"} ${b[3]}
# TYPE http_server_requests_duration_seconds histogram
http_server_requests_duration_seconds_bucket{method="GET",route="/api/v1/events/{id}",le="0.005"} ${b[0]}
http_server_requests_duration_seconds_bucket{method="GET",route="/api/v1/events/{id}",le="0.01"} ${b[1]}
http_server_requests_duration_seconds_bucket{method="GET",route="/api/v1/events/{id}",le="0.1"} ${b[2]}
http_server_requests_duration_seconds_bucket{method="GET",route="/api/v1/events/{id}",le="+Inf"} ${b[3]}
http_server_requests_duration_seconds_sum{method="GET",route="/api/v1/events/{id}"} 0.5
http_server_requests_duration_seconds_count{method="GET",route="/api/v1/events/{id}"} ${b[3]}
reservation_status_total{status="HOLD"} ${holds}
reservation_status_total{status="CONFIRMED"} ${sales}
queue_length{event_id="evt_a"} 10
queue_length{event_id="evt_b"} 5
queue_admission_rate{event_id="evt_a"} 49.5
queue_admitted_total{event_id="evt_a"} 100
oversell_attempts_rejected_total{code="SEAT_UNAVAILABLE"} 3
oversell_attempts_rejected_total{code="INSUFFICIENT_INVENTORY"} 1
`;

describe("parsePrometheus", () => {
  it("reads names, labels (with escapes) and values", () => {
    const s = parsePrometheus('a_total{x="q\\"uote",y="back\\\\slash",z="n\\nl"} 3 1700000000\nb 1e3\nc{le="+Inf"} +Inf\n# comment\nbroken{x="} 1\n');
    expect(s).toEqual([
      { name: "a_total", labels: { x: 'q"uote', y: "back\\slash", z: "n\nl" }, value: 3 },
      { name: "b", labels: {}, value: 1000 },
      { name: "c", labels: { le: "+Inf" }, value: Infinity },
    ]);
  });
});

describe("histogramQuantile", () => {
  it("interpolates inside the bucket like PromQL", () => {
    const b = new Map([[0.1, 50], [0.2, 100], [Infinity, 100]]);
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.75, b)).toBeCloseTo(0.15);
  });
  it("is null without observations and caps at the largest finite bound", () => {
    expect(histogramQuantile(0.5, new Map([[0.1, 0], [Infinity, 0]]))).toBeNull();
    expect(histogramQuantile(0.99, new Map([[0.1, 1], [Infinity, 10]]))).toBe(0.1);
  });
  it("takes increases between scrapes, counting a reset from zero", () => {
    const d = bucketDelta(new Map([[0.1, 5], [Infinity, 9]]), new Map([[0.1, 7], [Infinity, 3]]));
    expect([...d]).toEqual([[0.1, 2], [Infinity, 3]]);
  });
});

describe("derive", () => {
  it("turns two scrapes into rates, gauges and quantiles", () => {
    const a = snapshot(parsePrometheus(TEXT(10, 4, [10, 20, 30, 30])), 100);
    const b = snapshot(parsePrometheus(TEXT(30, 8, [10, 30, 50, 50])), 102);
    expect(a.recognised).toBe(true);
    const p = derive(a, b);
    expect(p.queueLength).toBe(15);
    expect(p.admissionRate).toBe(49.5);
    expect(p.holdsPerSec).toBe(10);
    expect(p.salesPerSec).toBe(2);
    expect(p.requestsPerSec).toBe(10);
    expect(p.rejectedTotal).toBe(4);
    expect(p.rejectedPerSec).toBe(0);
    // 20 new requests: 10 in (0.005, 0.01], 10 in (0.01, 0.1]
    expect(p.p50).toBeCloseTo(0.01);
    expect(p.p95).toBeCloseTo(0.01 + 0.09 * 0.9);
  });
  it("knows when /metrics is not this platform's", () => {
    expect(snapshot(parsePrometheus("up 1\n"), 0).recognised).toBe(false);
  });
});
