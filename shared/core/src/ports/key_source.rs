//! Where an OIDC issuer's signing keys come from: the [`KeySource`] port.
//!
//! Tokens of an external issuer (Cognito) are verified against its JSON Web Key Set, published at
//! a URL. The domain ([`crate::domain::auth::oidc`]) caches the keys and decides when to fetch;
//! the adapter only fetches (`tacos-http-client` over HTTPS; [`crate::in_process::StaticKeys`]
//! serves a fixed set, for tests and offline runs).

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

/// The key set could not be fetched now (unreachable, not JSON, an error status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key set unavailable: {0}")]
pub struct FetchError(pub String);

/// Fetches JSON Web Key Sets.
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// The key set published at `url`.
    async fn fetch(&self, url: &str) -> Result<JwkSet, FetchError>;
}
