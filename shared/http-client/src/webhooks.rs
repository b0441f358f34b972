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

tokio::task_local! {
    /// The public address of the API the request being served came in through, where the
    /// deployment names none of its own ([`serving_through`]).
    static REQUESTS_API: String;
}

/// Runs `serving` (the handling of one request) knowing that the request came in through the
/// API at `base_url`: a webhook posted while serving it goes there unless a public URL is
/// configured. Lambda's HTTP functions learn the address from API Gateway's request context: a
/// function that posts webhooks (payment-process, before it answers) is an integration of the
/// very API it posts to, and a template cannot give an integration the API's address without a
/// circular dependency.
pub async fn serving_through<F: std::future::Future>(base_url: String, serving: F) -> F::Output {
    REQUESTS_API.scope(base_url, serving).await
}

/// Posts webhooks to `{base_url}/api/v1/payments/webhook`: the configured public URL, else the
/// API of the request being served ([`serving_through`]), else [`DEFAULT_PUBLIC_URL`].
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    url: String,
    /// Whether `url` was configured, and so comes before the request's API.
    configured: bool,
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
            url: webhook_url(base_url),
            configured: true,
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

    /// Webhooks to the configured public URL; without one, to the API of the request being
    /// served ([`serving_through`]), or else [`DEFAULT_PUBLIC_URL`].
    pub fn to_public_url(public_url: Option<&str>) -> Self {
        match public_url {
            Some(url) => Self::new(url),
            None => Self {
                configured: false,
                ..Self::new(DEFAULT_PUBLIC_URL)
            },
        }
    }

    /// Where a webhook posted now goes.
    pub fn url(&self) -> String {
        if !self.configured {
            if let Ok(url) = REQUESTS_API.try_with(|base| webhook_url(base)) {
                return url;
            }
        }
        self.url.clone()
    }
}

fn webhook_url(base_url: &str) -> String {
    [base_url.trim_end_matches('/'), Route::PaymentWebhook.path()].concat()
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, webhook: &SignedWebhook) -> Result<(), SendError> {
        let mut request = self
            .http
            .post(self.url())
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn webhook() -> SignedWebhook {
        SignedWebhook {
            id: "wh_1".into(),
            timestamp: "1".into(),
            signature: "0".repeat(64),
            body: "{}".into(),
            trace_headers: Vec::new(),
        }
    }

    /// A one-request server: answers 200 and hands back the request's first line.
    async fn one_request() -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n") {
                socket.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            let response = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            socket.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8(head).unwrap().trim_end().to_string()
        });
        (base, served)
    }

    #[tokio::test]
    async fn without_a_public_url_a_webhook_goes_to_the_api_the_request_came_in_through() {
        let (base, served) = one_request().await;
        let sender = HttpWebhookSender::to_public_url(None);
        assert_eq!(
            sender.url(),
            webhook_url(DEFAULT_PUBLIC_URL),
            "outside a request"
        );
        serving_through(base.clone(), async {
            assert_eq!(sender.url(), webhook_url(&base));
            sender.send(&webhook()).await.unwrap();
        })
        .await;
        assert_eq!(
            served.await.unwrap(),
            "POST /api/v1/payments/webhook HTTP/1.1"
        );
    }

    #[tokio::test]
    async fn a_configured_public_url_comes_before_the_requests_api() {
        let sender = HttpWebhookSender::to_public_url(Some("https://tickets.example/"));
        serving_through("https://abc.execute-api.example".into(), async {
            assert_eq!(
                sender.url(),
                "https://tickets.example/api/v1/payments/webhook"
            );
        })
        .await;
    }
}
