//! The operator's series as CloudWatch Embedded Metric Format: metrics as structured log lines,
//! which CloudWatch turns into metrics without an agent or an API call on the request path.
//!
//! The series are the ones the embedded server and the container expose on `GET /metrics`
//! ([`tacos_telemetry::series`]), recorded by the same code (the HTTP layer, the
//! instrumented ports): only the sink differs. `metrics_cloudwatch_embedded` is the `metrics`
//! recorder that writes EMF; each invocation ends with [`flush`], one line per label set, whose
//! labels are the metric's dimensions (so `http_server_requests_total` has the dimensions
//! `method`, `route`, `status_code`, as the Prometheus series has those labels), with the
//! function's name as a property (searchable in Logs Insights, not a dimension).
//!
//! * Counters are emitted as the increase since the last flush (read them with `Sum`), except
//!   `queue_admitted_total`, which the waiting room keeps as a running total (read it with
//!   `Maximum`).
//! * Histograms are emitted as their values (up to 100 per flush, far more than one invocation
//!   records), so CloudWatch keeps percentiles: `p50`, `p95`, `p99` of
//!   `http_server_requests_duration_seconds`.
//! * The queue gauges come from `queue-status`, at most every 10 s per instance, for the events
//!   that instance has served statuses for.

use std::io::Write;
use std::sync::OnceLock;

use metrics_cloudwatch_embedded::Collector;

/// The CloudWatch namespace of every series.
pub const NAMESPACE: &str = "TrafficTacos";

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Installs the EMF recorder for `function` (once per process; the first call wins).
pub fn install(function: &'static str) {
    COLLECTOR.get_or_init(|| {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .init()
            .expect("no other metrics recorder in a Lambda function");
        collector.set_property("function", function);
        tacos_telemetry::series::recorder_installed();
        tacos_telemetry::series::describe();
        collector
    });
}

/// Writes what was recorded since the last flush as EMF lines on stdout (each a line of its own,
/// not wrapped in a log event), and exports the invocation's spans. Called before an invocation
/// returns: a frozen sandbox writes nothing.
pub fn flush() {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = flush_to(&mut stdout).and_then(|()| stdout.flush()) {
        tracing::warn!(%error, "metrics not written");
    }
    tacos_telemetry::flush();
}

/// Writes what was recorded since the last flush to `out`, as EMF lines.
pub fn flush_to(out: &mut impl Write) -> std::io::Result<()> {
    match COLLECTOR.get() {
        Some(collector) => collector.flush(out),
        None => Ok(()),
    }
}

/// What one `ws-push` invocation pushed, summed over its ticks (Lambda only: the embedded server's
/// local WebSocket endpoint is not an operator series).
pub fn live_push(report: &tacos_core::domain::live_updates::TickReport) {
    metrics::gauge!("live_connections").set(report.connections as f64);
    metrics::counter!("live_frames_sent_total").increment(report.sent as u64);
    metrics::counter!("live_connections_gone_total").increment(report.gone as u64);
    metrics::counter!("live_connections_closed_total").increment(report.closed as u64);
    metrics::counter!("live_push_failures_total").increment(report.failed as u64);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;
    use tacos_telemetry::series;

    use super::*;

    /// The EMF documents of one flush, by metric name: (dimension names, value, the line).
    fn flushed() -> Vec<(Vec<String>, Value)> {
        let mut out = Vec::new();
        flush_to(&mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| {
                let doc: Value = serde_json::from_str(line).unwrap();
                let spec = &doc["_aws"]["CloudWatchMetrics"][0];
                assert_eq!(spec["Namespace"], NAMESPACE);
                let dimensions = spec["Dimensions"][0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_string())
                    .collect();
                (dimensions, doc)
            })
            .collect()
    }

    fn find<'a>(docs: &'a [(Vec<String>, Value)], metric: &str) -> &'a (Vec<String>, Value) {
        docs.iter()
            .find(|(_, doc)| doc.get(metric).is_some())
            .unwrap_or_else(|| panic!("no {metric} in {docs:#?}"))
    }

    #[test]
    fn the_series_are_emitted_with_their_prometheus_names_and_labels_as_dimensions() {
        install("reserve");
        series::http_request(
            "POST",
            "/api/v1/reservations",
            409,
            Duration::from_millis(12),
        );
        series::oversell_rejected("SEAT_UNAVAILABLE");
        series::backend_call("store", "transact", Duration::from_millis(3));
        series::reservation_entered("HOLD");
        series::queue("evt_demo", 7, 2.5, 40);
        let docs = flushed();

        let (dimensions, doc) = find(&docs, series::HTTP_REQUESTS);
        assert_eq!(*dimensions, ["method", "route", "status_code"]);
        assert_eq!(
            (&doc["method"], &doc["route"], &doc["status_code"]),
            (
                &Value::from("POST"),
                &Value::from("/api/v1/reservations"),
                &Value::from("409")
            )
        );
        assert_eq!(doc[series::HTTP_REQUESTS], 1);
        assert_eq!(doc["function"], "reserve", "the function is a property");
        let (dimensions, doc) = find(&docs, series::HTTP_DURATION);
        assert_eq!(*dimensions, ["method", "route"]);
        assert_eq!(doc[series::HTTP_DURATION], serde_json::json!([0.012]));
        let (dimensions, doc) = find(&docs, series::OVERSELL_REJECTED);
        assert_eq!(*dimensions, ["code"]);
        assert_eq!(doc["code"], "SEAT_UNAVAILABLE");
        let (dimensions, doc) = find(&docs, series::BACKEND_CALL_DURATION);
        assert_eq!(*dimensions, ["service", "method"]);
        assert_eq!(doc["service"], "store");
        let (_, doc) = find(&docs, series::RESERVATION_STATUS);
        assert_eq!(
            (&doc["status"], &doc[series::RESERVATION_STATUS]),
            (&Value::from("HOLD"), &Value::from(1))
        );
        let (dimensions, doc) = find(&docs, series::QUEUE_LENGTH);
        assert_eq!(*dimensions, ["event_id"]);
        assert_eq!(doc[series::QUEUE_LENGTH], 7.0);
        assert_eq!(doc[series::QUEUE_ADMISSION_RATE], 2.5);
        assert_eq!(doc[series::QUEUE_ADMITTED], 40);

        // Counters are emitted as increases: nothing new, no counter line.
        let again = flushed();
        assert!(
            again
                .iter()
                .all(|(_, doc)| doc.get(series::HTTP_REQUESTS).is_none()),
            "{again:#?}"
        );
    }
}
