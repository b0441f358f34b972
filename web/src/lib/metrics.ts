/**
 * What the operator page charts, from two scrapes of /metrics (names fixed in the shared
 * interfaces): gauges as read, counters as per-second rates between scrapes, latency quantiles
 * from the histogram buckets' increase between scrapes.
 */

import type { Sample } from "./prometheus";

export interface Snapshot {
  /** Seconds since the epoch when scraped. */
  at: number;
  queueLength: number;
  admissionRate: number;
  admittedTotal: number;
  statusTotals: Record<string, number>;
  /** Cumulative request-duration buckets summed over all routes: upper bound → count. */
  buckets: Map<number, number>;
  requestsTotal: number;
  rejected: Record<string, number>;
  /** Whether the expected metric names were present at all. */
  recognised: boolean;
}

export interface Point {
  at: number;
  queueLength: number;
  admissionRate: number;
  holdsPerSec: number;
  salesPerSec: number;
  expiriesPerSec: number;
  requestsPerSec: number;
  p50: number | null;
  p95: number | null;
  rejectedTotal: number;
  rejectedPerSec: number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function snapshot(samples: Sample[], at: number): Snapshot {
  const of = (name: string) => samples.filter((s) => s.name === name);
  const statusTotals: Record<string, number> = {};
  for (const s of of("reservation_status_total")) {
    const k = s.labels.status ?? "";
    statusTotals[k] = (statusTotals[k] ?? 0) + s.value;
  }
  const rejected: Record<string, number> = {};
  for (const s of of("oversell_attempts_rejected_total")) {
    const k = s.labels.code ?? "";
    rejected[k] = (rejected[k] ?? 0) + s.value;
  }
  const buckets = new Map<number, number>();
  for (const s of of("http_server_requests_duration_seconds_bucket")) {
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    if (Number.isNaN(le)) continue;
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const names = new Set(samples.map((s) => s.name));
  return {
    at,
    queueLength: sum(of("queue_length").map((s) => s.value)),
    admissionRate: sum(of("queue_admission_rate").map((s) => s.value)),
    admittedTotal: sum(of("queue_admitted_total").map((s) => s.value)),
    statusTotals,
    buckets,
    requestsTotal: sum(of("http_server_requests_total").map((s) => s.value)),
    rejected,
    recognised: names.has("http_server_requests_total") || names.has("http_server_requests_duration_seconds_bucket"),
  };
}

/**
 * The `q` quantile of a cumulative histogram (upper bound → count), interpolated linearly
 * inside the bucket, as PromQL's `histogram_quantile`. Null when there were no observations.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | null {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  if (sorted.length === 0) return null;
  const total = sorted[sorted.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound; // beyond the largest finite bucket
      if (count === prevCount) return bound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/** Increase of each bucket between two scrapes (a counter reset counts from zero). */
export function bucketDelta(prev: Map<number, number>, cur: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, c] of cur) {
    const p = prev.get(le) ?? 0;
    out.set(le, c >= p ? c - p : c);
  }
  return out;
}

function rate(prev: number, cur: number, dt: number): number {
  if (dt <= 0) return 0;
  return (cur >= prev ? cur - prev : cur) / dt;
}

/** The chart point between two consecutive scrapes. */
export function derive(prev: Snapshot, cur: Snapshot): Point {
  const dt = cur.at - prev.at;
  const st = (s: Snapshot, k: string) => s.statusTotals[k] ?? 0;
  const rejectedPrev = sum(Object.values(prev.rejected));
  const rejectedCur = sum(Object.values(cur.rejected));
  const delta = bucketDelta(prev.buckets, cur.buckets);
  return {
    at: cur.at,
    queueLength: cur.queueLength,
    admissionRate: cur.admissionRate,
    holdsPerSec: rate(st(prev, "HOLD"), st(cur, "HOLD"), dt),
    salesPerSec: rate(st(prev, "CONFIRMED"), st(cur, "CONFIRMED"), dt),
    expiriesPerSec: rate(st(prev, "EXPIRED"), st(cur, "EXPIRED"), dt),
    requestsPerSec: rate(prev.requestsTotal, cur.requestsTotal, dt),
    p50: histogramQuantile(0.5, delta),
    p95: histogramQuantile(0.95, delta),
    rejectedTotal: rejectedCur,
    rejectedPerSec: rate(rejectedPrev, rejectedCur, dt),
  };
}
