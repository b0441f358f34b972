//! The `worker` mode: drains the payment follow-up SQS queue, as the `payment-followup` function's
//! event source mapping does on Lambda, for a Deployment that KEDA scales on the queue's length.
//!
//! A message is deleted only once handled, so a crash or a failure leaves it to be redelivered
//! after its visibility timeout (and dead-lettered after five); the follow-up itself is idempotent,
//! so a message handled twice changes nothing the second time.
//!
//! Every delivery counts towards those five, so a worker that kept receiving through a store
//! outage would dead-letter every approval of it (five receives of a message while the table was
//! away sent it to the DLQ in a probe, the hold unconfirmed). After a batch with a failure the
//! loop therefore receives nothing more until the store answers a ping ([`until_store_answers`]):
//! a message that fails on its own (a poison message) still goes its five rounds to the DLQ,
//! while an outage leaves the queue's messages where they are.
//!
//! Beside the loop, a small HTTP listener (`TACOS_WORKER_PORT`, default 9090) serves what an
//! operator needs of a process that has no API: `GET /metrics` (the confirmations, cancellations
//! and refunds the worker makes are counted here, not on the HTTP pods) and `GET /healthz`, which
//! fails once the loop has not polled for [`STALLED_AFTER`], so Kubernetes restarts a stuck worker.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tacos_core::platform::Platform;

/// How long the loop may go without polling before `/healthz` reports it stuck: well above the
/// longest long poll (20 s) plus a batch of ten follow-ups.
pub const STALLED_AFTER: Duration = Duration::from_secs(90);

/// Between two pings of a store that does not answer, while receiving is paused.
const STORE_PING_EVERY: Duration = Duration::from_secs(2);

/// The worker's settings, from the environment.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The follow-up queue (`TACOS_FOLLOWUP_QUEUE_URL`).
    pub queue_url: String,
    /// SQS long-poll wait per receive (`TACOS_WORKER_POLL_SECONDS`, 0–20, default 10). 0 polls
    /// briefly and pauses 200 ms when the queue is empty: for emulators whose long poll would
    /// hold up every other request.
    pub poll_seconds: i32,
    /// Port of `/metrics` and `/healthz` (`TACOS_WORKER_PORT`, default 9090), on `TACOS_HOST`.
    pub port: u16,
    pub host: String,
}

impl WorkerSettings {
    pub fn from_env(queue_url: Option<String>) -> anyhow::Result<Self> {
        Self::from_vars(queue_url, |name| std::env::var(name).ok())
    }

    fn from_vars(
        queue_url: Option<String>,
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let queue_url = queue_url.context("worker mode needs TACOS_FOLLOWUP_QUEUE_URL")?;
        let poll_seconds = match get("TACOS_WORKER_POLL_SECONDS") {
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|s| (0..=20).contains(s))
                .with_context(|| format!("TACOS_WORKER_POLL_SECONDS: {v:?} is not 0 to 20"))?,
            None => 10,
        };
        let port = match get("TACOS_WORKER_PORT") {
            Some(v) => v
                .parse()
                .with_context(|| format!("TACOS_WORKER_PORT: {v:?} is not a port"))?,
            None => 9090,
        };
        let host = get("TACOS_HOST").unwrap_or_else(|| "0.0.0.0".into());
        Ok(Self {
            queue_url,
            poll_seconds,
            port,
            host,
        })
    }
}

/// When the loop last polled (unix seconds), for `/healthz`.
#[derive(Default)]
struct Heartbeat(AtomicI64);

impl Heartbeat {
    fn beat(&self) {
        self.0.store(now(), Ordering::Relaxed);
    }

    fn stalled(&self) -> bool {
        self.stalled_at(now())
    }

    fn stalled_at(&self, now: i64) -> bool {
        now - self.0.load(Ordering::Relaxed) > STALLED_AFTER.as_secs() as i64
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs the loop and the listener until `stop` resolves (SIGTERM): the batch in hand is finished
/// first, so nothing is left half-handled.
pub async fn run(
    platform: Arc<Platform>,
    sqs: aws_sdk_sqs::Client,
    settings: WorkerSettings,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let heartbeat = Arc::new(Heartbeat::default());
    heartbeat.beat();
    let server = serve_health(&settings, heartbeat.clone()).await?;
    tracing::info!(queue = %settings.queue_url, "draining the follow-up queue");
    tokio::pin!(stop);
    // A failure in the last batch: make sure the store answers before taking more messages.
    let mut check_store = false;
    loop {
        heartbeat.beat();
        if check_store {
            let store = &platform.ports.store;
            tokio::select! {
                _ = &mut stop => break,
                () = until_store_answers(|| store.ping(), &heartbeat, STORE_PING_EVERY) => {}
            }
        }
        let received = tokio::select! {
            _ = &mut stop => break,
            received = sqs
                .receive_message()
                .queue_url(&settings.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .wait_time_seconds(settings.poll_seconds)
                .send() => received,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(e) => {
                // The SDK's error alone reads "service error" or "dispatch failure": the context
                // names the cause (queue missing, access denied, connection refused).
                tracing::warn!(error = %DisplayErrorContext(&e), "receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() && settings.poll_seconds == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        check_store = false;
        for message in messages {
            if !handle(&platform, &sqs, &settings.queue_url, message).await {
                check_store = true;
            }
        }
    }
    server.abort();
    Ok(())
}

/// Serves `GET /metrics` and `GET /healthz` (the heartbeat's age) on the worker's port, in a
/// task of its own.
async fn serve_health(
    settings: &WorkerSettings,
    heartbeat: Arc<Heartbeat>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind((settings.host.as_str(), settings.port))
        .await
        .with_context(|| format!("listen on {}:{}", settings.host, settings.port))?;
    tracing::info!(addr = %listener.local_addr()?, "worker metrics and health");
    let app = Router::new()
        .route(
            tacos_http::metrics::METRICS_PATH,
            get(|| async { tacos_http::metrics::exposition() }),
        )
        .route("/healthz", get(health))
        .with_state(heartbeat);
    tacos_telemetry::series::prometheus();
    Ok(tokio::spawn(
        async move { axum::serve(listener, app).await },
    ))
}

/// Waits until `ping` (the store's) succeeds, pinging every `pause` and keeping the heartbeat
/// fresh meanwhile: a store outage is no reason for Kubernetes to restart the worker.
async fn until_store_answers<F, Fut, E>(mut ping: F, heartbeat: &Heartbeat, pause: Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut paused = false;
    loop {
        heartbeat.beat();
        match ping().await {
            Ok(()) if paused => {
                tracing::info!("the store answers again; receiving follow-ups");
                return;
            }
            Ok(()) => return,
            Err(error) if !paused => {
                tracing::warn!(
                    %error,
                    "the store does not answer: receiving paused until it does, so the queue's \
                     messages keep their deliveries"
                );
                paused = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
    }
}

/// Handles one message and deletes it once handled; a failure leaves it for redelivery and
/// returns `false`.
async fn handle(
    platform: &Platform,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: aws_sdk_sqs::types::Message,
) -> bool {
    let id = message.message_id.as_deref().unwrap_or_default();
    let outcome = tacos_aws::follow_up::follow_up(platform, id, message.body.as_deref()).await;
    if let Err(error) = outcome {
        // The message and its delivery: the fifth failed one is dead-lettered.
        let receives = message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .map(String::as_str)
            .unwrap_or("?");
        tracing::warn!(
            message_id = %id,
            receives,
            %error,
            "follow-up failed; will be redelivered (dead-lettered after the queue's maxReceiveCount)"
        );
        return false;
    }
    let Some(handle) = message.receipt_handle else {
        return true;
    };
    if let Err(e) = sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(handle)
        .send()
        .await
    {
        tracing::warn!(
            message_id = %id,
            error = %DisplayErrorContext(&e),
            "delete failed; the message will be handled again, harmlessly"
        );
    }
    true
}

async fn health(State(heartbeat): State<Arc<Heartbeat>>) -> impl IntoResponse {
    if heartbeat.stalled() {
        (StatusCode::SERVICE_UNAVAILABLE, "stalled: no poll lately")
    } else {
        (StatusCode::OK, "ok")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<WorkerSettings> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkerSettings::from_vars(Some("http://queue".into()), move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn long_polls_of_ten_seconds_and_port_9090_by_default() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (s.poll_seconds, s.port, s.host.as_str()),
            (10, 9090, "0.0.0.0")
        );
    }

    #[test]
    fn a_wait_sqs_would_refuse_is_refused_at_start() {
        assert_eq!(
            settings(&[("TACOS_WORKER_POLL_SECONDS", "0")])
                .unwrap()
                .poll_seconds,
            0
        );
        for bad in ["21", "-1", "ten"] {
            let error = settings(&[("TACOS_WORKER_POLL_SECONDS", bad)]).unwrap_err();
            assert!(error.to_string().contains("0 to 20"), "{bad}: {error}");
        }
        assert!(settings(&[("TACOS_WORKER_PORT", "http")]).is_err());
        assert!(WorkerSettings::from_vars(None, |_| None).is_err());
    }

    #[tokio::test]
    async fn receiving_waits_for_the_store_and_keeps_the_worker_alive_meanwhile() {
        use std::sync::atomic::AtomicU32;
        let heartbeat = Heartbeat::default();
        let pings = AtomicU32::new(0);
        // The store answers at the fourth ping.
        let ping = || async {
            match pings.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err("connection refused"),
                _ => Ok(()),
            }
        };
        until_store_answers(ping, &heartbeat, Duration::from_millis(1)).await;
        assert_eq!(pings.load(Ordering::SeqCst), 4);
        assert!(!heartbeat.stalled());

        // A store that never answers holds receiving back for as long as it is away.
        let away = || async { Err::<(), _>("table not found") };
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            until_store_answers(away, &heartbeat, Duration::from_millis(1)),
        )
        .await;
        assert!(
            waited.is_err(),
            "receiving resumed while the store was away"
        );
    }

    #[test]
    fn health_fails_once_the_loop_has_not_polled_for_90_seconds() {
        let heartbeat = Heartbeat::default();
        heartbeat.beat();
        let at = heartbeat.0.load(Ordering::Relaxed);
        assert!(!heartbeat.stalled_at(at + 90));
        assert!(heartbeat.stalled_at(at + 91));
    }
}
