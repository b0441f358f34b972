//! [`WebhookSender`] over HTTP: the simulator posts to the platform's public webhook endpoint.

use std::time::Duration;

use async_trait::async_trait;
use tacos_core::functions::Route;
use tacos_core::ports::webhook_sender::{SendError, SignedWebhook, WebhookSender};

/// The platform's address when the configuration names no public URL (`TACOS_PUBLIC_URL`): the
/// embedded server on its default port.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8000";

/// How long one delivery may take before it counts as failed (the simulator retries later).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts webhooks to `{base_url}/api/v1/payments/webhook`.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    url: String,
    http: reqwest::Client,
    /// Headers every delivery carries besides the webhook's own (the origin secret, when the
    /// platform's public address is behind a proxy that requires it).
    extra_headers: Vec<(String, String)>,
}

impl HttpWebhookSender {
    /// Webhooks to the platform reachable at `base_url` (its public URL, or the embedded server
    /// itself).
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .expect("HTTP client");
        Self {
            url: format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                Route::PaymentWebhook.path()
            ),
            http,
            extra_headers: Vec::new(),
        }
    }

    /// Every delivery also carries `name: value`.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.extra_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Webhooks to the configured public URL, or [`DEFAULT_PUBLIC_URL`].
    pub fn to_public_url(public_url: Option<&str>) -> Self {
        Self::new(public_url.unwrap_or(DEFAULT_PUBLIC_URL))
    }

    /// Where webhooks are posted.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, webhook: &SignedWebhook) -> Result<(), SendError> {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Webhook-Id", &webhook.id)
            .header("X-Timestamp", &webhook.timestamp)
            .header("X-Signature", &webhook.signature);
        for (name, value) in webhook.trace_headers.iter().chain(&self.extra_headers) {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .body(webhook.body.clone())
            .send()
            .await
            .map_err(|e| SendError::Unreachable(e.to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SendError::Refused(response.status().as_u16()))
        }
    }
}
