//! [`WebhookSender`] in process: keeps every webhook it is given, and can be told to fail.
//!
//! For tests of the simulator's delivery: what was sent (headers, body), in order, and what the
//! simulator does when the platform does not acknowledge (it schedules a retry).

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::ports::webhook_sender::{SendError, SignedWebhook, WebhookSender};

/// Records webhooks instead of posting them.
#[derive(Debug, Default)]
pub struct RecordedWebhooks {
    sent: Mutex<Vec<SignedWebhook>>,
    /// While set, every send fails with this error (and is not recorded).
    failing: Mutex<Option<SendError>>,
}

impl RecordedWebhooks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every webhook acknowledged so far, oldest first.
    pub fn sent(&self) -> Vec<SignedWebhook> {
        self.sent.lock().clone()
    }

    /// Makes every send fail with `error` until called with `None`.
    pub fn fail_with(&self, error: Option<SendError>) {
        *self.failing.lock() = error;
    }
}

#[async_trait]
impl WebhookSender for RecordedWebhooks {
    async fn send(&self, webhook: &SignedWebhook) -> Result<(), SendError> {
        if let Some(error) = self.failing.lock().clone() {
            return Err(error);
        }
        self.sent.lock().push(webhook.clone());
        Ok(())
    }
}
