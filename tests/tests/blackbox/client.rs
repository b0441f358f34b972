//! A small typed HTTP client for the black-box suite.
//!
//! It knows only the public contract: URLs, JSON bodies, headers. Every helper that expects success
//! panics with the full response (status and body) when the deployment answers anything else, so a
//! failing test says what the server actually did.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use tacos_tests::{target, Target};
use tokio::sync::{OnceCell, Semaphore};

/// How long after a change (a leave, a place given back) every status shows it: a view window
/// and its 100 ms settling time, with room. The window is the target's `TACOS_QUEUE_VIEW_MS` when
/// the suite's environment names it (parity runs 1,000 ms), else 250 ms (AWS's; the README's
/// server runs 100).
pub fn views_settle() -> Duration {
    let window = std::env::var("TACOS_QUEUE_VIEW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(250);
    Duration::from_millis(window + 100 + 400)
}

/// Password every buyer registers with (strong enough for any reasonable policy).
pub const PASSWORD: &str = "Tacos-Are-Great-2024!";

/// One HTTP response, fully read.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    /// `METHOD url`, for messages.
    pub what: String,
}

impl Resp {
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The `error.code` of an error body, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.json.pointer("/error/code").and_then(Value::as_str)
    }

    /// Panics unless the status is `status`; returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.code(),
            status,
            "{} answered {} (expected {status}): {}",
            self.what,
            self.status,
            self.text()
        );
        self.json.clone()
    }

    /// Asserts that this is the contract's error response `status` / `code`:
    /// `{"error":{"code","message","trace_id"}}`, a non-empty message, and a non-empty trace id that
    /// is also the `X-Trace-Id` header. Returns the `error` object.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.code(), self.error_code()),
            (status, Some(code)),
            "{} answered {}: {} (expected {status} {code})",
            self.what,
            self.status,
            self.text()
        );
        assert_error_shape(self);
        self.json["error"].clone()
    }
}

/// The shape every error body must have, whatever the code.
#[track_caller]
pub fn assert_error_shape(r: &Resp) {
    let err = r
        .json
        .get("error")
        .unwrap_or_else(|| panic!("{} error body has no `error` object: {}", r.what, r.text()));
    let code = err["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no error.code: {}", r.what, r.text()));
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
        "{}: error.code {code:?} is not UPPER_SNAKE",
        r.what
    );
    let message = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no error.message: {}", r.what, r.text()));
    assert!(
        !message.trim().is_empty(),
        "{}: empty error.message",
        r.what
    );
    let trace = err["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no error.trace_id: {}", r.what, r.text()));
    assert!(!trace.is_empty(), "{}: empty error.trace_id", r.what);
    assert_eq!(
        r.header("x-trace-id").as_deref(),
        Some(trace),
        "{}: X-Trace-Id header must equal error.trace_id",
        r.what
    );
}

/// The client: one connection pool, optionally a bound on requests in flight.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub t: &'static Target,
    limit: Option<Arc<Semaphore>>,
}

/// A request being built.
pub struct Call<'a> {
    api: &'a Api,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// Whether a 429 `RATE_LIMITED` is waited out (`Retry-After`) and sent again.
    retry_rate_limited: bool,
}

impl<'a> Call<'a> {
    /// Returns a 429 as it is instead of waiting it out (for the tests of the limits themselves).
    pub fn no_rate_limit_retry(mut self) -> Self {
        self.retry_rate_limited = false;
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization".into(), format!("Bearer {token}")));
        self
    }

    /// Bearer token of `user` when there is one.
    pub fn auth(self, user: Option<&User>) -> Self {
        match user {
            Some(u) => self.bearer(&u.token.clone()),
            None => self,
        }
    }

    /// A fresh `Idempotency-Key: <uuid v4>`.
    pub fn idem(self) -> Self {
        let key = new_key();
        self.key(&key)
    }

    pub fn key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("serialise body"));
        self.header("content-type", "application/json")
    }

    /// A raw body with no `Content-Type` of its own.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A raw body sent as `application/json`.
    pub fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.header("content-type", "application/json")
    }

    pub async fn send(self) -> Resp {
        let what = format!("{} {}", self.method, self.url);
        let _permit = match &self.api.limit {
            Some(s) => Some(s.clone().acquire_owned().await.expect("semaphore")),
            None => None,
        };
        let mut attempt = 0;
        let mut rate_limited = 0;
        loop {
            attempt += 1;
            let mut rb = self.api.http.request(self.method.clone(), &self.url);
            for (k, v) in &self.headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            if let Some(b) = &self.body {
                rb = rb.body(b.clone());
            }
            match rb.send().await {
                // The deployment limits each caller's requests, and every test calls from the same
                // address: a client that meets the limit (the login of one test while the limit
                // test floods logins) waits as long as it is told and tries again, as a browser
                // client would.
                Ok(resp)
                    if resp.status() == StatusCode::TOO_MANY_REQUESTS
                        && self.retry_rate_limited
                        && rate_limited < 10 =>
                {
                    rate_limited += 1;
                    let wait = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1)
                        .clamp(1, 5);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp
                        .bytes()
                        .await
                        .unwrap_or_else(|e| panic!("{what}: reading body: {e}"))
                        .to_vec();
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    return Resp {
                        status,
                        headers,
                        body,
                        json,
                        what,
                    };
                }
                // A connection the server closed while idle in the pool is not the server's
                // answer; retry only failures to connect/send, never a timeout after sending.
                Err(e) if attempt < 3 && (e.is_connect() || e.is_request()) && !e.is_timeout() => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!(
                    "{what}: transport error: {e} ({})",
                    std::error::Error::source(&e).map_or(String::new(), |s| format!("{s:?}"))
                ),
            }
        }
    }
}

/// A registered buyer.
#[derive(Debug, Clone)]
pub struct User {
    pub token: String,
    pub user_id: String,
    pub username: String,
    pub password: String,
}

pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 64 random bits (the tests crate has no `rand`; a v4 UUID is random enough).
pub fn rand_u64() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

pub fn rand_below(n: usize) -> usize {
    (rand_u64() % n as u64) as usize
}

/// A unique lowercase alphanumeric suffix.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

pub fn parse_time(v: &Value) -> DateTime<Utc> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected an RFC 3339 string, got {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Counts of an availability document: `(total, available, held, sold)`. Asserts the invariant
/// `total = available + held + sold` and, for seated events, that the counts match the seat list.
#[track_caller]
pub fn counts(av: &Value) -> (i64, i64, i64, i64) {
    let get = |k: &str| {
        av[k]
            .as_i64()
            .unwrap_or_else(|| panic!("availability.{k} is not an integer: {av}"))
    };
    let (total, available, held, sold) = (get("total"), get("available"), get("held"), get("sold"));
    assert_eq!(
        total,
        available + held + sold,
        "total != available + held + sold: {av}"
    );
    let seats = av["seats"]
        .as_array()
        .unwrap_or_else(|| panic!("availability.seats is not an array: {av}"));
    if !seats.is_empty() {
        let n = |s: &str| seats.iter().filter(|x| x["status"] == s).count() as i64;
        assert_eq!(seats.len() as i64, total, "seat list length != total: {av}");
        assert_eq!(
            (n("AVAILABLE"), n("HELD"), n("SOLD")),
            (available, held, sold),
            "seat statuses disagree with the counts: {av}"
        );
    }
    (total, available, held, sold)
}

/// Status of one seat in an availability document.
pub fn seat_status(av: &Value, seat: &str) -> String {
    av["seats"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["seat_id"] == seat))
        .and_then(|x| x["status"].as_str())
        .unwrap_or_else(|| panic!("seat {seat} not in availability {av}"))
        .to_string()
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + id + "." + body)>`.
pub fn sign_webhook(secret: &str, timestamp: &str, id: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

static ADMIN_TOKEN: OnceCell<String> = OnceCell::const_new();

impl Api {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        Api {
            http,
            t: target(),
            limit: None,
        }
    }

    /// A client that keeps at most `n` requests in flight.
    pub fn with_limit(n: usize) -> Self {
        Api {
            limit: Some(Arc::new(Semaphore::new(n))),
            ..Self::new()
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            self.t.api(path)
        }
    }

    /// A request to `path` under `/api/v1` (or an absolute URL).
    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            api: self,
            method,
            url: self.url(path),
            headers: Vec::new(),
            body: None,
            retry_rate_limited: true,
        }
    }

    /// Where the deployment is (before `/api/v1`).
    pub fn base_url(&self) -> &str {
        &self.t.base_url
    }

    /// A request to `path` at the root of the deployment (outside `/api/v1`).
    pub fn root(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            api: self,
            method,
            url: format!("{}{path}", self.t.base_url),
            headers: Vec::new(),
            body: None,
            retry_rate_limited: true,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }
    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call(Method::DELETE, path)
    }

    // ---------------------------------------------------------------- auth

    pub async fn register_as(&self, username: &str) -> Resp {
        self.post("/auth/register")
            .json(&json!({"username": username, "password": PASSWORD, "email": format!("{username}@example.com")}))
            .send()
            .await
    }

    /// Registers a new buyer with a unique username.
    pub async fn register(&self) -> User {
        let username = unique("buyer");
        let r = self.register_as(&username).await;
        let v = r.expect(201);
        user_from(&v, &username, PASSWORD)
    }

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.post("/auth/login")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
    }

    /// The administrator's bearer token (logged in once per test binary).
    pub async fn admin_token(&self) -> String {
        ADMIN_TOKEN
            .get_or_init(|| async {
                let r = self
                    .login(&self.t.admin_username, &self.t.admin_password)
                    .await;
                let v = r.expect(200);
                assert_eq!(
                    v["role"], "admin",
                    "the configured admin must have role admin: {v}"
                );
                v["token"].as_str().expect("admin token").to_string()
            })
            .await
            .clone()
    }

    // ---------------------------------------------------------------- events

    pub async fn create_event_raw(&self, body: &Value) -> Resp {
        let token = self.admin_token().await;
        self.post("/admin/events")
            .bearer(&token)
            .json(body)
            .send()
            .await
    }

    /// Creates an event from a full body; expects 201.
    pub async fn create_event(&self, body: &Value) -> Value {
        let v = self.create_event_raw(body).await.expect(201);
        assert!(
            v["event_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("evt_")),
            "event_id: {v}"
        );
        v
    }

    /// A seated event: `sections` as `(name, rows, seats_per_row)`.
    pub async fn seated_event(
        &self,
        sections: &[(&str, u32, u32)],
        price: i64,
        rate: f64,
    ) -> Value {
        self.create_event(&seated_body(sections, price, rate)).await
    }

    /// A general-admission event.
    pub async fn ga_event(&self, capacity: u64, price: i64, rate: f64) -> Value {
        self.create_event(&ga_body(capacity, price, rate)).await
    }

    pub async fn availability(&self, event_id: &str) -> Value {
        self.get(&format!("/events/{event_id}/availability"))
            .send()
            .await
            .expect(200)
    }

    // ---------------------------------------------------------------- waiting room

    pub async fn join_raw(&self, event_id: &str, user: Option<&User>) -> Resp {
        self.post("/queue/join")
            .auth(user)
            .idem()
            .json(&json!({"event_id": event_id}))
            .send()
            .await
    }

    /// Joins the waiting room; expects 202 and returns the body.
    pub async fn join(&self, event_id: &str, user: Option<&User>) -> Value {
        let v = self.join_raw(event_id, user).await.expect(202);
        assert!(
            v["waiting_token"]
                .as_str()
                .is_some_and(|s| s.starts_with("wtkn_")),
            "join: {v}"
        );
        v
    }

    pub async fn status_raw(&self, waiting_token: &str) -> Resp {
        self.get(&format!("/queue/status?token={waiting_token}"))
            .send()
            .await
    }

    pub async fn status(&self, waiting_token: &str) -> Value {
        self.status_raw(waiting_token).await.expect(200)
    }

    /// Polls the status every 100 ms until `settled` holds of it, for up to 5 s, and returns the
    /// last one. Leaves (and the places a duplicate join gave back) show in positions within a
    /// view window and its settling time, not at once; meanwhile a position must never grow.
    pub async fn status_once(
        &self,
        waiting_token: &str,
        settled: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last: Option<Value> = None;
        loop {
            let s = self.status(waiting_token).await;
            if let (Some(then), Some(now)) = (
                last.as_ref().and_then(|l| l["position"].as_i64()),
                s["position"].as_i64(),
            ) {
                assert!(now <= then, "the position grew: {last:?} → {s}");
            }
            if settled(&s) || Instant::now() > deadline {
                return s;
            }
            last = Some(s);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the status every 200 ms until `ready_for_entry`; panics after `timeout`.
    pub async fn wait_ready(&self, waiting_token: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(waiting_token).await;
            if s["ready_for_entry"] == true {
                assert_eq!(
                    s["status"], "ready",
                    "ready_for_entry but status is not ready: {s}"
                );
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "not admitted within {timeout:?}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn enter_raw(&self, waiting_token: &str, user: Option<&User>) -> Resp {
        self.post("/queue/enter")
            .auth(user)
            .idem()
            .json(&json!({"waiting_token": waiting_token}))
            .send()
            .await
    }

    /// Enters with a ready waiting token; returns the reservation token.
    pub async fn enter(&self, waiting_token: &str, user: &User) -> String {
        let v = self.enter_raw(waiting_token, Some(user)).await.expect(200);
        assert_eq!(v["admission"], "granted", "enter: {v}");
        let rtkn = v["reservation_token"]
            .as_str()
            .expect("reservation_token")
            .to_string();
        assert!(rtkn.starts_with("rtkn_"), "reservation token prefix: {v}");
        rtkn
    }

    /// Join, wait until admitted (≤ 60 s), enter: the reservation token.
    pub async fn admit(&self, event_id: &str, user: &User) -> String {
        let joined = self.join(event_id, Some(user)).await;
        let wtkn = joined["waiting_token"].as_str().unwrap().to_string();
        self.wait_ready(&wtkn, Duration::from_secs(60)).await;
        self.enter(&wtkn, user).await
    }

    // ---------------------------------------------------------------- reservations

    pub async fn reserve_raw(&self, user: &User, body: &Value) -> Resp {
        self.post("/reservations")
            .bearer(&user.token)
            .idem()
            .json(body)
            .send()
            .await
    }

    pub async fn reserve_seats(
        &self,
        user: &User,
        event_id: &str,
        seats: &[&str],
        rtkn: &str,
    ) -> Resp {
        self.reserve_raw(
            user,
            &json!({"event_id": event_id, "seat_ids": seats, "quantity": seats.len(), "reservation_token": rtkn}),
        )
        .await
    }

    pub async fn reserve_qty(
        &self,
        user: &User,
        event_id: &str,
        quantity: u32,
        rtkn: &str,
    ) -> Resp {
        self.reserve_raw(
            user,
            &json!({"event_id": event_id, "quantity": quantity, "reservation_token": rtkn}),
        )
        .await
    }

    /// Admit `user` and hold `seats`: the reservation (201).
    pub async fn hold_seats(&self, user: &User, event_id: &str, seats: &[&str]) -> Value {
        let rtkn = self.admit(event_id, user).await;
        let v = self
            .reserve_seats(user, event_id, seats, &rtkn)
            .await
            .expect(201);
        assert_eq!(v["status"], "HOLD", "new reservation: {v}");
        v
    }

    /// Admit `user` and hold `quantity` general-admission tickets.
    pub async fn hold_qty(&self, user: &User, event_id: &str, quantity: u32) -> Value {
        let rtkn = self.admit(event_id, user).await;
        let v = self
            .reserve_qty(user, event_id, quantity, &rtkn)
            .await
            .expect(201);
        assert_eq!(v["status"], "HOLD", "new reservation: {v}");
        v
    }

    pub async fn reservation_raw(&self, user: &User, id: &str) -> Resp {
        self.get(&format!("/reservations/{id}"))
            .bearer(&user.token)
            .send()
            .await
    }

    pub async fn reservation(&self, user: &User, id: &str) -> Value {
        self.reservation_raw(user, id).await.expect(200)
    }

    /// Polls the reservation until its status is `want`; panics if it reaches another final state
    /// or `timeout` passes.
    pub async fn wait_reservation(
        &self,
        user: &User,
        id: &str,
        want: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.reservation(user, id).await;
            if v["status"] == want {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "reservation {id} not {want} within {timeout:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn confirm_raw(&self, user: &User, id: &str, pi: &str) -> Resp {
        self.post(&format!("/reservations/{id}/confirm"))
            .bearer(&user.token)
            .idem()
            .json(&json!({"payment_intent_id": pi}))
            .send()
            .await
    }

    pub async fn cancel_delete(&self, user: &User, id: &str) -> Resp {
        self.delete(&format!("/reservations/{id}"))
            .bearer(&user.token)
            .send()
            .await
    }

    pub async fn cancel_post(&self, user: &User, id: &str) -> Resp {
        self.post(&format!("/reservations/{id}/cancel"))
            .bearer(&user.token)
            .send()
            .await
    }

    // ---------------------------------------------------------------- payments

    pub async fn intent_raw(&self, user: &User, body: &Value) -> Resp {
        self.post("/payments/intent")
            .bearer(&user.token)
            .idem()
            .json(body)
            .send()
            .await
    }

    /// A payment intent for the whole amount of `rsv`.
    pub async fn intent(&self, user: &User, rsv: &Value, scenario: Option<&str>) -> Value {
        let mut body = json!({
            "reservation_id": rsv["reservation_id"],
            "amount": rsv["total_amount"],
            "currency": rsv["currency"],
        });
        if let Some(s) = scenario {
            body["scenario"] = json!(s);
        }
        let v = self.intent_raw(user, &body).await.expect(200);
        assert!(
            v["payment_intent_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("pi_")),
            "intent: {v}"
        );
        v
    }

    pub async fn process_raw(&self, user: &User, pi: &str, action: Option<&str>) -> Resp {
        let mut body = json!({"payment_intent_id": pi});
        if let Some(a) = action {
            body["action"] = json!(a);
        }
        self.post("/payments/process")
            .bearer(&user.token)
            .idem()
            .json(&body)
            .send()
            .await
    }

    /// Intent + process with approval: the payment intent id.
    pub async fn pay(&self, user: &User, rsv: &Value) -> String {
        let pi = self.intent(user, rsv, None).await["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_string();
        let v = self.process_raw(user, &pi, None).await.expect(200);
        assert_eq!(
            v["status"], "APPROVED",
            "approve scenario must approve at once: {v}"
        );
        pi
    }

    pub async fn payment_status_raw(&self, user: &User, pi: &str) -> Resp {
        self.get(&format!("/payments/{pi}/status"))
            .bearer(&user.token)
            .send()
            .await
    }

    /// Polls the payment status until it is `want`.
    pub async fn wait_payment(
        &self,
        user: &User,
        pi: &str,
        want: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.payment_status_raw(user, pi).await.expect(200);
            if v["status"] == want {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "payment {pi} not {want} within {timeout:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Posts a webhook signed with the deployment's secret.
    pub async fn webhook(&self, webhook_id: &str, body: &Value) -> Resp {
        let ts = Utc::now().timestamp().to_string();
        let bytes = serde_json::to_vec(body).unwrap();
        let sig = sign_webhook(&self.t.webhook_secret, &ts, webhook_id, &bytes);
        self.webhook_with(webhook_id, &ts, &sig, bytes).await
    }

    pub async fn webhook_with(
        &self,
        webhook_id: &str,
        ts: &str,
        signature: &str,
        body: Vec<u8>,
    ) -> Resp {
        self.post("/payments/webhook")
            .header("x-webhook-id", webhook_id)
            .header("x-timestamp", ts)
            .header("x-signature", signature)
            .raw(body)
            .send()
            .await
    }
}

/// The webhook body the simulator would send for `pi` of `rsv`.
pub fn webhook_body(kind: &str, pi: &str, rsv: &Value) -> Value {
    json!({
        "type": kind,
        "payment_intent_id": pi,
        "reservation_id": rsv["reservation_id"],
        "amount": rsv["total_amount"],
        "currency": rsv["currency"],
        // Unix seconds, like `X-Timestamp` (the contract does not type `ts`; the simulator sends this).
        "ts": Utc::now().timestamp(),
    })
}

#[track_caller]
pub fn user_from(v: &Value, username: &str, password: &str) -> User {
    let token = v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {v}"))
        .to_string();
    let user_id = v["user_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user_id: {v}"))
        .to_string();
    User {
        token,
        user_id,
        username: username.to_string(),
        password: password.to_string(),
    }
}

/// A start time `days` days from now, plus a random few minutes so events never tie.
pub fn starts_in_days(days: i64) -> String {
    (Utc::now()
        + chrono::Duration::days(days)
        + chrono::Duration::seconds((rand_u64() % 3600) as i64))
    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn seated_body(sections: &[(&str, u32, u32)], price: i64, rate: f64) -> Value {
    let sections: Vec<Value> = sections
        .iter()
        .map(|(n, r, s)| json!({"name": n, "rows": r, "seats_per_row": s}))
        .collect();
    json!({
        "name": unique("Seated show "),
        "venue": "Black-box Hall",
        "starts_at": starts_in_days(30),
        "currency": "USD",
        "price": price,
        "admission_rate_per_sec": rate,
        "sections": sections,
    })
}

pub fn ga_body(capacity: u64, price: i64, rate: f64) -> Value {
    json!({
        "name": unique("GA festival "),
        "venue": "Black-box Field",
        "starts_at": starts_in_days(30),
        "currency": "USD",
        "price": price,
        "admission_rate_per_sec": rate,
        "capacity": capacity,
    })
}

pub fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// Base64url without padding (for forging JWTs).
pub fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => panic!("not base64url: {s}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let produced = chunk.len() * 6 / 8;
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// HS256 signature of `header.payload` with `key`.
pub fn hs256(key: &[u8], signing_input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(signing_input.as_bytes());
    b64url(&mac.finalize().into_bytes())
}

/// Seat ids of a reservation.
pub fn seat_ids(rsv: &Value) -> Vec<String> {
    rsv["seat_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("seat_ids is not an array: {rsv}"))
        .iter()
        .map(|s| s.as_str().expect("seat id").to_string())
        .collect()
}

/// Sleeps until `at` (capped at `cap`).
pub async fn sleep_until(at: DateTime<Utc>, cap: Duration) {
    let wait = (at - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO)
        .min(cap);
    tokio::time::sleep(wait).await;
}

/// A server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub at: Instant,
    pub name: String,
    pub data: String,
}

/// A client of a server-sent event stream that behaves like a browser's `EventSource`: when the
/// server ends the stream it reconnects after the last `retry:` the server sent (3 s before any),
/// so a deployment that answers one event per request (Lambda behind API Gateway) and one that
/// keeps the connection open look the same to the test, as they do to a browser.
pub struct EventSource {
    http: reqwest::Client,
    url: String,
    response: Option<reqwest::Response>,
    buffer: String,
    /// The reconnection delay the server asked for, if it did.
    pub retry: Option<Duration>,
    /// Connections opened, the first one included.
    pub connections: usize,
}

impl EventSource {
    /// Opens `url`; panics unless the answer is 200 `text/event-stream`. Returns the first
    /// response's headers too.
    pub async fn open(api: &Api, url: String) -> (Self, HeaderMap) {
        let mut source = EventSource {
            http: api.http.clone(),
            url,
            response: None,
            buffer: String::new(),
            retry: None,
            connections: 0,
        };
        let headers = source.connect().await;
        (source, headers)
    }

    async fn connect(&mut self) -> HeaderMap {
        let response = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {}: {e}", self.url));
        let headers = response.headers().clone();
        let ctype = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            response.status() == StatusCode::OK && ctype.starts_with("text/event-stream"),
            "GET {} answered {} {ctype:?}",
            self.url,
            response.status()
        );
        self.connections += 1;
        self.buffer.clear();
        self.response = Some(response);
        headers
    }

    /// The next event, or `None` when none came within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let Some(response) = self.response.as_mut() else {
                // The server ended the stream: reconnect as EventSource does.
                let wait = self.retry.unwrap_or(Duration::from_secs(3));
                if left < wait {
                    tokio::time::sleep(left).await;
                    return None;
                }
                tokio::time::sleep(wait).await;
                self.connect().await;
                continue;
            };
            match tokio::time::timeout(left, response.chunk()).await {
                Err(_) => return None,
                Ok(Err(e)) => panic!("reading the event stream {}: {e}", self.url),
                Ok(Ok(None)) => self.response = None,
                Ok(Ok(Some(chunk))) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n")),
            }
        }
    }

    /// Takes the first complete event off the buffer (comments and `retry:`-only blocks are
    /// consumed without being returned).
    fn parse_one(&mut self) -> Option<SseEvent> {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut name, mut data) = (String::from("message"), Vec::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                } else if let Some(v) = line.strip_prefix("retry:") {
                    if let Ok(ms) = v.trim().parse() {
                        self.retry = Some(Duration::from_millis(ms));
                    }
                }
            }
            if !data.is_empty() {
                return Some(SseEvent {
                    at: Instant::now(),
                    name,
                    data: data.join("\n"),
                });
            }
        }
        None
    }
}
