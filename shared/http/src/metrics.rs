//! HTTP metrics and the Prometheus `GET /metrics` endpoint.
//!
//! [`record`] records every request answered (`http_server_requests_total`,
//! `http_server_requests_duration_seconds`) by method, matched route template (axum's
//! [`MatchedPath`](axum::extract::MatchedPath): `/api/v1/reservations/{id}`, never the id itself, so the label set stays
//! bounded; [`UNMATCHED_ROUTE`](series::UNMATCHED_ROUTE) for unknown paths) and status, and counts the 409s that refused an
//! oversell (`oversell_attempts_rejected_total{code}`) from the error code the response carries
//! ([`ErrorCode`]). A replayed idempotent answer carries none, so a retried attempt counts once.
//!
//! [`routes`] serves `GET /metrics` (not under `/api/v1`, outside the rate limits, and not itself
//! counted) for the embedded server and the container. The queue gauges are refreshed when the
//! endpoint is scraped rather than on every status call: a scrape every 15 s costs one read of
//! each queue's state and counters, while the status path, the hottest of an on-sale, stays
//! untouched. (The Lambda functions, which nobody scrapes, refresh them from `queue-status`.)

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ErrorCode;
use tacos_core::ids::EventId;
use tacos_core::platform::Platform;
use tacos_telemetry::series::{self, OVERSELL_CODES};

/// The path Prometheus scrapes.
pub const METRICS_PATH: &str = "/metrics";

/// Records the series of a request answered with `response` after `took`, on `route` (its
/// matched template, [`UNMATCHED_ROUTE`](series::UNMATCHED_ROUTE) if none). Called by the request's one observer
/// ([`crate::trace::Observe`]), which times it and logs it too.
pub fn record(method: &Method, route: &str, response: &Response, took: Duration) {
    series::http_request(
        method_label(method),
        route,
        response.status().as_u16(),
        took,
    );
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        if OVERSELL_CODES.contains(code) {
            series::oversell_rejected(code);
        }
    }
}

/// The method as a label: the standard ones, `OTHER` for anything a client invents.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `GET /metrics`, on the process's Prometheus recorder (installed here if it is not yet).
pub fn routes(platform: Arc<Platform>) -> Router {
    series::prometheus();
    Router::new()
        .route(METRICS_PATH, get(scrape))
        .with_state(platform)
}

async fn scrape(State(platform): State<Arc<Platform>>) -> Response {
    refresh_queues(&platform).await;
    exposition()
}

/// What this process has recorded, in Prometheus' text format. The container's worker mode
/// serves it as is: the queue gauges are the HTTP pods' to report.
pub fn exposition() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        series::prometheus().render(),
    )
        .into_response()
}

/// Sets the queue gauges of every event from what its waiting room reports. A store that does
/// not answer leaves the last values (the scrape itself still answers).
pub async fn refresh_queues(platform: &Platform) {
    let events = match platform.catalog.list().await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, "queue gauges not refreshed");
            return;
        }
    };
    set_queue_gauges(
        platform,
        events.into_iter().map(|e| e.event_id.clone()).collect(),
    )
    .await;
}

/// Sets the queue gauges of the events whose queues this process has shown lately, from its views
/// of them (one query of leavers each). For an instance of the status function: its gauges cover
/// the events its callers wait for, without reading the whole catalog's queues on the hot path.
pub async fn refresh_viewed_queues(platform: &Platform) {
    set_queue_gauges(platform, platform.queue.viewed_events()).await;
}

async fn set_queue_gauges(platform: &Platform, events: Vec<EventId>) {
    let gauges = events
        .into_iter()
        .map(|id| async move { (platform.queue.gauge(&id).await, id) });
    for (gauge, id) in futures::future::join_all(gauges).await {
        match gauge {
            Ok(g) => series::queue(id.as_str(), g.waiting, g.admission_rate, g.admitted),
            Err(error) => tracing::warn!(event_id = %id, %error, "queue gauge not read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use tacos_core::config::Config;
    use tacos_embedded::InProcess;

    async fn get(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    use super::*;

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_the_scrape_is_not() {
        let mut config = Config::for_tests();
        config.seed_demo_event = true;
        let local = InProcess::new(config);
        tacos_core::seed::seed(&local.platform).await.unwrap();
        let app = crate::router(
            local.platform.clone(),
            &crate::settings::HttpSettings::defaults(),
        );

        assert_eq!(get(&app, "/api/v1/events/evt_demo").await.0, StatusCode::OK);
        assert_eq!(
            get(&app, "/api/v1/no/such/thing").await.0,
            StatusCode::NOT_FOUND
        );
        let (status, headers, text) = get(&app, METRICS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(
            headers["x-content-type-options"], "nosniff",
            "security headers too"
        );

        let counted = |line: &str| text.lines().any(|l| l.starts_with(line));
        assert!(
            counted(
                r#"http_server_requests_total{method="GET",route="/api/v1/events/{id}",status_code="200"}"#
            ),
            "{text}"
        );
        assert!(
            counted(
                r#"http_server_requests_total{method="GET",route="unmatched",status_code="404"}"#
            ),
            "{text}"
        );
        assert!(
            counted(
                r#"http_server_requests_duration_seconds_bucket{method="GET",route="/api/v1/events/{id}",le="0.005"}"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"route="/metrics""#),
            "the scrape counts no request of its own"
        );
        assert!(
            !text.contains("/api/v1/events/evt_demo"),
            "ids never become labels"
        );
        assert!(counted(r#"queue_length{event_id="evt_demo"} 0"#), "{text}");
        assert!(
            counted(r#"queue_admitted_total{event_id="evt_demo"} 0"#),
            "{text}"
        );
        assert!(
            counted(r#"reservation_status_total{status="EXPIRED"}"#),
            "fixed labels start at zero"
        );
        assert!(
            counted(r#"backend_call_duration_seconds_count{service="store",method="#),
            "{text}"
        );
    }
}
