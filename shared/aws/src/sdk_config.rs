//! The SDK configuration every AWS client here is built on: region, credentials and endpoint from
//! the environment, as `aws_config::load_from_env` reads them, over an HTTPS client on rustls
//! with ring.
//!
//! Why not the SDK's default client: it is rustls with aws-lc, a C library that the arm64 build
//! of every function compiled besides ring (which reqwest, and so the webhook and key fetches,
//! already use). One crypto library for the whole binary, built once (BENCHMARKS §5, "Build
//! time"). Certificates are the system's trust store, as with the SDK's default client.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The loader, for callers that set more before loading (a test's fixed region).
pub fn loader() -> ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

/// Loads the configuration from the environment.
pub async fn load() -> SdkConfig {
    loader().load().await
}
