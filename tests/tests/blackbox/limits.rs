//! Abuse limits: per-caller rate limits (429 `RATE_LIMITED` with `Retry-After` and the
//! `X-RateLimit-*` headers), the security headers on every kind of answer, and the 64 KiB body
//! limit for bodies sent without a length.
//!
//! The deployment may size its limits as it likes (the suite's own servers run with a generous
//! default so the crowd tests are not refused); login is limited per address on every deployment
//! the suite drives, so the test floods it with wrong passwords until it is told to stop. On Lambda
//! each function instance has its own buckets, so the 429 comes after a number of requests no test
//! can know: it keeps sending, in bounded waves, until it sees one.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::client::*;

/// The headers every response carries, with their exact values.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

#[track_caller]
pub(crate) fn assert_security_headers(r: &Resp) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            r.header(name).as_deref(),
            Some(*value),
            "{name} on {} ({})",
            r.what,
            r.status
        );
    }
}

#[track_caller]
fn number(r: &Resp, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("{name} missing on {} ({})", r.what, r.status))
        .parse()
        .unwrap_or_else(|e| panic!("{name} on {}: {e}", r.what))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_logins_from_one_address_is_told_to_slow_down() {
    let api = Api::new();
    let username = unique("stuffed");
    let attempt = || {
        api.post("/auth/login")
            .json(&json!({"username": username, "password": "Wrong-Password-123!"}))
            .no_rate_limit_retry()
            .send()
    };
    // An answer of a limited route says how much is left.
    let first = attempt().await;
    first.expect_error(401, "INVALID_CREDENTIALS");
    let limit = number(&first, "x-ratelimit-limit");
    assert!(limit >= 1, "X-RateLimit-Limit {limit}");
    assert!(number(&first, "x-ratelimit-remaining") < limit);
    number(&first, "x-ratelimit-reset");

    let mut refused = None;
    let mut sent = 1;
    while refused.is_none() && sent < 800 {
        let wave = join_all((0..20).map(|_| attempt())).await;
        sent += wave.len();
        for r in wave {
            match (r.code(), r.error_code()) {
                (401, _) => {}
                (429, Some("RATE_LIMITED")) => refused = Some(r),
                // A gateway in front may throttle the route for everyone first (API Gateway's
                // own 429 is not in the contract's shape): not the limit under test.
                (429, _) => {}
                _ => panic!("a login attempt answered {}: {}", r.status, r.text()),
            }
        }
    }
    let r = refused.unwrap_or_else(|| panic!("{sent} wrong logins from one address, never a 429"));
    r.expect_error(429, "RATE_LIMITED");
    assert!(number(&r, "retry-after") >= 1);
    assert!(number(&r, "x-ratelimit-limit") >= 1);
    assert_eq!(number(&r, "x-ratelimit-remaining"), 0);
    assert!(number(&r, "x-ratelimit-reset") >= number(&r, "retry-after"));
    assert_security_headers(&r);
    // The limit is per route and per caller: this address may still read the events...
    api.get("/events").send().await.expect(200);
    // ... and the probes are never limited.
    let health = api.root(Method::GET, "/healthz").send().await;
    health.expect(200);
    assert_eq!(health.header("x-ratelimit-limit"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_carries_the_security_headers() {
    let api = Api::new();
    // A normal answer, a limited route's answer, an error, an unknown route, a probe.
    let events = api.get("/events").send().await;
    events.expect(200);
    assert_security_headers(&events);
    let join = api
        .post("/queue/join")
        .json(&json!({"event_id": "evt_demo"}))
        .send()
        .await;
    join.expect_error(400, "IDEMPOTENCY_REQUIRED");
    assert_security_headers(&join);
    let missing = api.get("/no/such/route").send().await;
    missing.expect_error(404, "NOT_FOUND");
    assert_security_headers(&missing);
    let health = api.root(Method::GET, "/healthz").send().await;
    health.expect(200);
    assert_security_headers(&health);
    // A CORS preflight.
    let preflight = api
        .call(Method::OPTIONS, "/queue/join")
        .header("origin", "https://tickets.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await;
    assert!(
        preflight.status.is_success(),
        "preflight answered {}: {}",
        preflight.status,
        preflight.text()
    );
    assert_security_headers(&preflight);
    // Pages of another origin may read the limit's headers.
    let cross = api
        .get("/events")
        .header("origin", "https://tickets.example")
        .send()
        .await;
    let exposed = cross
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in [
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunked_body_over_64_kib_is_payload_too_large() {
    let api = Api::new();
    // A connection of its own per request: a server may close one whose body it did not read,
    // and a streamed body cannot be sent again on another.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    // Sent as a stream: no Content-Length, so only counting the bytes can refuse it.
    let chunked = |path: &str, bytes: Vec<u8>| {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(4096).map(|c| Ok(c.to_vec())).collect();
        http.post(api.t.api(path))
            .header("content-type", "application/json")
            .header("idempotency-key", new_key())
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
    };
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"{PASSWORD}\"}}",
        "x".repeat(70 * 1024)
    );
    for path in ["/auth/register", "/queue/join"] {
        let response = chunked(path, big.clone().into_bytes())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 413, "POST {path} chunked: {body}");
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE", "{body}");
    }
    // A small chunked body is read as any other.
    let small = json!({"event_id": "evt_nope"}).to_string().into_bytes();
    let response = chunked("/queue/join", small).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
