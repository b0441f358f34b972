//! Harness for the black-box HTTP suite.
//!
//! The suite talks to a Traffic Tacos deployment only through HTTP, so the same tests run against
//! the embedded server, the Lambda functions under `cargo lambda watch`, and the container.
//!
//! * `TACOS_BASE_URL` set (for example `http://127.0.0.1:9000`): the suite drives that deployment.
//!   It must be configured with the admin credentials in `TACOS_ADMIN_USERNAME` /
//!   `TACOS_ADMIN_PASSWORD` and, for the webhook tests, the secret in `TACOS_WEBHOOK_SECRET`.
//! * Unset: the harness starts the embedded server once per test binary, on an ephemeral port of
//!   127.0.0.1, on a runtime of its own thread (so it outlives each `#[tokio::test]` runtime), with
//!   short holds so expiry tests finish in seconds.
//!
//! The web app's tests run only against deployments that serve it at `/`: the embedded server, and
//! a deployment given by URL with `TACOS_SERVES_WEB_APP=1` (the container's HTTP mode, or the
//! CloudFront distribution of `template.yaml` with the app deployed). Its `/config.json` must say
//! what `TACOS_WEB_API_BASE_URL` and `TACOS_WEB_WS_URL` say in the suite's environment.

use std::sync::OnceLock;

pub mod watched_store;

use tacos_embedded::EmbeddedSettings;
use tacos_http::settings::{HttpSettings, RateLimit};

/// Hold length the harness gives the embedded server it starts itself.
pub const EMBEDDED_HOLD_SECONDS: u64 = 3;

/// The deployment under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL without trailing slash and without `/api/v1`.
    pub base_url: String,
    pub admin_username: String,
    pub admin_password: String,
    /// Secret the deployment verifies webhooks with; tests forge and sign webhooks with it.
    pub webhook_secret: String,
    /// Whether the deployment serves the web app at `/` (the Lambda functions do not).
    pub serves_web_app: bool,
    /// The web app's settings the deployment was given (its `/config.json`).
    pub web: tacos_webapp::Settings,
}

impl Target {
    /// `base_url` + `/api/v1` + `path`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base_url, path)
    }
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// The deployment under test, started on first use when `TACOS_BASE_URL` is unset.
pub fn target() -> &'static Target {
    TARGET.get_or_init(|| {
        let admin_username = env_or("TACOS_ADMIN_USERNAME", "admin");
        let admin_password = env_or("TACOS_ADMIN_PASSWORD", "blackbox-admin-password");
        let webhook_secret = env_or("TACOS_WEBHOOK_SECRET", "blackbox-webhook-secret");
        let web = tacos_webapp::Settings::from_env().expect("TACOS_WEB_* settings");
        let (base_url, serves_web_app) = match std::env::var("TACOS_BASE_URL") {
            Ok(url) if !url.is_empty() => (
                url.trim_end_matches('/').to_string(),
                matches!(env_or("TACOS_SERVES_WEB_APP", "0").as_str(), "1" | "true"),
            ),
            _ => (
                start_embedded(&admin_username, &admin_password, &webhook_secret, &web),
                true,
            ),
        };
        Target {
            base_url,
            admin_username,
            admin_password,
            webhook_secret,
            serves_web_app,
            web,
        }
    })
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn start_embedded(
    admin_username: &str,
    admin_password: &str,
    webhook_secret: &str,
    web: &tacos_webapp::Settings,
) -> String {
    let web = web.clone();
    let mut config = tacos_core::config::Config::for_tests();
    config.hold_seconds = EMBEDDED_HOLD_SECONDS;
    // Positions shown per view window, as the README's server shows them (or as wide as
    // `TACOS_QUEUE_VIEW_MS` says, to try the suite at parity's 1,000 ms without its stack).
    config.queue_view_ms = std::env::var("TACOS_QUEUE_VIEW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(tacos_core::config::DEFAULT_QUEUE_VIEW_MS);
    config.admin_username = admin_username.to_string();
    config.admin_password = Some(admin_password.to_string());
    config.webhook_secret = webhook_secret.to_string();
    // As the README's server admits and posts a payment's webhook: moves of the cursor every
    // 100 ms, the webhook after answering.
    config.queue_advance_ms = tacos_core::config::DEFAULT_QUEUE_ADVANCE_MS;
    config.webhook_delivery = tacos_core::config::WebhookDelivery::AfterAnswer;
    // The suite registers hundreds of buyers from one address.
    config.seed_demo_event = true;
    // Every test calls from 127.0.0.1 and the crowd tests send hundreds of requests each: a
    // generous default bucket and registration; login keeps its production limit, which the
    // limit test floods (any other test's login waits out the 429 it may meet).
    let generous = RateLimit {
        per_second: 10_000.0,
        burst: 20_000,
    };
    let mut settings = HttpSettings::defaults();
    let limits = settings
        .rate_limit
        .as_mut()
        .expect("rate limits are on by default");
    limits.default = generous;
    limits
        .routes
        .insert("POST /api/v1/auth/register".into(), Some(generous));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("embedded-server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime for the embedded server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind an ephemeral port");
                let addr = listener.local_addr().expect("local address");
                config.public_url = Some(format!("http://{addr}"));
                tx.send(addr).expect("report the address");
                tacos_local::serve(
                    listener,
                    config,
                    EmbeddedSettings::durable(data_dir()),
                    settings,
                    web,
                    std::future::pending(),
                )
                .await
                .expect("embedded server");
            });
        })
        .expect("spawn the embedded server thread");
    let addr = rx.recv().expect("embedded server address");
    format!("http://{addr}")
}

/// A fresh data directory for the embedded server this process starts: the suite runs on the
/// durable store, the README's default (`target/blackbox-data/<pid>`).
fn data_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/blackbox-data")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
