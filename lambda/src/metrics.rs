//! CloudWatch Embedded Metric Format: metrics as structured log lines, which CloudWatch turns
//! into metrics without an agent or an API call on the request path.
//!
//! Requests and latency are counted per route and status; holds, sales, expiries and
//! cancellations per domain event (by wrapping the event bus, so the domain stays unaware);
//! rejected oversell attempts are the 409 `SEAT_UNAVAILABLE` / `INSUFFICIENT_INVENTORY` responses,
//! visible as `Requests` with `Status=409` on the reserve route.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tacos_shared::ports::{DetailType, DomainEvent, EventBus, PublishError};

const NAMESPACE: &str = "TrafficTacos";

fn emit(dimensions: &[(&str, String)], metrics: &[(&str, &str, f64)]) {
    let mut line = json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit })).collect::<Vec<_>>(),
            }],
        },
    });
    for (key, value) in dimensions {
        line[*key] = json!(value);
    }
    for (name, _, value) in metrics {
        line[*name] = json!(value);
    }
    // EMF must be a line of its own on stdout, not wrapped in a tracing event.
    println!("{line}");
}

/// One HTTP request served.
pub fn request(function: &str, method: &str, route: &str, status: u16, latency: Duration) {
    emit(
        &[
            ("Function", function.to_string()),
            ("Route", format!("{method} {route}")),
            ("Status", status.to_string()),
        ],
        &[
            ("Requests", "Count", 1.0),
            ("Latency", "Milliseconds", latency.as_secs_f64() * 1000.0),
        ],
    );
}

/// What one `ws-push` invocation pushed, summed over its ticks.
pub fn live_push(report: &tacos_shared::domain::live::TickReport) {
    emit(
        &[("Function", "ws-push".to_string())],
        &[
            ("LiveConnections", "Count", report.connections as f64),
            ("LiveFramesSent", "Count", report.sent as f64),
            ("LiveConnectionsGone", "Count", report.gone as f64),
            ("LiveConnectionsClosed", "Count", report.closed as f64),
            ("LiveFailures", "Count", report.failed as f64),
        ],
    );
}

/// The event bus, counting each domain event as a business metric on its way out.
pub struct MeteredBus {
    inner: Arc<dyn EventBus>,
    function: String,
}

impl MeteredBus {
    pub fn new(inner: Arc<dyn EventBus>, function: &str) -> Self {
        Self {
            inner,
            function: function.to_string(),
        }
    }
}

fn metric_of(kind: DetailType) -> &'static str {
    match kind {
        DetailType::ReservationHeld => "Holds",
        DetailType::ReservationConfirmed => "Sales",
        DetailType::ReservationExpired => "Expiries",
        DetailType::ReservationCancelled => "Cancellations",
        DetailType::PaymentApproved => "PaymentsApproved",
        DetailType::PaymentFailed => "PaymentsFailed",
        DetailType::PaymentRefunded => "Refunds",
    }
}

#[async_trait]
impl EventBus for MeteredBus {
    async fn publish(&self, event: DomainEvent) -> Result<(), PublishError> {
        let kind = event.detail_type;
        let quantity = f64::from(event.detail.quantity);
        self.inner.publish(event).await?;
        emit(
            &[("Function", self.function.clone())],
            &[(metric_of(kind), "Count", quantity)],
        );
        Ok(())
    }
}
