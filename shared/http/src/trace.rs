//! Trace ids: one per request, on every log line of it and on every response; and the request's
//! OpenTelemetry server span.
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

/// The current request's trace id (a fresh one outside a request).
pub fn current_trace_id() -> String {
    trace_context::current_trace_id().unwrap_or_else(new_trace_id)
}

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
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(
            tacos_telemetry::series::UNMATCHED_ROUTE,
            MatchedPath::as_str,
        )
        .to_string();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
    );
    tacos_core::trace_context::continue_from(&span, traceparent.as_deref());
    let exported = !span.is_disabled();
    if exported {
        span.set_attribute("http.request.method", method.to_string());
        span.set_attribute("http.route", route);
        span.set_attribute("url.path", request.uri().path().to_string());
    }
    let trace_id = trace_id_of(&request, traceparent.as_deref(), &span);
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let mut response =
        trace_context::in_trace(trace_id.clone(), next.run(request).instrument(span.clone())).await;
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert("x-trace-id", value);
    }
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
        path = %path,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request served"
    );
    response
}
