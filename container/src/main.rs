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
//!   Deployment that KEDA scales on the queue's length.
//! * `seed`: creates the configured administrator and the demo events, then exits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tacos_shared::app::Platform;
use tacos_shared::ports::EventHandler;

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

/// Long-polls the follow-up queue; a message is deleted only once handled, so a crash or a
/// failure leaves it to be redelivered after its visibility timeout (and dead-lettered after five).
async fn work_queue() -> anyhow::Result<()> {
    let platform = platform("worker").await?;
    let settings = tacos_aws::AwsSettings::from_env()?;
    let queue = settings
        .followup_queue_url
        .clone()
        .context("worker mode needs TACOS_FOLLOWUP_QUEUE_URL")?;
    let sqs = tacos_aws::connect(&settings).await.sqs;
    tracing::info!(%queue, "draining the follow-up queue");
    let stop = shutdown();
    tokio::pin!(stop);
    loop {
        let received = tokio::select! {
            _ = &mut stop => return Ok(()),
            received = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).wait_time_seconds(10).send() => received,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let outcome = match message
                .body
                .as_deref()
                .map(tacos_lambda::triggers::parse_record)
            {
                Some(Ok(event)) => platform.handle_event(event).await,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "unreadable follow-up message dropped");
                    Ok(())
                }
                None => Ok(()),
            };
            match outcome {
                Ok(()) => {
                    if let Some(handle) = message.receipt_handle {
                        if let Err(e) = sqs
                            .delete_message()
                            .queue_url(&queue)
                            .receipt_handle(handle)
                            .send()
                            .await
                        {
                            tracing::warn!(error = %e, "delete failed; the message will be handled again, harmlessly");
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "follow-up failed; will be redelivered"),
            }
        }
    }
}
