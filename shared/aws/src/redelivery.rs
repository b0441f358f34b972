//! When a payment follow-up that failed is delivered again.
//!
//! SQS hands a message its consumer did not delete out again once its visibility timeout is over,
//! and moves it to the dead-letter queue at its [`MAX_RECEIVES`]-th receive. Left at the queue's
//! own visibility (180 s) and five receives, a DynamoDB outage of a quarter of an hour used up
//! every receive of every payment outcome in the queue: the DLQ filled with messages nothing was
//! wrong with, its alarm woke the operator, and buyers' confirmations waited for a redrive.
//!
//! So a consumer hides a message that failed for a time that depends on why it failed
//! ([`Failure::of`], [`Failure::retry_in`]):
//!
//! * [`Failure::DependencyAway`]: the store, the scheduler or the bus was unavailable, throttled
//!   or timed out (the platform's [`Error::Unavailable`]); the message is fine. It is tried again
//!   after 1, 2, 4 and 8 minutes, then every 15 minutes: its ten receives span about an hour and a
//!   half before the DLQ, and a follow-up waits at most 15 minutes once the store is back.
//! * [`Failure::Other`]: anything else (an item that cannot be read, a bug). The message may never
//!   succeed, so it goes round quickly: a minute between receives, in the DLQ (and its alarm)
//!   about ten minutes after its first failure.
//!
//! The message is reported failed either way; hiding it only sets when it comes back. If hiding
//! fails, it comes back after the queue's visibility timeout, as before: never lost.
//!
//! [`SqsRedelivery`] hides messages on the follow-up queue (the `payment-followup` function's
//! batches); [`Redelivery`] is what the function needs of it, a stand-in in tests.

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use tacos_core::error::Error;

/// The follow-up queue's `maxReceiveCount` (`template.yaml`, `scripts/aws_setup.py`): the receive
/// that fails this time is the message's last before the dead-letter queue.
pub const MAX_RECEIVES: u32 = 10;

/// The first wait after a dependency was away; it doubles with each receive.
const FIRST_OUTAGE_WAIT: Duration = Duration::from_secs(60);

/// The longest wait after a dependency was away: how long a follow-up may wait once it is back.
const LONGEST_OUTAGE_WAIT: Duration = Duration::from_secs(15 * 60);

/// The wait after any other failure.
const OTHER_FAILURE_WAIT: Duration = Duration::from_secs(60);

/// The longest a call hiding messages may take. The SQS client has no bound of its own (the
/// worker's long polls wait 20 s by design): a call that hung would hold the function to its
/// timeout, and the whole batch, handled records included, would come back after the queue's
/// visibility timeout. Given up, the messages come back at that timeout instead, as when hiding
/// fails.
pub const HIDE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a follow-up failed, as far as its message's next delivery is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A dependency did not answer or refused the work for now: the message is fine.
    DependencyAway,
    /// Anything else: the message may never succeed.
    Other,
}

impl Failure {
    /// The failure of the follow-up that ended in `error`.
    pub fn of(error: &Error) -> Self {
        match error {
            Error::Unavailable(_) => Self::DependencyAway,
            _ => Self::Other,
        }
    }

    /// How long the message stays hidden after its `receives`-th delivery failed so (SQS's
    /// `ApproximateReceiveCount`; 0 or unknown counts as the first).
    pub fn retry_in(self, receives: u32) -> Duration {
        match self {
            Self::DependencyAway => {
                let doublings = receives.saturating_sub(1).min(16);
                FIRST_OUTAGE_WAIT
                    .saturating_mul(1 << doublings)
                    .min(LONGEST_OUTAGE_WAIT)
            }
            Self::Other => OTHER_FAILURE_WAIT,
        }
    }

    /// The `outcome` of `followup_messages_total` that counts it: `deferred` (a dependency away)
    /// or `failed`.
    pub fn outcome(self) -> &'static str {
        match self {
            Self::DependencyAway => "deferred",
            Self::Other => "failed",
        }
    }
}

/// A follow-up that failed with `error` on its `receives`-th delivery (SQS's
/// `ApproximateReceiveCount`; `None` when SQS did not say, counted as the first): counted in
/// `followup_messages_total` as its [`Failure::outcome`], logged as what it is (an error on its
/// last receive, as it goes to the dead-letter queue; a warning otherwise), and how long its
/// message should stay hidden. The one place both consumers of the queue (the
/// `payment-followup` function, the container's worker) settle a failure.
pub fn failed(message_id: &str, receives: Option<u32>, error: &Error) -> Duration {
    let failure = Failure::of(error);
    let receives = receives.unwrap_or(1);
    let retry_in = failure.retry_in(receives);
    tacos_telemetry::series::followup_messages(failure.outcome(), 1);
    match failure {
        _ if receives >= MAX_RECEIVES => tracing::error!(
            message_id,
            receives,
            outcome = failure.outcome(),
            %error,
            "follow-up failed on its last receive: the message goes to the dead-letter queue"
        ),
        Failure::DependencyAway => tracing::warn!(
            message_id,
            receives,
            retry_in_s = retry_in.as_secs(),
            %error,
            "follow-up deferred: a dependency is away; the message comes back later each time"
        ),
        Failure::Other => tracing::warn!(
            message_id,
            receives,
            retry_in_s = retry_in.as_secs(),
            %error,
            "follow-up failed; will be redelivered"
        ),
    }
    retry_in
}

/// One failed message to hide: its receipt handle and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hide {
    pub receipt: String,
    pub for_: Duration,
}

/// Why messages were not hidden: they come back after the queue's visibility timeout instead.
#[derive(Debug, thiserror::Error)]
pub enum RedeliveryError {
    /// The call failed; its cause as the SDK's context names it (queue missing, access denied).
    #[error("{0}")]
    Call(String),
    /// SQS refused some of them (a receipt handle expired, say).
    #[error("{count} not hidden: {failed}")]
    NotHidden { count: usize, failed: String },
}

impl RedeliveryError {
    fn of(error: &(impl std::error::Error + 'static)) -> Self {
        Self::Call(DisplayErrorContext(error).to_string())
    }
}

/// Sets when failed messages come back.
pub trait Redelivery {
    /// Hides each message for its time (at most ten: one batch).
    fn hide(
        &self,
        messages: Vec<Hide>,
    ) -> impl std::future::Future<Output = Result<(), RedeliveryError>> + Send;
}

/// The follow-up queue on SQS (`TACOS_FOLLOWUP_QUEUE_URL`): `ChangeMessageVisibilityBatch`.
#[derive(Debug, Clone)]
pub struct SqsRedelivery {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl Redelivery for SqsRedelivery {
    async fn hide(&self, messages: Vec<Hide>) -> Result<(), RedeliveryError> {
        if messages.is_empty() {
            return Ok(());
        }
        let entries = messages
            .into_iter()
            .enumerate()
            .map(|(i, hide)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(hide.receipt)
                    .visibility_timeout(i32::try_from(hide.for_.as_secs()).unwrap_or(i32::MAX))
                    .build()
                    .map_err(|e| RedeliveryError::of(&e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .customize()
            .config_override(
                aws_sdk_sqs::config::Builder::default().timeout_config(
                    aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                        .operation_timeout(HIDE_TIMEOUT)
                        .build(),
                ),
            )
            .send()
            .await
            .map_err(|e| RedeliveryError::of(&e))?;
        match output.failed.len() {
            0 => Ok(()),
            count => Err(RedeliveryError::NotHidden {
                count,
                failed: format!("{:?}", output.failed),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_away_is_retried_after_growing_waits_of_at_most_15_minutes() {
        let away = Failure::of(&Error::Unavailable("ThrottlingException".into()));
        assert_eq!(away, Failure::DependencyAway);
        let waits: Vec<u64> = (1..=MAX_RECEIVES)
            .map(|receives| away.retry_in(receives).as_secs())
            .collect();
        assert_eq!(
            waits,
            [60, 120, 240, 480, 900, 900, 900, 900, 900, 900],
            "1, 2, 4, 8 minutes, then every quarter of an hour"
        );
        assert_eq!(away.retry_in(0), Duration::from_secs(60));
        assert_eq!(away.retry_in(u32::MAX), LONGEST_OUTAGE_WAIT);
        // Before the DLQ: an outage of an hour and a half is waited out.
        let before_the_dlq: u64 = waits.iter().sum();
        assert!(before_the_dlq >= 90 * 60, "{before_the_dlq} s");
    }

    #[test]
    fn any_other_failure_goes_round_to_the_dlq_in_about_ten_minutes() {
        for error in [
            Error::Internal("an item's text: expected a number".into()),
            Error::InvalidState("no such hold".into()),
        ] {
            let other = Failure::of(&error);
            assert_eq!(other, Failure::Other, "{error}");
            let to_the_dlq: Duration = (1..=MAX_RECEIVES).map(|r| other.retry_in(r)).sum();
            assert_eq!(to_the_dlq, Duration::from_secs(10 * 60));
        }
    }

    #[tokio::test]
    async fn a_hide_that_gets_no_answer_gives_up_after_its_bound() {
        // An endpoint that takes the connection and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                sockets.push(socket);
            }
        });
        let config = crate::sdk_config::loader()
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(format!("http://{address}"))
            .load()
            .await;
        let queue = SqsRedelivery {
            client: aws_sdk_sqs::Client::new(&config),
            url: format!("http://{address}/000000000000/follow-up"),
        };
        let started = std::time::Instant::now();
        let hide = queue.hide(vec![Hide {
            receipt: "receipt".into(),
            for_: Duration::from_secs(60),
        }]);
        let hidden = tokio::time::timeout(HIDE_TIMEOUT * 3, hide)
            .await
            .expect("the hide gives up by itself");
        let took = started.elapsed();
        held.abort();
        assert!(
            matches!(hidden, Err(RedeliveryError::Call(_))),
            "{hidden:?}"
        );
        assert!(
            took >= HIDE_TIMEOUT && took < HIDE_TIMEOUT + Duration::from_secs(3),
            "gave up after {took:?}"
        );
    }

    #[test]
    fn the_queues_dead_letter_at_the_receive_counted_here() {
        let template = include_str!("../../../template.yaml");
        let setup = include_str!("../../../scripts/aws_setup.py");
        assert!(
            template.contains(&format!("maxReceiveCount: {MAX_RECEIVES}\n")),
            "template.yaml's FollowUpQueue dead-letters at MAX_RECEIVES"
        );
        assert!(
            setup.contains(&format!("DLQ_MAX_RECEIVE_COUNT = {MAX_RECEIVES}\n")),
            "scripts/aws_setup.py's follow-up queue dead-letters at MAX_RECEIVES"
        );
    }
}
