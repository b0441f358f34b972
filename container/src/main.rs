//! `tacos-container`: the one binary of the container image, in the mode `TACOS_MODE` (or the
//! first argument) names:
//!
//! * `lambda` (default): plays the Lambda function named by `TACOS_FUNCTION`, or by the image's
//!   `CMD` (which Lambda passes as `_HANDLER`), exactly as `functions/<name>` would.
//! * `http`: serves every route of the contract on `0.0.0.0:$PORT` (default 8080) over the AWS
//!   adapters, and the web app at `/` (`tacos-webapp`, its `/config.json` from
//!   `TACOS_WEB_API_BASE_URL` and `TACOS_WEB_WS_URL`), for a Kubernetes Deployment behind a
//!   Service, with Prometheus `GET /metrics`.
//! * `worker`: drains the payment follow-up SQS queue (`TACOS_FOLLOWUP_QUEUE_URL`), for a
//!   Deployment that KEDA scales on the queue's length, with `GET /metrics` and `GET /healthz` on
//!   `TACOS_WORKER_PORT` ([`worker`]).
//! * `seed`: creates the configured administrator and the demo events, then exits.

mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tacos_shared::app::Platform;

fn main() -> anyhow::Result<()> {
    let mode = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("TACOS_MODE").ok())
        .unwrap_or_else(|| "lambda".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async move {
        match mode.as_str() {
            "lambda" => {
                let function = std::env::var("TACOS_FUNCTION")
                    .or_else(|_| std::env::var("_HANDLER"))
                    .context(
                        "lambda mode needs TACOS_FUNCTION or the image CMD naming the function",
                    )?;
                let function: &'static str = tacos_lambda::all_functions()
                    .into_iter()
                    .find(|f| *f == function)
                    .with_context(|| format!("no function named {function}"))?;
                tacos_lambda::run(function)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))
            }
            "http" => serve_http().await,
            "worker" => work_queue().await,
            "seed" => {
                platform("seed").await?.seed().await?;
                tracing::info!("seeded");
                Ok(())
            }
            other => anyhow::bail!("unknown mode {other}: lambda, http, worker or seed"),
        }
    });
    // The spans still in the batch exporter's buffer.
    tacos_shared::telemetry::shutdown();
    outcome
}

async fn platform(role: &str) -> anyhow::Result<Arc<Platform>> {
    tacos_lambda::init_logging(&format!("container-{role}"));
    tacos_lambda::platform::from_env(role)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

async fn serve_http() -> anyhow::Result<()> {
    let web = tacos_webapp::Settings::from_env()?;
    let platform = platform("http").await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT")?
        .unwrap_or(8080);
    let host = std::env::var("TACOS_HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("listen on {host}:{port}"))?;
    tracing::info!(addr = %listener.local_addr()?, "serving HTTP");
    let app = tacos_webapp::beside(tacos_shared::http::router(platform), &web);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    Ok(())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

async fn work_queue() -> anyhow::Result<()> {
    let platform = platform("worker").await?;
    let aws = tacos_aws::AwsSettings::from_env()?;
    let settings = worker::WorkerSettings::from_env(aws.followup_queue_url.clone())?;
    let sqs = tacos_aws::connect(&aws).await.sqs;
    worker::run(platform, sqs, settings, shutdown()).await
}
