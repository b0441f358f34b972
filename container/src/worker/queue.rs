//! The follow-up queue as the worker's loop uses it ([`FollowUpQueue`]): SQS in the cluster
//! ([`SqsQueue`]), a stand-in in the tests.

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use tacos_aws::redelivery::{Hide, Redelivery, RedeliveryError, SqsRedelivery};

/// One received message: what the follow-up reads of it, and how to delete or give it back.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub id: String,
    pub body: Option<String>,
    pub receipt: Option<String>,
    /// SQS's `ApproximateReceiveCount`: the tenth failed delivery is dead-lettered.
    pub receives: Option<String>,
}

/// Why the queue did not do what the loop asked: the loop logs it and goes on (a receive is
/// retried, a message not deleted or given back returns after its visibility timeout).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The call failed; its cause as the SDK's context names it (queue missing, access denied,
    /// connection refused: the SDK's error alone reads "service error" or "dispatch failure").
    #[error("{0}")]
    Call(String),
    /// SQS refused to give some of the messages back.
    #[error("{count} not given back: {failed}")]
    NotGivenBack { count: usize, failed: String },
}

impl QueueError {
    fn of(error: &(impl std::error::Error + 'static)) -> Self {
        Self::Call(DisplayErrorContext(error).to_string())
    }
}

impl From<RedeliveryError> for QueueError {
    fn from(error: RedeliveryError) -> Self {
        match error {
            RedeliveryError::Call(cause) => Self::Call(cause),
            RedeliveryError::NotHidden { count, failed } => Self::NotGivenBack { count, failed },
        }
    }
}

/// What the loop does with the queue.
pub(crate) trait FollowUpQueue {
    /// Up to ten messages; none once the poll's wait is over and the queue is empty.
    async fn receive(&self) -> Result<Vec<Delivery>, QueueError>;
    /// Deletes a handled message.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
    /// Makes messages received but not handled visible again at once, for another worker,
    /// instead of after the visibility timeout (three minutes in the stack).
    async fn release(&self, receipts: Vec<String>) -> Result<(), QueueError>;
    /// Hides a message whose follow-up failed until its next delivery, `for_` from now
    /// (`tacos_aws::redelivery`).
    async fn hide(&self, receipt: &str, for_: Duration) -> Result<(), QueueError>;
}

/// The follow-up queue on SQS.
pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
    /// The long poll's wait (`TACOS_WORKER_POLL_SECONDS`).
    pub poll_seconds: i32,
}

impl SqsQueue {
    /// The same queue, as the one place that sets when messages come back.
    fn redelivery(&self) -> SqsRedelivery {
        SqsRedelivery {
            client: self.client.clone(),
            url: self.url.clone(),
        }
    }
}

impl FollowUpQueue for SqsQueue {
    async fn receive(&self) -> Result<Vec<Delivery>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(self.poll_seconds)
            .send()
            .await
            .map_err(|e| QueueError::of(&e))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| Delivery {
                receives: message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned(),
                id: message.message_id.unwrap_or_default(),
                body: message.body,
                receipt: message.receipt_handle,
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::of(&e))
    }

    async fn release(&self, receipts: Vec<String>) -> Result<(), QueueError> {
        let now = receipts
            .into_iter()
            .map(|receipt| Hide {
                receipt,
                for_: Duration::ZERO,
            })
            .collect();
        Ok(self.redelivery().hide(now).await?)
    }

    async fn hide(&self, receipt: &str, for_: Duration) -> Result<(), QueueError> {
        let hide = Hide {
            receipt: receipt.to_string(),
            for_,
        };
        Ok(self.redelivery().hide(vec![hide]).await?)
    }
}
