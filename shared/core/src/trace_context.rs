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
//! OpenTelemetry global, so nothing here depends on process-wide state. Without the
//! OpenTelemetry layer in the subscriber (tests that install none) spans have no context:
//! [`current_traceparent`] is `None` and nothing is stamped.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `traceparent` of the current span (`00-<trace id>-<span id>-<flags>`), if it has one.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current())
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
/// `tracestate` when there is one), as (name, value) pairs.
pub fn current_headers() -> Vec<(String, String)> {
    let mut carrier = HashMap::new();
    let cx = Span::current().context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    }
    // An empty `tracestate` says nothing; it is not sent.
    let mut headers: Vec<_> = carrier.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    headers.sort();
    headers
}

/// The trace id of a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
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
