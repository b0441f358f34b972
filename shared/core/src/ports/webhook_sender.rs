//! How the payment simulator's webhooks leave the process: the [`WebhookSender`] port.
//!
//! The simulator plays an external provider, so its outcome reaches the platform the way a real
//! provider's would: a signed HTTP request to the platform's public `POST /payments/webhook`,
//! through the whole HTTP stack (rate limits, tracing, verification). The domain signs the
//! webhook ([`crate::domain::webhook_signature`]) and hands it to this port; where it is posted
//! is the adapter's business (`tacos-http-client` posts it to the configured public URL). The
//! in-process adapter ([`crate::in_process::RecordedWebhooks`]) keeps what was sent, for tests.

use async_trait::async_trait;

/// A webhook ready to send: its three signed headers and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// `X-Webhook-Id`.
    pub id: String,
    /// `X-Timestamp` (unix seconds), inside the signature.
    pub timestamp: String,
    /// `X-Signature: sha256=<hex>`.
    pub signature: String,
    /// The JSON body, exactly as signed.
    pub body: String,
    /// Trace context of the job that sends it (`traceparent`, `tracestate`), so the webhook's
    /// request continues the purchase's trace, as a real provider's would not.
    pub trace_headers: Vec<(String, String)>,
}

/// The webhook was not acknowledged; the simulator tries again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No answer: refused, timed out, unreachable.
    #[error("webhook not delivered: {0}")]
    Unreachable(String),
    /// The platform answered, but not with a 2xx.
    #[error("webhook answered {0}")]
    Refused(u16),
}

/// Delivers webhooks to the platform's webhook endpoint.
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Sends `webhook` once; `Ok` means the endpoint acknowledged it with a 2xx.
    async fn send(&self, webhook: &SignedWebhook) -> Result<(), SendError>;
}
