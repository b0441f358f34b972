//! The whole router in process (every route, its middleware: trace ids, idempotency, body limit,
//! CORS) fed requests written as text, so the seeds are real requests:
//!
//! ```text
//! POST /api/v1/queue/join
//! Authorization: Bearer $USER
//! Idempotency-Key: $UUID
//!
//! {"event_id":"evt_demo"}
//! ```
//!
//! `$USER` / `$ADMIN` become a buyer's / the administrator's access token, `$UUID` a fresh
//! UUID, `$WTKN` a waiting token of `evt_demo`. Whatever the request, the answer is never a 5xx,
//! carries `X-Trace-Id`, and every error is `{"error":{"code","message","trace_id"}}` with an
//! UPPER_SNAKE code and the header's trace id.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use tacos_core::config::Config;
use tacos_core::domain::auth::Registration;
use tacos_embedded::InProcess;
use tower::ServiceExt;

#[path = "common.rs"]
mod common;

const ADMIN_PASSWORD: &str = "fuzz-admin-password";

struct Setup {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    user: String,
    admin: String,
    waiting: String,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = Config::for_tests();
        config.jwt_secret = common::JWT_SECRET.into();
        config.webhook_secret = common::WEBHOOK_SECRET.into();
        config.seed_demo_event = true;
        config.admin_password = Some(ADMIN_PASSWORD.into());
        // The simulator's webhooks go nowhere (connection refused at once).
        config.public_url = Some("http://127.0.0.1:1".into());
        // One caller sends every input: per-caller limits would answer nearly all of them 429.
        let settings = tacos_http::settings::HttpSettings {
            rate_limit: None,
            ..tacos_http::settings::HttpSettings::defaults()
        };
        let admin_name = config.admin_username.clone();
        let local = InProcess::new(config);
        let platform = local.platform.clone();
        let (user, admin, waiting) = runtime.block_on(async {
            tacos_core::seed::seed(&platform).await.expect("seeded");
            let user = platform
                .accounts
                .register(Registration {
                    username: "fuzzbuyer".into(),
                    password: "fuzz-buyer-password".into(),
                    email: None,
                    display_name: None,
                })
                .await
                .expect("registered")
                .token;
            let admin = platform
                .accounts
                .login(&admin_name, ADMIN_PASSWORD)
                .await
                .expect("admin")
                .token;
            let waiting = platform
                .queue
                .join(&"evt_demo".parse().expect("id"), None)
                .await
                .expect("joined")
                .waiting_token
                .to_string();
            (user, admin, waiting)
        });
        Setup {
            router: tacos_http::router(Arc::clone(&platform), &settings),
            runtime,
            user,
            admin,
            waiting,
        }
    })
}

fn substitute(text: &str, s: &Setup) -> String {
    let mut out = text
        .replace("$USER", &s.user)
        .replace("$ADMIN", &s.admin)
        .replace("$WTKN", &s.waiting);
    while let Some(at) = out.find("$UUID") {
        out.replace_range(at..at + 5, &uuid::Uuid::new_v4().to_string());
    }
    out
}

/// The request the input describes, if it is one an HTTP server could receive at all.
fn request(data: &[u8], s: &Setup) -> Option<(Method, Request<Body>)> {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|at| (&data[..at], &data[at + 2..]))
        .unwrap_or((data, &[][..]));
    let (head, body) = split;
    let head = substitute(std::str::from_utf8(head).ok()?, s);
    let mut lines = head.lines();
    let (method, target) = lines.next()?.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let uri: Uri = target.trim().parse().ok()?;
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let body = match std::str::from_utf8(body) {
        Ok(text) => substitute(text, s).into_bytes(),
        Err(_) => body.to_vec(),
    };
    builder.body(Body::from(body)).ok().map(|r| (method, r))
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let Some((method, request)) = request(data, s) else {
        return;
    };
    s.runtime.block_on(async {
        let response = s
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        assert!(!status.is_server_error(), "{status} for {method} request");
        let trace = response
            .headers()
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("every response carries X-Trace-Id");
        if status.as_u16() < 400 || method == Method::HEAD {
            return;
        }
        let body = tokio::time::timeout(
            Duration::from_secs(10),
            axum::body::to_bytes(response.into_body(), 1 << 20),
        )
        .await
        .expect("an error body arrives at once")
        .expect("an error body is readable");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("an error body is JSON");
        let error = &json["error"];
        let code = error["code"].as_str().expect("error.code is a string");
        assert!(
            !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "error.code is UPPER_SNAKE: {code:?}"
        );
        assert!(error["message"].is_string(), "error.message is a string");
        assert_eq!(
            error["trace_id"].as_str(),
            Some(trace.as_str()),
            "error.trace_id is the X-Trace-Id header"
        );
        assert!(!trace.is_empty());
    });
});
