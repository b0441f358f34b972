//! What the driver saw: a latency histogram and answer counts per route, and a per-second
//! timeline for the plot.
//!
//! Latencies go into HDR histograms (microseconds, three significant digits), so percentiles are
//! exact to 0.1% at any load and recording costs a few nanoseconds. One lock guards everything: at
//! the rates one machine can drive (tens of thousands of requests a second) an uncontended
//! `parking_lot` mutex costs less than the request's own allocations.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

/// The routes the driver calls while measuring (setup calls are not recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Join,
    Status,
    Enter,
    Reserve,
    Intent,
    Process,
    Reservation,
}

impl Route {
    /// The contract's name for the route, for reports.
    pub fn label(self) -> &'static str {
        match self {
            Route::Join => "POST /queue/join",
            Route::Status => "GET /queue/status",
            Route::Enter => "POST /queue/enter",
            Route::Reserve => "POST /reservations",
            Route::Intent => "POST /payments/intent",
            Route::Process => "POST /payments/process",
            Route::Reservation => "GET /reservations/{id}",
        }
    }
}

/// How one call ended, as counted in the report: `"202"`, `"409 INSUFFICIENT_INVENTORY"`,
/// `"transport: timeout"`.
pub type Answer = String;

/// Highest latency a histogram holds; anything slower is clamped (and shows as the max).
const MAX_LATENCY_US: u64 = 300_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

struct RouteStats {
    latency_us: Histogram<u64>,
    answers: BTreeMap<Answer, u64>,
}

/// One second of the run, all routes together.
struct Second {
    latency_us: Histogram<u64>,
    ok: u64,
    errors: u64,
}

struct Inner {
    routes: BTreeMap<Route, RouteStats>,
    timeline: Vec<Second>,
}

/// Shared by every virtual user of a run.
pub struct Recorder {
    started: Instant,
    inner: Mutex<Inner>,
}

impl Recorder {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            inner: Mutex::new(Inner {
                routes: BTreeMap::new(),
                timeline: Vec::new(),
            }),
        }
    }

    /// Counts one call of `route` that was due at `due` and ended now with `answer`.
    ///
    /// `due` is when the call *should* have started: in a fixed-rate run that is its slot in the
    /// schedule, not the moment the driver got round to sending it, so time spent queued behind
    /// a slow server counts against the server (no coordinated omission).
    pub fn record(&self, route: Route, due: Instant, answer: Answer, ok: bool) {
        let latency = due.elapsed();
        let us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        let second = due.saturating_duration_since(self.started).as_secs() as usize;
        let mut inner = self.inner.lock();
        let stats = inner.routes.entry(route).or_insert_with(|| RouteStats {
            latency_us: histogram(),
            answers: BTreeMap::new(),
        });
        stats.latency_us.saturating_record(us);
        *stats.answers.entry(answer).or_default() += 1;
        if inner.timeline.len() <= second {
            inner.timeline.resize_with(second + 1, || Second {
                latency_us: histogram(),
                ok: 0,
                errors: 0,
            });
        }
        let slot = &mut inner.timeline[second];
        slot.latency_us.saturating_record(us);
        if ok {
            slot.ok += 1;
        } else {
            slot.errors += 1;
        }
    }

    /// Requests answered so far, successful or not.
    pub fn total(&self) -> u64 {
        self.inner
            .lock()
            .routes
            .values()
            .map(|s| s.latency_us.len())
            .sum()
    }

    /// The figures of every route, for a run that lasted `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> (Vec<RouteSummary>, Vec<SecondSummary>) {
        let inner = self.inner.lock();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let routes = inner
            .routes
            .iter()
            .map(|(route, s)| {
                let errors: BTreeMap<Answer, u64> = s
                    .answers
                    .iter()
                    .filter(|(answer, _)| !is_success(answer))
                    .map(|(a, n)| (a.clone(), *n))
                    .collect();
                let failed: u64 = errors.values().sum();
                RouteSummary {
                    route: *route,
                    label: route.label(),
                    requests: s.latency_us.len(),
                    errors: failed,
                    per_sec: s.latency_us.len() as f64 / secs,
                    latency_ms: Percentiles::of(&s.latency_us),
                    answers: s.answers.clone(),
                }
            })
            .collect();
        let timeline = inner
            .timeline
            .iter()
            .enumerate()
            .map(|(t, s)| SecondSummary {
                second: t as u64,
                ok: s.ok,
                errors: s.errors,
                p50_ms: ms(s.latency_us.value_at_quantile(0.5)),
                p99_ms: ms(s.latency_us.value_at_quantile(0.99)),
            })
            .collect();
        (routes, timeline)
    }
}

/// Whether an answer counts as success: any 2xx.
pub fn is_success(answer: &str) -> bool {
    answer.starts_with('2')
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteSummary {
    pub route: Route,
    pub label: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub latency_ms: Percentiles,
    /// Every answer with its count, successes included: `{"202": 9120, "503 UNAVAILABLE": 3}`.
    pub answers: BTreeMap<Answer, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecondSummary {
    pub second: u64,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_when_the_call_was_due_not_when_it_was_sent() {
        let start = Instant::now()
            .checked_sub(Duration::from_millis(100))
            .expect("the clock is past 100 ms");
        let recorder = Recorder::new(start);
        // Due 50 ms ago (it waited behind others), answered now: 50 ms, not the time on the wire.
        recorder.record(
            Route::Join,
            start + Duration::from_millis(50),
            "202".into(),
            true,
        );
        recorder.record(Route::Join, Instant::now(), "503 UNAVAILABLE".into(), false);
        let (routes, timeline) = recorder.summary(Duration::from_secs(1));
        let join = &routes[0];
        assert_eq!((join.requests, join.errors), (2, 1));
        assert_eq!(join.answers["503 UNAVAILABLE"], 1);
        assert!(join.latency_ms.max >= 50.0, "{:?}", join.latency_ms);
        assert_eq!((timeline[0].ok, timeline[0].errors), (1, 1));
    }
}
