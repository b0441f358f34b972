//! Each request observed once: its trace id (on every log line of it and on its response), its
//! OpenTelemetry server span, its access log line and its metric series ([`crate::metrics`]),
//! all from one service ([`Observe`]) with one clock reading at each end (each layer of the router
//! costs every request a boxed clone of what it wraps).
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::response::Response;
use opentelemetry::trace::TraceContextExt;
use tacos_core::trace_context::{self, trace_id_of as trace_id_of_traceparent, InTrace};
use tacos_telemetry::log_line::AccessLine;
use tower::{Layer, Service};
use tracing::instrument::{Instrument, Instrumented};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use trace_context::new_trace_id;

/// The headers every request is looked up by, and every answer given: names made from a string
/// at each request were parsed byte by byte each time (a percent of a health check).
const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The request's trace id: its `traceparent`'s, else a well-formed `X-Trace-Id`, else `span`'s
/// (a fresh trace), else a random one (no OpenTelemetry layer).
fn trace_id_of(request: &Request, traceparent: Option<&str>, span: &tracing::Span) -> String {
    if let Some(id) = traceparent.and_then(trace_id_of_traceparent) {
        return id;
    }
    match request
        .headers()
        .get(X_TRACE_ID)
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

/// The layer that observes each request: see [`Observe`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

/// The request's span, its trace id, and its access log line.
///
/// A service of its own rather than a middleware function: a function boxes its future and the
/// rest of the chain for every request, where this one's future is a type (the inner service's,
/// wrapped), so observing a request allocates nothing of its own but the trace id.
///
/// # What it costs
/// Logs do not read spans: every log line gets the request's trace id from the task-local this
/// service sets, and the access line carries method, path, status and latency itself. The
/// server span exists for OpenTelemetry only, and what it says about the request (method, route,
/// path, status) goes there as attributes, only when spans are exported. (With the trace id,
/// method, route and path as span fields, the log formatter rendered the span to JSON at its
/// start and again at each recorded field: a fifth of a status request's instructions.)
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = InTrace<Observed<Instrumented<S::Future>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let traceparent = request
            .headers()
            .get(TRACEPARENT)
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
        let observation = Observation {
            trace_header: HeaderValue::from_str(&trace_id).ok(),
            // The path as it came (a reference-counted copy, not a new string).
            uri: request.uri().clone(),
            method,
            matched,
            exported,
            span: span.clone(),
            started: Instant::now(),
        };
        // The access line is written inside the request's trace (the answer is observed in the
        // future the trace's scope polls), so it carries its trace id as every other line of
        // the request does.
        trace_context::in_trace(
            trace_id,
            Observed {
                answer: self.inner.call(request).instrument(span),
                observation: Some(observation),
            },
        )
    }
}

/// What is known of a request before it is answered, for when it is.
struct Observation {
    trace_header: Option<HeaderValue>,
    uri: Uri,
    method: Method,
    matched: Option<MatchedPath>,
    exported: bool,
    span: tracing::Span,
    started: Instant,
}

impl Observation {
    /// Names the trace on `response`, and records, traces and logs it.
    fn answered(mut self, mut response: Response) -> Response {
        if let Some(value) = self.trace_header.take() {
            response.headers_mut().insert(X_TRACE_ID, value);
        }
        let took = self.started.elapsed();
        crate::metrics::record(
            &self.method,
            route_of(self.matched.as_ref()),
            &response,
            took,
        );
        let status = response.status();
        if self.exported {
            let span = &self.span;
            span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
            if status.is_server_error() {
                span.set_status(opentelemetry::trace::Status::error(status.to_string()));
            }
        }
        let line = AccessLine {
            method: self.method.as_str(),
            path: self.uri.path(),
            status: status.as_u16(),
            latency: took,
        };
        tracing::info!(parent: &self.span, json_members = ?line);
        response
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, observed when it is ready ([`Observe`]).
    pub struct Observed<F> {
        #[pin]
        answer: F,
        observation: Option<Observation>,
    }
}

impl<F, E> Future for Observed<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        let observation = this.observation.take().expect("an answer is observed once");
        Poll::Ready(answer.map(|response| observation.answered(response)))
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tacos_telemetry::captured::Captured;
    use tower::ServiceExt;

    // One thread, so the subscriber set for this thread sees the request; set through
    // `Captured::as_server_log` (`captured::set_default`), since the router tests beside this one
    // reach the access line with no subscriber of their own.
    #[tokio::test(flavor = "current_thread")]
    async fn the_access_line_carries_the_trace_id_the_response_names() {
        let captured = Captured::default();
        let _guard = captured.as_server_log();
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .layer(super::ObserveLayer);

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
