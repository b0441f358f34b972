//! Lambda entry points: every function binary under `functions/` is one call to [`main`] with its
//! [`Function`], and the container image plays any of them by name.
//!
//! The function's [`Kind`] (from the core's table, `tacos_core::functions`) decides how its
//! events are read:
//!
//! * [`http`]: HTTP functions, serving their routes of the shared router through `lambda_http`
//!   (buffered behind API Gateway, or streamed from a Function URL).
//! * [`triggers`]: the Scheduler targets (`expire`, `payment-simulator`), the SQS-fed
//!   `payment-followup`, and the `sweeper` a scheduled rule starts every minute.
//! * [`websocket`]: the WebSocket API's `ws-connect` and `ws-disconnect`, and `ws-push`, which
//!   sends every connection its availability and queue frames every 2 s.
//! * [`metrics`]: the operator's series as CloudWatch Embedded Metric Format lines.
//!
//! The platform itself is assembled on the AWS adapters by `tacos_aws::AwsPlatform`, once per
//! cold start.

pub mod http;
pub mod metrics;
pub mod triggers;
pub mod websocket;

use std::sync::Arc;

pub use lambda_runtime::Error;
use tacos_aws::AwsPlatform;
pub use tacos_core::functions::Function;
use tacos_core::functions::{Kind, WebSocketRoute};

/// Runs `function` in the Lambda runtime until the sandbox is shut down.
pub async fn run(function: Function) -> Result<(), Error> {
    tacos_telemetry::init(format!("traffic-tacos-{function}"));
    metrics::install(function.name());
    let aws = AwsPlatform::for_function(function).await?;
    let platform = aws.platform.clone();
    match function.kind() {
        Kind::Http | Kind::ResponseStream => {
            http::run(function, platform, aws.origin_secret.clone()).await
        }
        Kind::Scheduled(family) => triggers::run_jobs(platform, family).await,
        Kind::FollowUpQueue => triggers::run_followup(platform, aws.redelivery()?).await,
        Kind::WebSocket(WebSocketRoute::Connect) => {
            websocket::run_connect(Arc::new(aws.live_updates()?)).await
        }
        Kind::WebSocket(WebSocketRoute::Disconnect) => {
            websocket::run_disconnect(Arc::new(aws.live_updates()?)).await
        }
        Kind::LivePusher => websocket::run_push(Arc::new(aws.live_updates()?)).await,
        Kind::Sweeper => triggers::run_sweeper(platform).await,
    }
}

/// The `main` of a function binary.
pub fn main(function: Function) -> Result<(), Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(function))
}
