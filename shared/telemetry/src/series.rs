//! The operator's metric series, defined once for every sink.
//!
//! Everything is recorded through the [`metrics`] facade, so the same calls feed whichever
//! recorder the process installed: Prometheus text on `GET /metrics` for the embedded server and
//! the container ([`prometheus`]), CloudWatch Embedded Metric Format lines for the Lambda functions
//! (`tacos-lambda`'s `metrics` module). Names, labels and units live here and nowhere else; the
//! Grafana dashboard (`deploy/grafana/traffic-tacos.json`) queries exactly these names, and
//! `scripts/metrics_check.py` checks that against a live scrape; the CloudWatch dashboard of
//! `template.yaml` queries them too (`deploy/check_cloudwatch.py` checks names and dimensions).
//!
//! | series | kind | labels |
//! |---|---|---|
//! | `http_server_requests_total` | counter | `method`, `route` (template), `status_code` |
//! | `http_server_requests_duration_seconds` | histogram | `method`, `route` |
//! | `reservation_status_total` | counter | `status` (HOLD, CONFIRMED, CANCELLED, EXPIRED) |
//! | `backend_call_duration_seconds` | histogram | `service` (store, scheduler, bus, webhook, jwks), `method` |
//! | `hold_expiry_lag_seconds` | histogram | none |
//! | `queue_length` | gauge | `event_id` |
//! | `queue_admission_rate` | gauge | `event_id` |
//! | `queue_admitted_total` | counter | `event_id` |
//! | `oversell_attempts_rejected_total` | counter | `code` |
//! | `swept_jobs_total` | counter | `outcome` (done, failed): jobs of lost timers the AWS sweeper ran |
//!
//! Outside the table, since the Lambda functions accept no connections and never write it (the
//! table is what the CloudWatch dashboard must show: `deploy/check_cloudwatch.py`): the servers
//! that accept connections themselves count those they close on accepting,
//! `http_connections_refused_total` (counter, `limit`: per_address, total), on their Prometheus
//! scrape and the Grafana dashboard.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge};

use tacos_core::ports::DetailType;

pub const HTTP_REQUESTS: &str = "http_server_requests_total";
pub const HTTP_DURATION: &str = "http_server_requests_duration_seconds";
pub const RESERVATION_STATUS: &str = "reservation_status_total";
pub const BACKEND_CALL_DURATION: &str = "backend_call_duration_seconds";
pub const QUEUE_LENGTH: &str = "queue_length";
pub const QUEUE_ADMISSION_RATE: &str = "queue_admission_rate";
pub const QUEUE_ADMITTED: &str = "queue_admitted_total";
pub const OVERSELL_REJECTED: &str = "oversell_attempts_rejected_total";
/// How late a hold's expiry ran (seconds after `hold_expires_at`): the timer's lag, which an
/// alarm of the AWS deployment watches (a lost timer shows as a lag of a whole sweep).
pub const HOLD_EXPIRY_LAG: &str = "hold_expiry_lag_seconds";
/// Jobs the AWS deployment's sweeper found in the ledger of due work and ran (`tacos_core::sweep`):
/// mostly work its timer had already done (a no-op), and the work of timers that were lost. Like
/// [`HOLD_EXPIRY_LAG`], only the AWS deployment records it (the embedded server journals its timers
/// instead), so it is not in [`ALL`].
pub const SWEPT_JOBS: &str = "swept_jobs_total";

/// Connections the embedded server or the container closed on accepting them, over their address's
/// share or the total (`tacos_http::server`). Only servers that accept connections themselves
/// record it (not the Lambda functions), so it is not in [`ALL`].
pub const HTTP_CONNECTIONS_REFUSED: &str = "http_connections_refused_total";

/// Follow-up messages the container's worker or the `payment-followup` function took off the SQS
/// queue, by `outcome`: `handled` (and deleted), `deferred` (failed because a dependency was away:
/// left for a later delivery, the message is fine), `failed` (failed otherwise: left for
/// redelivery; the queue dead-letters a message's tenth failed delivery) and `given_back`
/// (received, then returned to the queue at a stop: the worker only). Only the follow-up's
/// consumers record it, so it is not in [`ALL`].
pub const FOLLOWUP_MESSAGES: &str = "followup_messages_total";
/// Every `outcome` of [`FOLLOWUP_MESSAGES`].
pub const FOLLOWUP_OUTCOMES: &[&str] = &["handled", "deferred", "failed", "given_back"];

/// Every series name, for checks that a scrape or a dashboard covers them all.
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    RESERVATION_STATUS,
    BACKEND_CALL_DURATION,
    QUEUE_LENGTH,
    QUEUE_ADMISSION_RATE,
    QUEUE_ADMITTED,
    OVERSELL_REJECTED,
];

/// The `route` of a request that matched no route (a 404 of an unknown path): one series for all
/// of them, so a scanner cannot grow the label set without bound.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Histogram buckets of every duration series, in seconds: from a cache hit to a slow AWS call
/// that times out (the operation timeout is 9 s).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Error codes that are a rejected attempt to sell what is no longer there.
pub const OVERSELL_CODES: &[&str] = &["SEAT_UNAVAILABLE", "INSUFFICIENT_INVENTORY"];

/// Every `status` of `reservation_status_total`.
pub const RESERVATION_STATUSES: &[&str] = &["HOLD", "CONFIRMED", "CANCELLED", "EXPIRED"];

/// Registers descriptions and units with the installed recorder (once per process; harmless
/// before a recorder is installed, but then lost, so sinks call it after installing theirs), and
/// the counters of a fixed label set at zero, so a dashboard's `rate()` sees them from the start
/// rather than from their first increment (a sink that skips zeros, like EMF, writes nothing).
pub fn describe() {
    for status in RESERVATION_STATUSES {
        counter!(RESERVATION_STATUS, "status" => *status).increment(0);
    }
    for code in OVERSELL_CODES {
        counter!(OVERSELL_REJECTED, "code" => *code).increment(0);
    }
    for limit in ["per_address", "total"] {
        counter!(HTTP_CONNECTIONS_REFUSED, "limit" => limit).increment(0);
    }
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests answered, by route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to its headers), by route template"
    );
    describe_counter!(
        RESERVATION_STATUS,
        Unit::Count,
        "Reservations that entered a status: HOLD (held), CONFIRMED (sold), CANCELLED, EXPIRED"
    );
    describe_histogram!(
        BACKEND_CALL_DURATION,
        Unit::Seconds,
        "Time of one call to a port (store, scheduler, bus), by port method"
    );
    describe_gauge!(
        QUEUE_LENGTH,
        Unit::Count,
        "People waiting in the event's queue (not yet admitted, not gone)"
    );
    describe_gauge!(
        QUEUE_ADMISSION_RATE,
        Unit::CountPerSecond,
        "Admissions per second as the waiting room measures them (smoothed)"
    );
    describe_counter!(
        QUEUE_ADMITTED,
        Unit::Count,
        "People the waiting room has admitted for the event, since it was created"
    );
    describe_histogram!(
        HOLD_EXPIRY_LAG,
        Unit::Seconds,
        "How long after its hold_expires_at a hold was expired"
    );
    describe_counter!(
        SWEPT_JOBS,
        Unit::Count,
        "Jobs of the ledger of due work run by the sweeper, by outcome"
    );
    describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections closed on accepting them: over their address's share or the total, by limit"
    );
    describe_counter!(
        FOLLOWUP_MESSAGES,
        Unit::Count,
        "Follow-up messages the worker or payment-followup took off the queue: handled, deferred, failed, given_back"
    );
    describe_counter!(
        OVERSELL_REJECTED,
        Unit::Count,
        "Holds refused because the seats or inventory were no longer there (409)"
    );
}

/// One sweep ran `jobs` jobs, of which `failed` failed (and were filed again).
pub fn swept_jobs(jobs: u32, failed: u32) {
    counter!(SWEPT_JOBS, "outcome" => "done").increment(u64::from(jobs.saturating_sub(failed)));
    counter!(SWEPT_JOBS, "outcome" => "failed").increment(u64::from(failed));
}

/// `count` follow-up messages ended in `outcome` (one of [`FOLLOWUP_OUTCOMES`]).
pub fn followup_messages(outcome: &'static str, count: u64) {
    counter!(FOLLOWUP_MESSAGES, "outcome" => outcome).increment(count);
}

/// A hold expired `lag` after it was due.
pub fn hold_expiry_lag(lag: Duration) {
    metrics::histogram!(HOLD_EXPIRY_LAG).record(lag.as_secs_f64());
}

/// One HTTP request answered. `route` is the matched template, or [`UNMATCHED_ROUTE`].
pub fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    handles::http(method, route, status, |(requests, duration)| {
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// The status a domain event moves a reservation into, if it is one of the counted ones.
pub fn reservation_status(kind: DetailType) -> Option<&'static str> {
    match kind {
        DetailType::ReservationHeld => Some("HOLD"),
        DetailType::ReservationConfirmed => Some("CONFIRMED"),
        DetailType::ReservationCancelled => Some("CANCELLED"),
        DetailType::ReservationExpired => Some("EXPIRED"),
        DetailType::PaymentApproved | DetailType::PaymentFailed | DetailType::PaymentRefunded => {
            None
        }
    }
}

/// A reservation entered `status` (one of [`reservation_status`]'s).
pub fn reservation_entered(status: &'static str) {
    counter!(RESERVATION_STATUS, "status" => status).increment(1);
}

/// One call to a port: `service` is the port (`store`, `scheduler`, `bus`), `method` its method.
pub fn backend_call(service: &'static str, method: &'static str, elapsed: Duration) {
    handles::backend(service, method, |duration| {
        duration.record(elapsed.as_secs_f64())
    });
}

/// The handles of the per-request series, registered once per label set.
///
/// Registering a series (what `counter!`/`histogram!` do on every call) builds its key, hashes it
/// and looks it up in the recorder's registry: on a status request, with the five store calls it
/// makes, that was a tenth of its instructions. Each thread keeps its own handles (the workers of
/// a busy server would otherwise share one lock's counter and each handle's reference count, a
/// cache line moved between cores at every request); a handle made on any thread records into
/// the one series the recorder keeps. A handle is bound to the recorder installed when it was
/// made, so [`forget`] makes every thread drop its handles when a recorder is installed (the
/// embedded server seeds its demo event before its first scrape installs Prometheus).
pub(crate) mod handles {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU64, Ordering};

    // foldhash, not the standard map's SipHash: the keys are the process's own (methods, route
    // templates, statuses), and a request's answer looks them up twice.
    use hashbrown::HashMap;

    use metrics::{counter, histogram, Counter, Histogram};

    use super::{BACKEND_CALL_DURATION, HTTP_DURATION, HTTP_REQUESTS};

    /// A request's counter and duration histogram.
    type Http = (Counter, Histogram);

    /// One thread's handles, made under recorder `generation`.
    #[derive(Default)]
    struct Handles {
        generation: u64,
        /// By (method, status), then route: the route is looked up by `&str`, without allocating.
        http: HashMap<(&'static str, u16), HashMap<String, Http>>,
        backend: HashMap<(&'static str, &'static str), Histogram>,
    }

    impl Handles {
        /// This thread's handles, dropped first if a recorder was installed since they were made.
        fn with<R>(f: impl FnOnce(&mut Handles) -> R) -> R {
            HANDLES.with_borrow_mut(|handles| {
                let generation = GENERATION.load(Ordering::Acquire);
                if handles.generation != generation {
                    *handles = Handles {
                        generation,
                        ..Handles::default()
                    };
                }
                f(handles)
            })
        }
    }

    /// Raised by [`forget`]: handles of an older generation record nowhere.
    static GENERATION: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        static HANDLES: RefCell<Handles> = RefCell::default();
    }

    /// Calls `f` with the series of a request (`method`, `route`, `status`).
    pub fn http<R>(
        method: &'static str,
        route: &str,
        status: u16,
        f: impl FnOnce(&Http) -> R,
    ) -> R {
        Handles::with(|handles| {
            let by_route = handles.http.entry((method, status)).or_default();
            if let Some(found) = by_route.get(route) {
                return f(found);
            }
            let made = by_route.entry(route.to_string()).or_insert_with(|| {
                (
                    counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_string(), "status_code" => status.to_string()),
                    histogram!(HTTP_DURATION, "method" => method, "route" => route.to_string()),
                )
            });
            f(made)
        })
    }

    /// Calls `f` with the call-duration histogram of a port's method.
    pub fn backend<R>(
        service: &'static str,
        method: &'static str,
        f: impl FnOnce(&Histogram) -> R,
    ) -> R {
        Handles::with(|handles| {
            f(handles.backend.entry((service, method)).or_insert_with(
                || histogram!(BACKEND_CALL_DURATION, "service" => service, "method" => method),
            ))
        })
    }

    /// Drops every thread's handles: the next use registers with the recorder installed now.
    pub fn forget() {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
}

/// Called after a process installs its metrics recorder: handles made before it would record
/// nowhere.
pub fn recorder_installed() {
    handles::forget();
}

/// A connection closed on accepting it, over `limit` (`per_address` or `total`).
pub fn connection_refused(limit: &'static str) {
    counter!(HTTP_CONNECTIONS_REFUSED, "limit" => limit).increment(1);
}

/// A hold refused with `code` (one of [`OVERSELL_CODES`]).
pub fn oversell_rejected(code: &'static str) {
    counter!(OVERSELL_REJECTED, "code" => code).increment(1);
}

/// What the waiting room reports of one event's queue.
pub fn queue(event_id: &str, waiting: u64, admission_rate: f64, admitted: u64) {
    let id = event_id.to_string();
    gauge!(QUEUE_LENGTH, "event_id" => id.clone()).set(waiting as f64);
    gauge!(QUEUE_ADMISSION_RATE, "event_id" => id.clone()).set(admission_rate);
    // The waiting room keeps the total itself (in the queue's state, shared by every instance),
    // so the counter is set to it rather than incremented: every instance reports the same
    // global count, and a restart does not reset it.
    counter!(QUEUE_ADMITTED, "event_id" => id).absolute(admitted);
}

/// The process's Prometheus recorder, installed on first use, and the handle that renders it.
///
/// `metrics-exporter-prometheus` is the `metrics` project's own exporter (same maintainers,
/// released with the facade); without its default features it is only the recorder and the text
/// renderer: no HTTP listener or push gateway of its own, since `/metrics` is a route of the
/// platform's router. A process that already has another recorder (a Lambda function's EMF one)
/// gets a handle that renders nothing rather than a panic.
pub fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(DURATION_BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => {
                recorder_installed();
                describe();
                // Histogram samples wait in buffers until drained; a process nobody scrapes for
                // a long load run would keep every one of them.
                let upkeep = handle.clone();
                std::thread::Builder::new()
                    .name("metrics-upkeep".into())
                    .spawn(move || loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    })
                    .expect("metrics upkeep thread");
            }
            Err(_) => tracing::warn!("another metrics recorder is installed; /metrics stays empty"),
        }
        handle
    })
}

/// The value of one series as `/metrics` renders it now, `series` written as the exposition
/// writes it (`followup_messages_total{outcome="handled"}`); 0 before it has one. For tests and
/// checks that read a count back through the exposition an operator scrapes.
pub fn rendered_value(series: &str) -> f64 {
    prometheus()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    /// The count of `route`'s 200s in `rendered`, if it is there.
    fn count(rendered: &str, route: &str) -> Option<u64> {
        let label = format!("route=\"{route}\"");
        rendered
            .lines()
            .find(|line| line.starts_with(HTTP_REQUESTS) && line.contains(&label))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn requests_on_any_thread_count_in_one_series_of_the_recorder_installed_last() {
        let route = "/tests/handles";
        let first = PrometheusBuilder::new().build_recorder();
        let second = PrometheusBuilder::new().build_recorder();
        let served = || http_request("GET", route, 200, Duration::from_millis(3));
        metrics::with_local_recorder(&first, served);
        // Another thread's handles, made for the same recorder: the same series.
        std::thread::scope(|scope| {
            scope.spawn(|| metrics::with_local_recorder(&first, served));
        });
        assert_eq!(count(&first.handle().render(), route), Some(2));

        // A recorder installed since: this thread's handles are made again, for it.
        recorder_installed();
        metrics::with_local_recorder(&second, served);
        assert_eq!(count(&second.handle().render(), route), Some(1));
        assert_eq!(count(&first.handle().render(), route), Some(2));
    }
}
