//! [`KeySource`] over HTTPS: an OIDC issuer's published key set.

use std::time::Duration;

use async_trait::async_trait;
use tacos_core::ports::key_source::{FetchError, KeySource};

/// How long one fetch may take (a request that needs the keys waits for it).
const TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches key sets with a GET.
#[derive(Debug, Clone)]
pub struct HttpKeySource {
    http: reqwest::Client,
}

impl HttpKeySource {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .expect("HTTP client");
        Self { http }
    }
}

impl Default for HttpKeySource {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn fetch(&self, url: &str) -> Result<jsonwebtoken::jwk::JwkSet, FetchError> {
        self.http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| FetchError(e.to_string()))?
            .json()
            .await
            .map_err(|e| FetchError(e.to_string()))
    }
}
