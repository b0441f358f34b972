//! `tacos-container`: the one binary of the container image, in the mode `TACOS_MODE` (or the
//! first argument) names:
//!
//! * `lambda` (the default when built with the `lambda` feature, as the image's Lambda variant
//!   is; `http` is the default otherwise): plays the Lambda function named by `TACOS_FUNCTION`, or
//!   by the image's `CMD` (which Lambda passes as `_HANDLER`), exactly as `functions/<name>` would.
//! * `http`: serves every route of the contract on `0.0.0.0:$PORT` (default 8080) over the AWS
//!   adapters, and the web app at `/` (`tacos-webapp`, its `/config.json` from
//!   `TACOS_WEB_API_BASE_URL` and `TACOS_WEB_WS_URL`), for a Kubernetes Deployment behind a
//!   Service, with Prometheus `GET /metrics`.
//! * `worker`: drains the payment follow-up SQS queue (`TACOS_FOLLOWUP_QUEUE_URL`), for a
//!   Deployment that KEDA scales on the queue's length, with `GET /metrics`, `GET /readyz` and
//!   `GET /healthz` on `TACOS_WORKER_PORT` ([`worker`]).
//! * `seed`: creates the configured administrator and the demo events, then exits.
//! * `sweep`: one sweep of the ledger of due work (`tacos_core::sweep`), then exits, as one run
//!   of the stack's `sweeper` function (which sweeps every minute, for the cluster's timers too:
//!   they are filed in the same table). Non-zero if a job failed (it is filed again).
//! * `functions`: prints the function table (`tacos_core::functions`) as JSON, for the checks of
//!   `template.yaml` and `cargo-lambda.toml` (`scripts/check_functions.py`).
//!
//! Every mode but `lambda` runs on `tacos-aws`'s assembly of the platform; `lambda` hands the
//! process to the Lambda runtime glue (`tacos-lambda`), exactly as a function binary does. That
//! glue is an optional dependency (feature `lambda`): the cluster's image serves HTTP and drains
//! the queue without it.

mod function_table;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use tacos_aws::AwsPlatform;
use tacos_core::platform::Platform;
use tacos_http::server::{raise_fd_limit, Limits};
use tacos_http::settings::HttpSettings;

fn main() -> anyhow::Result<()> {
    let mode = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("TACOS_MODE").ok())
        .unwrap_or_else(|| DEFAULT_MODE.into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async move {
        match mode.as_str() {
            "lambda" => play_function().await,
            "http" => serve_http().await,
            "worker" => work_queue().await,
            "seed" => {
                let platform = platform("seed").await?;
                tacos_core::seed::seed(&platform).await?;
                tracing::info!("seeded");
                Ok(())
            }
            "sweep" => sweep_once().await,
            "functions" => {
                println!("{}", function_table::json());
                Ok(())
            }
            other => anyhow::bail!(
                "unknown mode {other}: lambda, http, worker, seed, sweep or functions"
            ),
        }
    });
    // The spans still in the batch exporter's buffer.
    tacos_telemetry::shutdown();
    outcome
}

/// The mode when none is given: the one the build is for.
const DEFAULT_MODE: &str = if cfg!(feature = "lambda") {
    "lambda"
} else {
    "http"
};

/// The `lambda` mode: the function named by `TACOS_FUNCTION` or the image's `CMD`.
#[cfg(feature = "lambda")]
async fn play_function() -> anyhow::Result<()> {
    let function = std::env::var("TACOS_FUNCTION")
        .or_else(|_| std::env::var("_HANDLER"))
        .context("lambda mode needs TACOS_FUNCTION or the image CMD naming the function")?;
    let function: tacos_core::functions::Function = function.parse()?;
    tacos_lambda::run(function)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

#[cfg(not(feature = "lambda"))]
async fn play_function() -> anyhow::Result<()> {
    anyhow::bail!("this build has no lambda mode: build tacos-container with `--features lambda`")
}

async fn platform(role: &str) -> anyhow::Result<Arc<Platform>> {
    tacos_telemetry::init_with(
        format!("traffic-tacos-container-{role}"),
        tacos_telemetry::LogWriter::Background,
    );
    Ok(AwsPlatform::from_env().await?.platform)
}

async fn serve_http() -> anyhow::Result<()> {
    let web = tacos_webapp::Settings::from_env()?;
    let settings = HttpSettings::from_env()?;
    let platform = platform("http").await?;
    // The image's port (PORT overrides it), not the embedded server's 8000.
    let port: u16 = match std::env::var("PORT") {
        Ok(_) => settings.port,
        Err(_) => 8080,
    };
    let host = std::env::var("TACOS_HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("listen on {host}:{port}"))?;
    let limits = Limits::configured(&settings, raise_fd_limit());
    tracing::info!(addr = %listener.local_addr()?, ?limits, "serving HTTP");
    let app = tacos_webapp::in_front_of(tacos_http::router(platform, &settings), &web);
    tacos_http::server::serve(listener, app, limits, shutdown()).await?;
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

async fn sweep_once() -> anyhow::Result<()> {
    let report = platform("sweep").await?.sweep().await?;
    tracing::info!(?report, "sweep");
    // As the Lambda sweeper does; exported at shutdown when metrics go out (OTLP).
    tacos_telemetry::series::swept_jobs(report.jobs, report.failed);
    match report.failure() {
        Some(failure) => anyhow::bail!(failure),
        None => Ok(()),
    }
}

async fn work_queue() -> anyhow::Result<()> {
    let platform = platform("worker").await?;
    let aws = tacos_aws::AwsSettings::from_env()?;
    let settings = worker::WorkerSettings::from_env(aws.followup_queue_url.clone())?;
    let sqs = tacos_aws::connect(&aws).await.sqs;
    worker::run(platform, sqs, settings, shutdown()).await
}
