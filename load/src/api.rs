//! The contract's calls, as a buyer's browser makes them, each timed and counted.
//!
//! One `reqwest` client (one connection pool) serves every virtual user: connections are reused
//! across users, as a load balancer in front of a real deployment would see many browsers'
//! keep-alive connections. Setup calls (admin login, creating the event, registering accounts)
//! go through [`Api::setup`] and are not recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::record::{is_success, Recorder, Route};

/// An answer from the server: its status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The contract's error code, when the body is an error.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// `"202"` or `"409 INSUFFICIENT_INVENTORY"`: how the report counts it.
    fn answer(&self) -> String {
        match self.error_code() {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.body[field].as_str()
    }
}

/// Why a call produced no answer.
#[derive(Debug, thiserror::Error)]
#[error("{route:?}: {kind}")]
pub struct NoAnswer {
    pub route: Route,
    pub kind: &'static str,
}

/// A signed-in account the flows buy with.
#[derive(Debug, Clone)]
pub struct Account {
    pub token: String,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://host:port/api/v1`
    base: Arc<str>,
    recorder: Arc<Recorder>,
}

impl Api {
    pub fn new(base_url: &str, timeout: Duration, recorder: Arc<Recorder>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            // The contract redirects nothing and the server is local: neither is looked for.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .context("HTTP client")?;
        Ok(Self {
            http,
            base: format!("{}/api/v1", base_url.trim_end_matches('/')).into(),
            recorder,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// A POST that the contract makes idempotent: it carries a fresh `Idempotency-Key`.
    fn post(&self, path: &str, account: Option<&Account>, body: &Value) -> RequestBuilder {
        let request = self
            .request(Method::POST, path)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(body);
        match account {
            Some(a) => request.bearer_auth(&a.token),
            None => request,
        }
    }

    /// Sends `request`, records it under `route` from `due`, and returns the answer.
    async fn send(
        &self,
        route: Route,
        due: Instant,
        request: RequestBuilder,
    ) -> Result<Reply, NoAnswer> {
        let result = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>(Reply {
                status,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            })
        }
        .await;
        match result {
            Ok(reply) => {
                let answer = reply.answer();
                let ok = is_success(&answer);
                self.recorder.record(route, due, answer, ok);
                Ok(reply)
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "io"
                };
                self.recorder
                    .record(route, due, format!("transport: {kind}"), false);
                Err(NoAnswer { route, kind })
            }
        }
    }

    // ------------------------------------------------------------------ measured calls

    pub async fn join(
        &self,
        due: Instant,
        event_id: &str,
        account: Option<&Account>,
    ) -> Result<Reply, NoAnswer> {
        let request = self.post("/queue/join", account, &json!({ "event_id": event_id }));
        self.send(Route::Join, due, request).await
    }

    pub async fn status(&self, due: Instant, waiting_token: &str) -> Result<Reply, NoAnswer> {
        let request = self
            .request(Method::GET, "/queue/status")
            .query(&[("token", waiting_token)]);
        self.send(Route::Status, due, request).await
    }

    pub async fn enter(&self, account: &Account, waiting_token: &str) -> Result<Reply, NoAnswer> {
        let body = json!({ "waiting_token": waiting_token });
        let request = self.post("/queue/enter", Some(account), &body);
        self.send(Route::Enter, Instant::now(), request).await
    }

    pub async fn reserve(
        &self,
        account: &Account,
        event_id: &str,
        reservation_token: &str,
    ) -> Result<Reply, NoAnswer> {
        let body = json!({
            "event_id": event_id,
            "quantity": 1,
            "reservation_token": reservation_token,
        });
        let request = self.post("/reservations", Some(account), &body);
        self.send(Route::Reserve, Instant::now(), request).await
    }

    /// A payment intent for the whole of `reservation` (the body `POST /reservations` returned).
    pub async fn intent(&self, account: &Account, reservation: &Value) -> Result<Reply, NoAnswer> {
        let body = json!({
            "reservation_id": reservation["reservation_id"],
            "amount": reservation["total_amount"],
            "currency": reservation["currency"],
            "scenario": "approve",
        });
        let request = self.post("/payments/intent", Some(account), &body);
        self.send(Route::Intent, Instant::now(), request).await
    }

    pub async fn process(&self, account: &Account, intent_id: &str) -> Result<Reply, NoAnswer> {
        let body = json!({ "payment_intent_id": intent_id });
        let request = self.post("/payments/process", Some(account), &body);
        self.send(Route::Process, Instant::now(), request).await
    }

    pub async fn reservation(&self, account: &Account, id: &str) -> Result<Reply, NoAnswer> {
        let request = self
            .request(Method::GET, &format!("/reservations/{id}"))
            .bearer_auth(&account.token);
        self.send(Route::Reservation, Instant::now(), request).await
    }

    // ------------------------------------------------------------------ setup (not recorded)

    /// A setup call; anything but `expect` is an error naming the call.
    pub async fn setup(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        expect: u16,
    ) -> anyhow::Result<Value> {
        let mut request = self.request(method.clone(), path);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}: no answer from {}", self.base))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status != expect {
            bail!("{method} {path}: expected {expect}, got {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }

    /// Logs in and returns the bearer token.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({ "username": username, "password": password });
        let v = self
            .setup(Method::POST, "/auth/login", None, Some(&body), 200)
            .await?;
        token_of(&v)
    }

    /// Registers a new account with a unique name.
    pub async fn register(&self) -> anyhow::Result<Account> {
        let username = format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
        let body = json!({ "username": username, "password": "load-driver-password" });
        let v = self
            .setup(Method::POST, "/auth/register", None, Some(&body), 201)
            .await?;
        Ok(Account {
            token: token_of(&v)?,
        })
    }
}

fn token_of(v: &Value) -> anyhow::Result<String> {
    v["token"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no token in {v}"))
}
