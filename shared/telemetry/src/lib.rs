//! What an operator sees of a running platform: metrics and traces.
//!
//! * [`series`]: the metric series, defined once; Prometheus and CloudWatch EMF render the same.
//! * [`timed_ports`]: decorators of the ports that time every backend call and count reservation
//!   state changes, so the domain stays unaware of metrics.
//! * [`init`]: the process's subscriber: JSON logs ([`log_line`]), plus OpenTelemetry spans
//!   exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. W3C trace context across the asynchronous hops
//!   is the core's (`tacos_core::trace_context`): the domain stamps it, this crate exports.
//! * [`captured`]: a log writer that keeps its lines in memory, for tests that read them.

pub mod batched;
pub mod captured;
pub mod log_line;
pub mod series;
pub mod timed_ports;

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
/// The log writer's thread, kept until [`shutdown`] flushes it.
static LOG_WRITER: std::sync::Mutex<Option<batched::Guard>> = std::sync::Mutex::new(None);

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogWriter {
    /// Written by the thread that logs, before it goes on: what a Lambda function needs, whose
    /// sandbox may be frozen as soon as the invocation returns.
    Direct,
    /// Gathered for a thread of their own that writes them in batches ([`batched`]), so a
    /// request neither waits on stdout nor wakes a thread (a server's access log at the default
    /// level halved its throughput). Never dropped: when that thread falls behind by a buffer's
    /// worth, loggers wait. Flushed by [`shutdown`].
    Background,
}

/// Installs the process's subscriber (once; later calls do nothing): JSON log lines, each with its
/// span's `trace_id`, filtered by `RUST_LOG` (default `info`), and OpenTelemetry spans for
/// `service` (`OTEL_SERVICE_NAME` overrides it).
///
/// Log lines are events only, one JSON object each ([`log_line::LogLine`]), each with the trace id
/// of the work in hand; spans never reach the log. Spans are built only when they are exported:
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, as OTLP
/// over HTTP/protobuf by a batch processor on its own thread, every `info` span whatever
/// `RUST_LOG` says (a benchmark's `RUST_LOG=warn` quiets the logs, not the traces). Without it no
/// span is built, and trace ids still cross every hop through the task-local trace id
/// (`tacos_core::trace_context`), so the log lines of one purchase share one.
pub fn init(service: impl Into<String>) {
    init_with(service, LogWriter::Direct);
}

/// [`init`], with log lines written as `writer` says.
pub fn init_with(service: impl Into<String>, writer: LogWriter) {
    let (provider, exporting) = tracer_provider(service.into());
    let tracer = provider.tracer("traffic-tacos");
    let (make_writer, guard) = match writer {
        LogWriter::Direct => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout),
            None,
        ),
        LogWriter::Background => match batched::Batched::spawn("log-writer", std::io::stdout()) {
            Ok((writer, guard)) => (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer),
                Some(guard),
            ),
            Err(error) => {
                eprintln!("no log writer thread ({error}); log lines are written directly");
                (
                    tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout),
                    None,
                )
            }
        },
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(make_writer)
        .event_format(log_line::LogLine)
        .with_ansi(false)
        .with_filter(log_line::LogFilter::from_env());
    let spans = exporting.then(|| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new("info"))
    });
    // Without an exporter there is no spans layer at all, not an absent one: `Option<Layer>`'s
    // `None` enables every span, so each request's span was built in the registry (and entered at
    // each poll of the request) for nothing to read: 3 µs of a health check's 17.
    let installed = match spans {
        Some(spans) => tracing_subscriber::registry()
            .with(logs)
            .with(spans)
            .try_init(),
        None => tracing_subscriber::registry().with(logs).try_init(),
    }
    .is_ok();
    if installed {
        let _ = PROVIDER.set(provider);
        if let Ok(mut kept) = LOG_WRITER.lock() {
            *kept = guard;
        }
    }
}

/// The tracer provider, and whether it exports.
fn tracer_provider(service: String) -> (SdkTracerProvider, bool) {
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or(service);
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|var| std::env::var(var).is_ok_and(|v| !v.is_empty()));
    if !configured {
        return (builder.build(), false);
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), true),
        Err(error) => {
            eprintln!("OTLP exporter not built ({error}); spans are not exported");
            (builder.build(), false)
        }
    }
}

/// Exports the spans ended so far (a Lambda function calls it before its invocation returns: a
/// frozen sandbox exports nothing).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(error) = provider.force_flush() {
            tracing::warn!(%error, "spans not exported");
        }
    }
}

/// Exports what is left, stops the exporter and writes the log lines still queued (at the end
/// of `main`).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown();
    }
    if let Ok(mut kept) = LOG_WRITER.lock() {
        // Dropping the guard writes what is left and joins the writer's thread.
        kept.take();
    }
}
