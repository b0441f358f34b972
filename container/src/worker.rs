//! The `worker` mode: drains the payment follow-up SQS queue, as the `payment-followup` function's
//! event source mapping does on Lambda, for a Deployment that KEDA scales on the queue's length.
//!
//! A message is deleted only once handled, so a crash leaves it to be redelivered after its
//! visibility timeout, and a failure after the wait its kind calls for, set as the
//! `payment-followup` function sets it ([`tacos_aws::redelivery`]: growing while a dependency is
//! away, a minute otherwise); it is dead-lettered after ten receives. The follow-up itself is
//! idempotent, so a message handled twice changes nothing the second time.
//!
//! Every delivery counts towards those ten, so a worker that kept receiving through a store
//! outage would dead-letter every approval of it (five receives of a message while the table was
//! away sent it to the DLQ in a probe, the hold unconfirmed, when the queue allowed five). After a
//! batch with a failure the loop therefore receives nothing more until the store answers a ping
//! ([`until_store_answers`]): a message that fails on its own (a poison message) still goes its
//! rounds to the DLQ, while an outage leaves the queue's messages where they are.
//!
//! Beside the loop, a small HTTP listener (`TACOS_WORKER_PORT`, default 9090) serves what an
//! operator needs of a process that has no API: `GET /metrics` (the confirmations, cancellations
//! and refunds the worker makes are counted here, not on the HTTP pods), `GET /readyz` (the store
//! answers) and `GET /healthz`, which fails once the loop has not polled for [`STALLED_AFTER`], so
//! Kubernetes restarts a stuck worker (a store outage does not stop it polling).

mod queue;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tacos_core::platform::Platform;

use queue::{Delivery, FollowUpQueue, SqsQueue};

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
    /// Port of `/metrics`, `/readyz` and `/healthz` (`TACOS_WORKER_PORT`, default 9090), on `TACOS_HOST`.
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
pub(crate) struct Heartbeat(AtomicI64);

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

/// Runs the loop and the listener until `stop` resolves (SIGTERM): see [`drain`].
pub async fn run(
    platform: Arc<Platform>,
    sqs: aws_sdk_sqs::Client,
    settings: WorkerSettings,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let heartbeat = Arc::new(Heartbeat::default());
    heartbeat.beat();
    let server = serve_health(&settings, heartbeat.clone(), platform.clone()).await?;
    tracing::info!(queue = %settings.queue_url, "draining the follow-up queue");
    let queue = SqsQueue {
        client: sqs,
        url: settings.queue_url.clone(),
        poll_seconds: settings.poll_seconds,
    };
    drain(
        &platform,
        &queue,
        &heartbeat,
        settings.poll_seconds == 0,
        stop,
    )
    .await;
    server.abort();
    Ok(())
}

/// The loop: receives, handles each message and deletes it, until `stop` resolves. A stop
/// finishes the message in hand and gives the rest of the batch back to the queue
/// ([`FollowUpQueue::release`]); a stop during a receive waits for its answer (at most the long
/// poll's wait) and gives its messages back, since SQS may have handed them out already. So
/// nothing is left half-handled, and nothing received waits out a visibility timeout because
/// this worker went away. `pause_when_empty`: 200 ms between empty receives (short polls).
pub(crate) async fn drain(
    platform: &Platform,
    queue: &impl FollowUpQueue,
    heartbeat: &Heartbeat,
    pause_when_empty: bool,
    stop: impl Future<Output = ()>,
) {
    let mut stop = Stop::new(stop);
    // A failure in the last batch: make sure the store answers before taking more messages.
    let mut check_store = false;
    'receiving: loop {
        heartbeat.beat();
        if check_store {
            let store = &platform.ports.store;
            tokio::select! {
                () = stop.wait() => break,
                () = until_store_answers(|| store.ping(), heartbeat, STORE_PING_EVERY) => {}
            }
        }
        let receive = queue.receive();
        tokio::pin!(receive);
        let received = tokio::select! {
            received = &mut receive => received,
            () = stop.wait() => {
                if let Ok(deliveries) = receive.await {
                    give_back(queue, deliveries).await;
                }
                break;
            }
        };
        let deliveries = match received {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::warn!(%error, "receive failed; retrying");
                tokio::select! {
                    () = stop.wait() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if deliveries.is_empty() && pause_when_empty {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        check_store = false;
        let mut deliveries = deliveries.into_iter();
        while let Some(delivery) = deliveries.next() {
            if stop.requested() {
                give_back(queue, std::iter::once(delivery).chain(deliveries).collect()).await;
                break 'receiving;
            }
            if !handle(platform, queue, delivery).await {
                check_store = true;
            }
        }
    }
}

/// SIGTERM as the loop asks about it: waited for beside a receive or a pause, and looked at
/// (without waiting) between two messages.
struct Stop<F: Future<Output = ()>> {
    signal: Pin<Box<F>>,
    received: bool,
}

impl<F: Future<Output = ()>> Stop<F> {
    fn new(signal: F) -> Self {
        Self {
            signal: Box::pin(signal),
            received: false,
        }
    }

    /// Resolves once the signal has come (at once if it already has).
    async fn wait(&mut self) {
        if !self.received {
            self.signal.as_mut().await;
            self.received = true;
        }
    }

    /// Whether the signal has come.
    fn requested(&mut self) -> bool {
        if !self.received {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            self.received = self.signal.as_mut().poll(&mut cx).is_ready();
        }
        self.received
    }
}

/// Gives messages received but not handled back to the queue at a stop.
async fn give_back(queue: &impl FollowUpQueue, deliveries: Vec<Delivery>) {
    let receipts: Vec<String> = deliveries.into_iter().filter_map(|d| d.receipt).collect();
    if receipts.is_empty() {
        return;
    }
    let count = receipts.len();
    tacos_telemetry::series::followup_messages("given_back", count as u64);
    match queue.release(receipts).await {
        Ok(()) => tracing::info!(
            count,
            "stopping: messages not handled given back to the queue"
        ),
        Err(error) => tracing::warn!(
            count,
            %error,
            "stopping: messages not handled could not be given back; they return after the \
             visibility timeout"
        ),
    }
}

/// Serves `GET /metrics`, `GET /healthz` (the heartbeat's age) and `GET /readyz` (the store
/// answers a ping) on the worker's port, in a task of its own.
async fn serve_health(
    settings: &WorkerSettings,
    heartbeat: Arc<Heartbeat>,
    platform: Arc<Platform>,
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
        .with_state(heartbeat)
        .route(
            "/readyz",
            get(move || async move { readiness(platform.ports.store.ping().await) }),
        );
    tacos_telemetry::series::prometheus();
    // At zero from the start, so a dashboard's rate() and an alert on failures see them.
    for outcome in tacos_telemetry::series::FOLLOWUP_OUTCOMES {
        tacos_telemetry::series::followup_messages(outcome, 0);
    }
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

/// Handles one message and deletes it once handled; a failure hides it until its redelivery
/// ([`tacos_aws::redelivery::failed`]) and returns `false`.
async fn handle(platform: &Platform, queue: &impl FollowUpQueue, delivery: Delivery) -> bool {
    let id = delivery.id.as_str();
    let outcome = tacos_aws::follow_up::follow_up(platform, id, delivery.body.as_deref()).await;
    if let Err(error) = outcome {
        let receives = delivery.receives.as_deref().and_then(|n| n.parse().ok());
        let retry_in = tacos_aws::redelivery::failed(id, receives, &error);
        if let Some(receipt) = delivery.receipt.as_deref() {
            if let Err(error) = queue.hide(receipt, retry_in).await {
                tracing::warn!(
                    message_id = %id,
                    %error,
                    "failed follow-up not hidden: it comes back after the queue's visibility timeout"
                );
            }
        }
        return false;
    }
    tacos_telemetry::series::followup_messages("handled", 1);
    let Some(receipt) = delivery.receipt.as_deref() else {
        return true;
    };
    if let Err(error) = queue.delete(receipt).await {
        tracing::warn!(
            message_id = %id,
            %error,
            "delete failed; the message will be handled again, harmlessly"
        );
    }
    true
}

/// `/readyz`: ready while the store answers, as the http pods' `/readyz`. A worker that is not
/// ready receives nothing anyway ([`until_store_answers`]), and is not restarted for it: a
/// rollout whose new workers cannot reach the table stops instead of replacing the old ones.
fn readiness(ping: Result<(), impl std::fmt::Display>) -> (StatusCode, String) {
    match ping {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store does not answer: {error}"),
        ),
    }
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
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use tokio::sync::oneshot;

    use super::*;
    use queue::QueueError;

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

    /// A queue in memory: batches to hand out, and what the loop deleted and gave back.
    #[derive(Default)]
    struct StandIn {
        batches: Mutex<VecDeque<Vec<Delivery>>>,
        deleted: Mutex<Vec<String>>,
        released: Mutex<Vec<String>>,
        hidden: Mutex<Vec<(String, u64)>>,
        /// SIGTERM, sent when the first delete is made (the first message being finished).
        term_at_delete: Mutex<Option<oneshot::Sender<()>>>,
        /// SIGTERM, sent while a receive waits for SQS's answer.
        term_at_receive: Mutex<Option<oneshot::Sender<()>>>,
    }

    impl FollowUpQueue for StandIn {
        async fn receive(&self) -> Result<Vec<Delivery>, QueueError> {
            let term = self.term_at_receive.lock().unwrap().take();
            if let Some(term) = term {
                let _ = term.send(());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let batch = self.batches.lock().unwrap().pop_front();
            if batch.is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(batch.unwrap_or_default())
        }

        async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
            self.deleted.lock().unwrap().push(receipt.into());
            let term = self.term_at_delete.lock().unwrap().take();
            if let Some(term) = term {
                let _ = term.send(());
            }
            Ok(())
        }

        async fn release(&self, receipts: Vec<String>) -> Result<(), QueueError> {
            self.released.lock().unwrap().extend(receipts);
            Ok(())
        }

        async fn hide(&self, receipt: &str, for_: Duration) -> Result<(), QueueError> {
            let hidden = (receipt.to_string(), for_.as_secs());
            self.hidden.lock().unwrap().push(hidden);
            Ok(())
        }
    }

    fn batch(receipts: &[&str]) -> Vec<Delivery> {
        receipts
            .iter()
            .map(|r| Delivery {
                id: format!("id-{r}"),
                receipt: Some(r.to_string()),
                ..Delivery::default()
            })
            .collect()
    }

    fn platform() -> Platform {
        Platform::new(
            tacos_core::in_process::ports_over(
                Arc::new(tacos_core::in_process::MemoryStore::new()),
                Arc::new(tacos_core::ports::SystemClock),
            ),
            tacos_core::config::Config::for_tests(),
        )
    }

    async fn drained(queue: &StandIn, term: oneshot::Receiver<()>) {
        let stop = async move {
            let _ = term.await;
        };
        tokio::time::timeout(
            Duration::from_secs(5),
            drain(&platform(), queue, &Heartbeat::default(), false, stop),
        )
        .await
        .expect("the worker stopped after SIGTERM");
    }

    #[tokio::test]
    async fn sigterm_mid_batch_finishes_the_message_in_hand_and_gives_the_rest_back() {
        let (term, termed) = oneshot::channel();
        let queue = StandIn {
            batches: Mutex::new([batch(&["a", "b", "c"])].into()),
            term_at_delete: Mutex::new(Some(term)),
            ..StandIn::default()
        };
        let counted = |outcome: &str| {
            tacos_telemetry::series::rendered_value(&format!(
                "followup_messages_total{{outcome=\"{outcome}\"}}"
            ))
        };
        let (handled, given_back) = (counted("handled"), counted("given_back"));
        drained(&queue, termed).await;
        assert_eq!(*queue.deleted.lock().unwrap(), ["a"]);
        assert_eq!(*queue.released.lock().unwrap(), ["b", "c"]);
        // On the worker's /metrics too (other tests may count at the same time: at least).
        assert!(counted("handled") >= handled + 1.0);
        assert!(counted("given_back") >= given_back + 2.0);
    }

    #[tokio::test]
    async fn sigterm_during_a_receive_gives_what_it_received_back() {
        let (term, termed) = oneshot::channel();
        let queue = StandIn {
            batches: Mutex::new([batch(&["a", "b"])].into()),
            term_at_receive: Mutex::new(Some(term)),
            ..StandIn::default()
        };
        drained(&queue, termed).await;
        assert!(queue.deleted.lock().unwrap().is_empty());
        assert_eq!(*queue.released.lock().unwrap(), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_failed_follow_up_is_counted_and_hidden_for_as_long_as_its_failure_calls_for() {
        use tacos_core::ids::{EventId, PaymentIntentId, ReservationId, UserId};
        use tacos_core::ports::{Store, Write};
        let store = Arc::new(tacos_core::in_process::MemoryStore::new());
        let platform = Platform::new(
            tacos_core::in_process::ports_over(
                store.clone(),
                Arc::new(tacos_core::ports::SystemClock),
            ),
            tacos_core::config::Config::for_tests(),
        );
        let payment = PaymentIntentId::generate();
        // An approval of `payment`, as the bus's rule puts it on the queue, on its third receive.
        let delivery = Delivery {
            id: "m-1".into(),
            body: Some(
                serde_json::json!({
                    "source": "tacos.payment",
                    "detail-type": "payment.approved",
                    "detail": {
                        "version": 1,
                        "reservation_id": ReservationId::generate(),
                        "event_id": EventId::generate(),
                        "user_id": UserId::generate(),
                        "seat_ids": [],
                        "quantity": 1,
                        "occurred_at": "2026-12-07T20:00:00Z",
                        "payment_intent_id": payment,
                    },
                })
                .to_string(),
            ),
            receipt: Some("rh-1".into()),
            receives: Some("3".into()),
        };
        let counted = |outcome: &str| {
            tacos_telemetry::series::rendered_value(&format!(
                "followup_messages_total{{outcome=\"{outcome}\"}}"
            ))
        };
        let (deferred, failed) = (counted("deferred"), counted("failed"));
        let queue = StandIn::default();

        // The store away: deferred, hidden for the third wait of an outage (4 minutes).
        store.set_unavailable(true);
        assert!(
            !handle(&platform, &queue, delivery.clone()).await,
            "not handled"
        );
        store.set_unavailable(false);
        // The payment's record unreadable: a failure of another kind, back in a minute.
        let unreadable = tacos_core::domain::payments::intent_key(&payment);
        let mut item = tacos_core::ports::Item::new();
        item.insert("pk".into(), unreadable.pk.clone().into());
        item.insert("sk".into(), unreadable.sk.clone().into());
        item.insert("status".into(), "APPROVED".into());
        item.insert("amount".into(), "not a number".into());
        store.write(Write::put(item)).await.unwrap();
        assert!(!handle(&platform, &queue, delivery).await, "not handled");

        assert!(
            queue.deleted.lock().unwrap().is_empty(),
            "kept for redelivery"
        );
        assert_eq!(
            *queue.hidden.lock().unwrap(),
            [("rh-1".to_string(), 240), ("rh-1".to_string(), 60)]
        );
        // Other tests may count at the same time: at least.
        assert!(counted("deferred") >= deferred + 1.0);
        assert!(counted("failed") >= failed + 1.0);
    }

    #[test]
    fn ready_only_while_the_store_answers() {
        assert_eq!(readiness(Ok::<(), &str>(())).0, StatusCode::OK);
        let (status, body) = readiness(Err("table tacos not found"));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("table tacos not found"), "{body}");
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
