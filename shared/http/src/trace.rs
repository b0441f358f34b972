//! Trace ids: one per request, on every log line of it and on every response; and the request's
//! OpenTelemetry server span.
//!
//! A W3C `traceparent` header names the trace when present (so a browser's or API Gateway's trace
//! continues), else an `X-Trace-Id` header, else the server span's own trace (a fresh one). The id
//! lives in a task-local for the duration of the request, so error responses can carry it without
//! threading it through.
//!
//! The server span (`GET /api/v1/reservations/{id}`, kind server) is a child of the incoming
//! `traceparent`, so the browser's action, this request and everything it sets off (events,
//! timers, webhooks: see [`crate::telemetry::context`]) form one trace.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static TRACE_ID: String;
}

/// The current request's trace id (a fresh one outside a request).
pub fn current_trace_id() -> String {
    TRACE_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| new_trace_id())
}

pub fn new_trace_id() -> String {
    tacos_core::ids::random_hex()
}

/// The trace id of a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed.
pub fn from_traceparent(header: &str) -> Option<String> {
    let mut parts = header.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    (hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && hex(flags, 2))
    .then(|| trace.to_string())
}

/// The request's trace id: its `traceparent`'s, else a well-formed `X-Trace-Id`, else `span`'s
/// (a fresh trace), else a random one (no OpenTelemetry layer).
fn trace_id_of(request: &Request, traceparent: Option<&str>, span: &tracing::Span) -> String {
    if let Some(id) = traceparent.and_then(from_traceparent) {
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
        _ => tacos_core::trace_context::traceparent_of(span)
            .as_deref()
            .and_then(from_traceparent)
            .unwrap_or_else(new_trace_id),
    }
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| from_traceparent(v).is_some())
        .map(str::to_string);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(
            tacos_telemetry::series::UNMATCHED_ROUTE,
            MatchedPath::as_str,
        )
        .to_string();
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %request.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        method = %request.method(),
        path = %request.uri().path(),
    );
    tacos_core::trace_context::continue_from(&span, traceparent.as_deref());
    let trace_id = trace_id_of(&request, traceparent.as_deref(), &span);
    span.record("trace_id", trace_id.as_str());
    let started = Instant::now();
    let mut response = TRACE_ID
        .scope(trace_id.clone(), next.run(request).instrument(span.clone()))
        .await;
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert("x-trace-id", value);
    }
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request served"
        );
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            from_traceparent(&format!("00-{id}-00f067aa0ba902b7-01")).as_deref(),
            Some(id)
        );
        assert_eq!(
            from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(from_traceparent("garbage"), None);
        assert_eq!(
            from_traceparent(&format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase())),
            None
        );
    }
}
