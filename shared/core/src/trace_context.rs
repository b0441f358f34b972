//! W3C trace context across every hop of a purchase.
//!
//! A trace starts in the browser (its `traceparent` header) and continues through the HTTP server
//! span (`tacos-http`'s trace middleware), then leaves the process three ways, each carrying a
//! `traceparent` of the span that caused it:
//!
//! * domain events: the detail's `traceparent` field, stamped by the timed bus (`tacos-telemetry`)
//!   and continued in the event's span (`DomainEvent::consumer_span`) in the follow-up;
//! * timers: the scheduler adapters keep the `traceparent` of the span that set a job (in memory
//!   next to the job, on AWS in the schedule's input) and continue it in the job's span
//!   (`TracedJob::span`);
//! * the payment simulator's webhook call: a `traceparent` header ([`current_headers`]), which
//!   the webhook's server span continues like any other request.
//!
//! The propagator is the W3C TraceContext one, used directly rather than through the
//! OpenTelemetry global, so nothing here depends on process-wide state.
//!
//! # The trace id of the work in hand
//! Every log line carries the trace id of what it is part of. The id lives in a task-local
//! ([`in_trace`], [`current_trace_id`]) set by whoever starts a unit of work: the HTTP layer for a
//! request, the timers for a job, the bus for an event. The log formatter reads it from there, so
//! spans need no log fields at all. When the process exports spans (the OpenTelemetry layer is in
//! the subscriber), a span's context is the source of truth for propagation; when it does not,
//! [`current_traceparent`] is made from the task-local id, so the log lines of one purchase still
//! share a trace id across every hop.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

tokio::task_local! {
    static TRACE_ID: String;
}

/// `work` as part of the trace `trace_id`: every log line it writes carries the id.
pub fn in_trace<F: std::future::Future>(trace_id: String, work: F) -> InTrace<F> {
    TRACE_ID.scope(trace_id, work)
}

/// What [`in_trace`] returns: a type a service can name as its future.
pub type InTrace<F> = tokio::task::futures::TaskLocalFuture<String, F>;

/// The trace id of the work in hand, if it is part of one.
pub fn current_trace_id() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

/// Calls `f` with the trace id of the work in hand, without copying it (the log formatter).
pub fn with_current_trace_id<R>(f: impl FnOnce(Option<&str>) -> R) -> R {
    let mut f = Some(f);
    match TRACE_ID.try_with(|id| (f.take().expect("called once"))(Some(id.as_str()))) {
        Ok(result) => result,
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// A fresh trace id (32 lower-case hex digits, as W3C trace context writes them).
pub fn new_trace_id() -> String {
    crate::ids::random_hex()
}

/// The `traceparent` of the current span (`00-<trace id>-<span id>-<flags>`) when spans are
/// exported; else one naming the task-local trace id (with a span id of its own), so a consumer
/// continues the same trace id; `None` outside any trace.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current()).or_else(|| {
        let id = current_trace_id().filter(|id| is_trace_id(id))?;
        Some(format!("00-{id}-{}-01", &crate::ids::random_hex()[..16]))
    })
}

/// The `traceparent` of `span`, if it is part of a trace.
pub fn traceparent_of(span: &Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// The headers that carry the current span's context to another service (`traceparent`, and
/// `tracestate` when there is one), as (name, value) pairs; without exported spans, the
/// `traceparent` of [`current_traceparent`].
pub fn current_headers() -> Vec<(String, String)> {
    let mut carrier = HashMap::new();
    let cx = Span::current().context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    } else if let Some(traceparent) = current_traceparent() {
        carrier.insert("traceparent".to_string(), traceparent);
    }
    // An empty `tracestate` says nothing; it is not sent.
    let mut headers: Vec<_> = carrier.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    headers.sort();
    headers
}

/// Whether `id` is a W3C trace id: 32 lower-case hex digits, not all zero.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && id.bytes().any(|b| b != b'0')
}

/// The trace id of `traceparent` if it has a well-formed one, else a fresh one: the id a job or
/// an event's handling logs under.
pub fn trace_id_or_new(traceparent: Option<&str>) -> String {
    traceparent
        .and_then(trace_id_of)
        .unwrap_or_else(new_trace_id)
}

/// The trace id of a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed as
/// W3C Trace Context says: neither id all zeros, and version `00` exactly those four fields (a
/// later version may add more). These are the headers [`continue_from`] continues, so a response
/// never names a trace its spans are not in: a zero parent id or a `00` header with a fifth
/// field had its trace id taken for the response while the span, refused by the propagator,
/// started a trace of its own.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let not_zero = |s: &str| s.bytes().any(|b| b != b'0');
    (hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && not_zero(trace)
        && hex(parent, 16)
        && not_zero(parent)
        && hex(flags, 2))
    .then(|| trace.to_string())
}

/// Makes `span` a child of the remote span `traceparent` names (a malformed or absent one leaves
/// `span` where it is). Call before the span is first entered.
pub fn continue_from(span: &Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        // Fails only without the OpenTelemetry layer, where there is nothing to continue.
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traceparent_is_parsed_strictly() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            super::trace_id_of(&format!("00-{id}-00f067aa0ba902b7-01")).as_deref(),
            Some(id)
        );
        assert_eq!(
            super::trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(super::trace_id_of("garbage"), None);
        assert_eq!(
            super::trace_id_of(&format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase())),
            None
        );
    }

    /// A header is taken for the response's trace id exactly when the propagator continues it,
    /// so `X-Trace-Id` always names the trace the request's spans are in.
    #[test]
    fn a_traceparent_names_the_trace_only_when_it_is_continued() {
        use opentelemetry::propagation::TextMapPropagator as _;
        use opentelemetry::trace::TraceContextExt as _;
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let headers = [
            format!("00-{id}-00f067aa0ba902b7-01"),
            format!("00-{id}-00f067aa0ba902b7-00"),
            format!("01-{id}-00f067aa0ba902b7-01-later-fields"),
            // A zero parent id, and a fifth field in version 00: both refused by W3C.
            format!("00-{id}-0000000000000000-01"),
            format!("00-{id}-00f067aa0ba902b7-01-extra"),
            format!("ff-{id}-00f067aa0ba902b7-01"),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_string(),
            format!("00-{id}-00f067aa0ba902b7"),
        ];
        let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
        for header in headers {
            let carrier = HashMap::from([("traceparent".to_string(), header.clone())]);
            let continued = propagator
                .extract(&carrier)
                .span()
                .span_context()
                .is_valid();
            assert_eq!(
                super::trace_id_of(&header).is_some(),
                continued,
                "{header}: named as the trace {}, continued {continued}",
                super::trace_id_of(&header).is_some()
            );
        }
    }

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::{Layer as _, SubscriberExt};

    use super::*;
    use crate::ports::Job;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_span_continues_its_traceparent_behind_a_filtered_layer() {
        // As `telemetry::init` installs it: the OpenTelemetry layer behind a per-layer filter.
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("test"))
                .with_filter(tracing_subscriber::EnvFilter::new("info")),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("hop");
            continue_from(&span, Some(PARENT));
            let own = traceparent_of(&span).expect("the span has a context");
            assert!(
                own.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{own}"
            );
            assert_ne!(own, PARENT, "a span of its own");
            let inside = span.in_scope(current_headers);
            assert_eq!(inside, [("traceparent".to_string(), own.clone())]);

            let job = Job::ExpireHold {
                reservation_id: "rsv_abc".parse().unwrap(),
            };
            let traced = span.in_scope(|| crate::ports::TracedJob::current(job.clone()));
            assert_eq!(traced.traceparent.as_deref(), Some(own.as_str()));
            let json = serde_json::to_value(&traced).unwrap();
            assert_eq!(json["job"], "expire_hold");
            assert_eq!(json["traceparent"], own.as_str());
            let back: crate::ports::TracedJob = serde_json::from_value(json).unwrap();
            assert_eq!(back, traced);
            let untraced: crate::ports::TracedJob =
                serde_json::from_value(serde_json::to_value(&job).unwrap()).unwrap();
            assert_eq!(
                untraced.traceparent, None,
                "a job set before tracing reads as untraced"
            );
        });
        // Without the layer there is no context, and nothing is stamped.
        assert_eq!(traceparent_of(&tracing::info_span!("untraced")), None);
    }
}
