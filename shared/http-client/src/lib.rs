//! The ports that call out over HTTP, over reqwest: the payment simulator's webhook delivery
//! ([`HttpWebhookSender`]) and an OIDC issuer's key set ([`HttpKeySource`]).
//!
//! The domain decides what to send and when (signing, retries, key caching); these adapters only
//! carry one request each, with a bounded wait, and report what became of it.

mod keys;
mod webhooks;

pub use keys::HttpKeySource;
pub use webhooks::{serving_through, HttpWebhookSender, DEFAULT_PUBLIC_URL};
