//! Each request observed once: its trace id (on every log line of it and on its response), its
//! OpenTelemetry server span, its access log line and its metric series ([`crate::metrics`]),
//! all from one middleware with one clock reading at each end (each layer of the router costs
//! every request a boxed clone of what it wraps).
//!
//! A W3C `traceparent` header names the trace when present (so a browser's or API Gateway's trace
//! continues), else an `X-Trace-Id` header, else the server span's own trace (a fresh one). The id
//! lives in the core's task-local for the duration of the request
//! (`tacos_core::trace_context::in_trace`), so error responses and every log line carry it
//! without threading it through.
//!
//! The server span (`GET /api/v1/reservations/{id}`, kind server) is a child of the incoming
//! `traceparent`, so the browser's action, this request and everything it sets off (events,
//! timers, webhooks: see `tacos_core::trace_context`) form one trace.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TraceContextExt;
use tacos_core::trace_context::{self, trace_id_of as trace_id_of_traceparent};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use trace_context::new_trace_id;

/// The request's trace id: its `traceparent`'s, else a well-formed `X-Trace-Id`, else `span`'s
/// (a fresh trace), else a random one (no OpenTelemetry layer).
fn trace_id_of(request: &Request, traceparent: Option<&str>, span: &tracing::Span) -> String {
    if let Some(id) = traceparent.and_then(trace_id_of_traceparent) {
        return id;
    }
    match request
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id)
            if (8..=64).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            id.to_string()
        }
        _ => {
            let cx = span.context();
            let own = cx.span().span_context().clone();
            if own.is_valid() {
                own.trace_id().to_string()
            } else {
                new_trace_id()
            }
        }
    }
}

/// The route's template as it labels spans and series ([`UNMATCHED_ROUTE`] for an unknown path).
///
/// [`UNMATCHED_ROUTE`]: tacos_telemetry::series::UNMATCHED_ROUTE
fn route_of(matched: Option<&MatchedPath>) -> &str {
    matched.map_or(
        tacos_telemetry::series::UNMATCHED_ROUTE,
        MatchedPath::as_str,
    )
}

/// The request's span, its trace id, and its access log line.
///
/// # What it costs
/// Logs do not read spans: every log line gets the request's trace id from the task-local this
/// middleware sets, and the access line carries method, path, status and latency itself. The
/// server span exists for OpenTelemetry only, and what it says about the request (method, route,
/// path, status) goes there as attributes, only when spans are exported. (With the trace id,
/// method, route and path as span fields, the log formatter rendered the span to JSON at its
/// start and again at each recorded field: a fifth of a status request's instructions.)
pub async fn middleware(request: Request, next: Next) -> Response {
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| trace_id_of_traceparent(v).is_some())
        .map(str::to_string);
    let method = request.method().clone();
    // Kept for the metrics (a reference-counted copy).
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = route_of(matched.as_ref());
    // Disabled, and its fields never formatted, unless spans are exported.
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
    );
    tacos_core::trace_context::continue_from(&span, traceparent.as_deref());
    let exported = !span.is_disabled();
    if exported {
        span.set_attribute("http.request.method", method.to_string());
        span.set_attribute("http.route", route.to_string());
        span.set_attribute("url.path", request.uri().path().to_string());
    }
    let trace_id = trace_id_of(&request, traceparent.as_deref(), &span);
    let trace_header = HeaderValue::from_str(&trace_id).ok();
    // The path as it came (a reference-counted copy, not a new string), for the access line.
    let uri = request.uri().clone();
    let started = Instant::now();
    // The access line is written inside the request's trace, so it carries its trace id as
    // every other line of the request does.
    trace_context::in_trace(trace_id, async move {
        let mut response = next.run(request).instrument(span.clone()).await;
        if let Some(value) = trace_header {
            response.headers_mut().insert("x-trace-id", value);
        }
        let took = started.elapsed();
        crate::metrics::record(&method, route_of(matched.as_ref()), &response, took);
        let status = response.status();
        if exported {
            span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
            if status.is_server_error() {
                span.set_status(opentelemetry::trace::Status::error(status.to_string()));
            }
        }
        tracing::info!(
            parent: &span,
            method = %method,
            path = uri.path(),
            status = status.as_u16(),
            latency_ms = took.as_nanos() as f64 / 1e6,
            "request served"
        );
        response
    })
    .await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tacos_telemetry::captured::Captured;
    use tower::ServiceExt;
    use tracing_subscriber::layer::SubscriberExt;

    // One thread, so the subscriber set for this thread sees the request.
    #[tokio::test(flavor = "current_thread")]
    async fn the_access_line_carries_the_trace_id_the_response_names() {
        let captured = Captured::default();
        let sink = captured.clone();
        // As the servers log: JSON lines of events, no spans layer.
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(tacos_telemetry::log_line::LogLine)
                .with_writer(move || sink.clone()),
        );
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(super::middleware));

        let mut named = Vec::new();
        for request in [
            axum::http::Request::get("/healthz")
                .body(Body::empty())
                .unwrap(),
            axum::http::Request::get("/healthz")
                .header("x-trace-id", "caller-chose-this-id")
                .body(Body::empty())
                .unwrap(),
        ] {
            let response = app.clone().oneshot(request).await.unwrap();
            let id = response.headers()["x-trace-id"]
                .to_str()
                .unwrap()
                .to_string();
            named.push(id);
        }
        assert_eq!(named[1], "caller-chose-this-id");

        let text = captured.text();
        let served: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect(line))
            .filter(|line: &serde_json::Value| line["message"] == "request served")
            .collect();
        assert_eq!(served.len(), 2, "{text}");
        for (line, id) in served.iter().zip(&named) {
            assert_eq!(line["trace_id"], id.as_str(), "{line}");
            assert_eq!(line["path"], "/healthz");
            assert_eq!(line["status"], 200);
        }
    }
}
