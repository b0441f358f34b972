//! W3C trace context across every hop of a purchase.
//!
//! A trace starts in the browser (its `traceparent` header) and continues through the HTTP server
//! span ([`crate::http::trace`]), then leaves the process three ways, each carrying a
//! `traceparent` of the span that caused it:
//!
//! * domain events: the detail's `traceparent` field, stamped by the instrumented bus
//!   ([`super::ports::InstrumentedBus`]) and continued by [`event_span`] in the follow-up;
//! * timers: the scheduler adapters keep the `traceparent` of the span that set a job (in memory
//!   next to the job, on AWS in the schedule's input) and continue it with [`job_span`];
//! * the payment simulator's webhook call: a `traceparent` header ([`headers`]), which the
//!   webhook's server span continues like any other request.
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

use crate::ports::{DomainEvent, Job};

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
/// `tracestate` when there is one).
pub fn headers() -> reqwest::header::HeaderMap {
    let mut carrier = HashMap::new();
    let cx = Span::current().context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    }
    carrier
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).ok()?,
                reqwest::header::HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect()
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

/// The span a fired timer runs in, continuing the trace of the request that set it.
pub fn job_span(job: &Job, traceparent: Option<&str>) -> Span {
    let trace_id = traceparent.and_then(crate::http::trace::from_traceparent);
    let span = tracing::info_span!(
        "job",
        otel.name = %format!("job {}", job.kind()),
        otel.kind = "consumer",
        job = %job.name(),
        trace_id = trace_id.as_deref().unwrap_or_default(),
    );
    continue_from(&span, traceparent);
    span
}

/// The span a consumer handles a domain event in, continuing the trace that published it.
pub fn event_span(event: &DomainEvent) -> Span {
    let traceparent = event.detail.traceparent.as_deref();
    let trace_id = traceparent.and_then(crate::http::trace::from_traceparent);
    let span = tracing::info_span!(
        "event",
        otel.name = %format!("event {}", event.detail_type.as_str()),
        otel.kind = "consumer",
        detail_type = event.detail_type.as_str(),
        reservation_id = %event.detail.reservation_id,
        trace_id = trace_id.as_deref().unwrap_or_default(),
    );
    continue_from(&span, traceparent);
    span
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::{Layer as _, SubscriberExt};

    use super::*;

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
            let inside = span.in_scope(headers);
            assert_eq!(inside["traceparent"], own.as_str());

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
