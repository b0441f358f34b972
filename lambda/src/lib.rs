//! Lambda entry points: every function binary under `functions/` is one call to [`main`] with its
//! name, and the container image plays any of them by name.
//!
//! * [`platform`]: the platform on AWS adapters, built once per cold start.
//! * [`http`]: HTTP functions, serving their routes of the shared router through `lambda_http`.
//! * [`triggers`]: the Scheduler targets (`expire`, `payment-simulator`) and the SQS-fed
//!   `payment-followup`.
//! * [`live`]: the WebSocket API's `ws-connect` and `ws-disconnect`, and `ws-push`, which sends
//!   every connection its availability and queue frames every 2 s.
//! * [`metrics`]: the operator's series as CloudWatch Embedded Metric Format lines.

pub mod http;
pub mod live;
pub mod metrics;
pub mod platform;
pub mod triggers;

pub use lambda_runtime::Error;

/// Functions that are not HTTP routes: timer and queue triggers, and the WebSocket API's.
pub const TRIGGER_FUNCTIONS: &[&str] = &[
    "expire",
    "payment-simulator",
    "payment-followup",
    "ws-connect",
    "ws-disconnect",
    "ws-push",
];

/// Every function name, HTTP and trigger.
pub fn all_functions() -> Vec<&'static str> {
    let mut names = tacos_shared::http::routes::http_functions();
    names.extend_from_slice(TRIGGER_FUNCTIONS);
    names.sort_unstable();
    names
}

/// Runs function `name` in the Lambda runtime until the sandbox is shut down.
pub async fn run(name: &'static str) -> Result<(), Error> {
    init_logging(name);
    metrics::install(name);
    let assembled = platform::assemble(name).await?;
    let platform = assembled.platform.clone();
    match name {
        "expire" => triggers::run_jobs(platform, triggers::JobKind::Expiry).await,
        "payment-simulator" => {
            triggers::run_jobs(platform, triggers::JobKind::PaymentSimulator).await
        }
        "payment-followup" => triggers::run_followup(platform).await,
        "ws-connect" => live::run_connect(assembled.live_updates()?).await,
        "ws-disconnect" => live::run_disconnect(assembled.live_updates()?).await,
        "ws-push" => live::run_push(assembled.live_updates()?).await,
        http if tacos_shared::http::routes::http_functions().contains(&http) => {
            self::http::run(http, platform).await
        }
        unknown => Err(format!("no function named {unknown}").into()),
    }
}

/// The `main` of a function binary.
pub fn main(name: &'static str) -> Result<(), Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(name))
}

/// JSON logs for CloudWatch, one line per event with the request's `trace_id` in its span, and
/// OpenTelemetry spans of `service` (exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, e.g. to
/// the ADOT collector extension): see [`tacos_shared::telemetry::init`].
pub fn init_logging(service: &str) {
    tacos_shared::telemetry::init(format!("traffic-tacos-{service}"));
}
