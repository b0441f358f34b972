//! [`KeySource`] in process: one fixed key set, whatever the URL.

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use parking_lot::Mutex;

use crate::ports::key_source::{FetchError, KeySource};

/// Serves the key set it was given (none: every fetch fails, as with no issuer reachable), and
/// counts fetches, so tests can see the cache at work.
#[derive(Debug, Default)]
pub struct StaticKeys {
    set: Mutex<Option<JwkSet>>,
    fetches: Mutex<usize>,
}

impl StaticKeys {
    pub fn new(set: Option<JwkSet>) -> Self {
        Self {
            set: Mutex::new(set),
            fetches: Mutex::new(0),
        }
    }

    /// Replaces the key set (an issuer rotating its keys).
    pub fn publish(&self, set: Option<JwkSet>) {
        *self.set.lock() = set;
    }

    /// Fetches so far.
    pub fn fetches(&self) -> usize {
        *self.fetches.lock()
    }
}

#[async_trait]
impl KeySource for StaticKeys {
    async fn fetch(&self, url: &str) -> Result<JwkSet, FetchError> {
        *self.fetches.lock() += 1;
        self.set
            .lock()
            .clone()
            .ok_or_else(|| FetchError(format!("no key set published at {url}")))
    }
}
