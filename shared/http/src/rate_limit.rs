//! Per-caller rate limits, the first thing a request meets after routing.
//!
//! A caller is the verified user (the `sub` of a token that verifies), else the client's address
//! (the socket peer, or the source IP the Lambda entry point sets): a token that does not verify
//! counts as its address, so nobody gets a fresh budget by sending made-up tokens. The routes that
//! take a password (login, register) always count the address, whatever token comes with them:
//! counted per token, each account an attacker holds (or registers) would be a fresh budget of
//! guesses. A login also takes one request from the bucket of the username it names
//! ([`RateLimits::login_target`]), so guesses against one victim are bounded however many
//! addresses send them. Each caller has
//! a token bucket ([`governor`]'s GCRA) of the default size shared by every route, and one per
//! route that [`RateLimits::routes`] sizes on its own (login and register, tighter, against
//! credential stuffing and bot sign-ups). Health, readiness and version are never limited, nor
//! are CORS preflights (answered before routing).
//!
//! The check runs before the idempotency layer and the handler, so a refused request costs one
//! bucket update: no idempotency key is claimed, no password hashed, nothing written, and a retry
//! with the same key later runs as if the 429 never happened. The answer is 429 `RATE_LIMITED`
//! with `Retry-After` (seconds, at least 1); every response of a limited route carries
//! `X-RateLimit-Limit` (the burst), `X-RateLimit-Remaining` (requests left right now) and
//! `X-RateLimit-Reset` (seconds until the bucket is full again). A login meets two buckets (its
//! address's and its username's); its headers describe the one that refuses first.
//!
//! Memory is bounded: every [`PRUNE_EVERY`] checks the buckets forget the callers whose bucket
//! has refilled (indistinguishable from a caller never seen), so a flood of distinct addresses
//! leaves at most the callers of the last couple of seconds (burst / rate) behind.
//!
//! The buckets live in the process. On Lambda each function instance keeps its own, so a caller
//! spread over `n` instances gets up to `n` times the budget; API Gateway's route throttling and
//! the WAF's rate-based rule (`template.yaml`) are the deployment-wide limits there.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
pub use governor::clock::{Clock, DefaultClock, FakeRelativeClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use axum::body::Body;
use tacos_core::domain::auth::KnownDevice;
use tacos_core::error::Error;
use tacos_core::functions::Route;
use tacos_core::platform::Platform;

use crate::error::ApiError;
use crate::extract::{unread_body, verify_caller, ClientAddr};
use crate::settings::{RateLimit, RateLimits};
use crate::MAX_BODY_BYTES;

/// Checks between two prunings of the buckets' forgotten callers.
pub const PRUNE_EVERY: u64 = 1024;

/// Paths never limited: probes must see the process as it is, whatever the callers do.
const UNLIMITED_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/version",
    "/api/v1/healthz",
    "/api/v1/readyz",
    "/api/v1/version",
];

type Buckets<C> =
    RateLimiter<String, DefaultKeyedStateStore<String>, C, StateInformationMiddleware>;

/// One size of bucket, one bucket per caller.
struct Limiter<C: Clock> {
    limit: RateLimit,
    buckets: Buckets<C>,
}

impl<C: Clock + Clone> Limiter<C> {
    fn new(limit: RateLimit, clock: &C) -> Self {
        let period = Duration::from_secs_f64(1.0 / limit.per_second).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN));
        Limiter {
            limit,
            buckets: RateLimiter::dashmap_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
        }
    }
}

/// The outcome of one check, for the response's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The bucket's size (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests the caller may still send at once (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the bucket is full again (`X-RateLimit-Reset`).
    pub reset_secs: u64,
    /// Seconds until the next request is allowed (`Retry-After` of a refused one, at least 1).
    pub retry_after_secs: u64,
}

impl Decision {
    fn write(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The buckets of one router: the default size and the sizes of routes that have their own.
pub struct RateLimiters<C: Clock = DefaultClock> {
    clock: C,
    default: Limiter<C>,
    /// `"METHOD /path"` to its own limiter, or `None` where the route is not limited.
    routes: HashMap<String, Option<Limiter<C>>>,
    /// One bucket per username a login names.
    login_targets: Option<Limiter<C>>,
    checks: AtomicU64,
    prune_every: u64,
}

impl<C: Clock + Clone> RateLimiters<C> {
    pub fn new(limits: &RateLimits, clock: C) -> Self {
        let routes = limits
            .routes
            .iter()
            .map(|(route, limit)| (route.clone(), limit.map(|l| Limiter::new(l, &clock))))
            .collect();
        RateLimiters {
            default: Limiter::new(limits.default, &clock),
            routes,
            login_targets: limits.login_target.map(|l| Limiter::new(l, &clock)),
            clock,
            checks: AtomicU64::new(0),
            prune_every: PRUNE_EVERY,
        }
    }

    /// Prunes every `every` checks instead of [`PRUNE_EVERY`].
    pub fn prune_every(mut self, every: u64) -> Self {
        self.prune_every = every.max(1);
        self
    }

    /// Takes one request of `caller` on `route` (`"METHOD /path"`); `None` when the route is not
    /// limited.
    pub fn check(&self, route: &str, caller: &str) -> Option<Decision> {
        let limiter = match self.routes.get(route) {
            Some(None) => return None,
            Some(Some(limiter)) => limiter,
            None => &self.default,
        };
        Some(self.take(limiter, caller))
    }

    /// Takes one login attempt against `username` (case-insensitive), from `device` when the login
    /// came with the token of a device that signed in to that username before (that device's
    /// own bucket, the same size); `None` when logins are not limited per username.
    pub fn check_login_target(
        &self,
        username: &str,
        device: Option<&KnownDevice>,
    ) -> Option<Decision> {
        let limiter = self.login_targets.as_ref()?;
        let key = match device {
            Some(device) => format!("device:{}", device.id()),
            None => format!("username:{}", username.to_ascii_lowercase()),
        };
        Some(self.take(limiter, &key))
    }

    fn take(&self, limiter: &Limiter<C>, caller: &str) -> Decision {
        if self.checks.fetch_add(1, Ordering::Relaxed) % self.prune_every == self.prune_every - 1 {
            self.prune();
        }
        let burst = limiter.limit.burst;
        let now = self.clock.now();
        let key = caller.to_string();
        match limiter.buckets.check_key(&key) {
            Ok(snapshot) => {
                let period = snapshot.quota().replenish_interval();
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit: burst,
                    remaining,
                    reset_secs: ceil_secs(period * burst.saturating_sub(remaining)),
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => {
                let period = not_until.quota().replenish_interval();
                let wait = not_until.wait_time_from(now);
                Decision {
                    allowed: false,
                    limit: burst,
                    remaining: 0,
                    reset_secs: ceil_secs(wait + period * burst.saturating_sub(1)),
                    retry_after_secs: ceil_secs(wait).max(1),
                }
            }
        }
    }

    /// Forgets every caller whose bucket is full again (as if never seen), and gives the memory
    /// back once most of them are gone (not after every pruning: a steady crowd would make the
    /// map shrink and grow again each time).
    pub fn prune(&self) {
        for limiter in self.limiters() {
            let before = limiter.buckets.len();
            limiter.buckets.retain_recent();
            if limiter.buckets.len() < before / 2 {
                limiter.buckets.shrink_to_fit();
            }
        }
    }

    /// Callers remembered across all buckets.
    pub fn callers(&self) -> usize {
        self.limiters().map(|l| l.buckets.len()).sum()
    }

    fn limiters(&self) -> impl Iterator<Item = &Limiter<C>> {
        std::iter::once(&self.default)
            .chain(self.routes.values().flatten())
            .chain(self.login_targets.iter())
    }

    /// The clock the buckets measure time with.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

/// What the middleware needs: the platform (to verify callers) and the buckets.
pub struct RateLimiting<C: Clock = DefaultClock> {
    pub platform: Arc<Platform>,
    pub limiters: RateLimiters<C>,
}

/// Puts `router`'s routes (and its fallbacks) behind `limits`, measured with `clock`; unchanged
/// when rate limiting is off (`None`). The platform verifies callers' tokens.
pub fn layer<C>(
    router: Router<Arc<Platform>>,
    platform: &Arc<Platform>,
    limits: Option<&RateLimits>,
    clock: C,
) -> Router<Arc<Platform>>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    let Some(limits) = limits else {
        return router;
    };
    let state = Arc::new(RateLimiting {
        platform: platform.clone(),
        limiters: RateLimiters::new(limits, clock),
    });
    router.layer(axum::middleware::from_fn_with_state(state, middleware::<C>))
}

/// The caller a request is counted against: `user:<id>` when its token verifies, else
/// `addr:<client address>`; always the address on the routes that take a password.
async fn caller_of(request: Request, platform: &Platform, by_address: bool) -> (Request, String) {
    let (mut parts, body) = request.into_parts();
    let user = if by_address {
        None
    } else {
        verify_caller(&mut parts, platform).await.ok().flatten()
    };
    let caller = match user {
        Some(principal) => format!("user:{}", principal.user_id),
        None => format!("addr:{}", ClientAddr::of(&parts)),
    };
    (Request::from_parts(parts, body), caller)
}

/// Whether a route takes a password: counted per address, whatever token comes with it.
fn takes_password(route: &str) -> bool {
    [Route::Login, Route::Register]
        .iter()
        .any(|r| route == r.key())
}

/// What a login's body names for its limits: the username, and the device token it came with.
/// The token is read as any JSON value and used only if it is a string: a body whose token has
/// another type must still be counted against its username (read as a string, it failed the
/// whole body's parse, and the login went uncounted: a way around the username's budget that
/// schemathesis found). The handler answers such a body 400.
#[derive(serde::Deserialize)]
struct LoginTarget {
    username: String,
    #[serde(default)]
    device_token: Option<serde_json::Value>,
}

/// What a login's body names, with the request rebuilt around the body it read; `None` for a body
/// that is not a login (the handler refuses it). A body that cannot be read is refused here as
/// every route refuses it ([`unread_body`]: 413, or 408): handed on empty, it was 400
/// `INVALID_REQUEST` from the handler, for a login over 64 KiB.
async fn login_target(request: Request) -> Result<(Request, Option<LoginTarget>), Error> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| unread_body(&e))?;
    let target = serde_json::from_slice::<LoginTarget>(&bytes).ok();
    Ok((Request::from_parts(parts, Body::from(bytes)), target))
}

pub async fn middleware<C>(
    State(state): State<Arc<RateLimiting<C>>>,
    request: Request,
    next: Next,
) -> Response
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if request.method() == Method::OPTIONS
        || path
            .as_deref()
            .is_some_and(|p| UNLIMITED_PATHS.contains(&p))
    {
        return next.run(request).await;
    }
    // Unknown paths share the default bucket under one name.
    let route = format!(
        "{} {}",
        request.method(),
        path.as_deref().unwrap_or("(unmatched)")
    );
    let by_address = takes_password(&route);
    let (request, caller) = caller_of(request, &state.platform, by_address).await;
    let Some(mut decision) = state.limiters.check(&route, &caller) else {
        return next.run(request).await;
    };
    let mut request = request;
    if decision.allowed && route == Route::Login.key() {
        let target;
        (request, target) =
            match login_target_decision(&state.limiters, &state.platform, request).await {
                Ok(read) => read,
                Err(unread) => {
                    let mut response = ApiError(unread).into_response();
                    decision.write(response.headers_mut());
                    return response;
                }
            };
        // The headers tell of the bucket that refuses first: the address's said "9 left" while
        // the username's had 2, and the third guess met an unannounced 429.
        if let Some(target) =
            target.filter(|target| !target.allowed || target.remaining < decision.remaining)
        {
            decision = target;
        }
    }
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        // Debug only: a flood would otherwise turn into as many log lines (the request log line
        // and, on Lambda, the metrics count the 429s).
        tracing::debug!(%route, %caller, retry_after = decision.retry_after_secs, "rate limited");
        ApiError(Error::RateLimited {
            retry_after: decision.retry_after_secs,
        })
        .into_response()
    };
    decision.write(response.headers_mut());
    response
}

/// The login's own budget, kept per target username whoever asks, or per device for a device
/// that signed in to that username before: the request rebuilt after its body was read, and the
/// target's decision when there is a username and a budget for it. A device token that does not
/// check out (forged, expired, another username's) counts as none.
async fn login_target_decision<C: Clock + Clone>(
    limiters: &RateLimiters<C>,
    platform: &Platform,
    request: Request,
) -> Result<(Request, Option<Decision>), Error> {
    let (request, target) = login_target(request).await?;
    let decision = target.and_then(|target| {
        let device = target
            .device_token
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .and_then(|token| platform.accounts.known_device(token, &target.username));
        limiters.check_login_target(&target.username, device.as_ref())
    });
    Ok((request, decision))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::StatusCode;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use tacos_core::config::Config;
    use tacos_embedded::InProcess;

    use crate::settings::HttpSettings;

    fn limits(default: (f64, u32), routes: &[(&str, Option<(f64, u32)>)]) -> RateLimits {
        let limit = |(per_second, burst)| RateLimit { per_second, burst };
        RateLimits {
            default: limit(default),
            routes: routes
                .iter()
                .map(|(route, l)| (route.to_string(), l.map(limit)))
                .collect::<BTreeMap<_, _>>(),
            login_target: None,
        }
    }

    /// The whole router of a platform with `limits`, measured with a clock the test moves.
    async fn platform(limits: Option<RateLimits>) -> (InProcess, Router, FakeRelativeClock) {
        let mut config = Config::for_tests();
        config.seed_demo_event = true;
        let settings = HttpSettings {
            rate_limit: limits,
            ..HttpSettings::defaults()
        };
        let local = InProcess::new(config);
        tacos_core::seed::seed(&local.platform).await.unwrap();
        let clock = FakeRelativeClock::default();
        let router = crate::router_with_clock(local.platform.clone(), &settings, clock.clone());
        (local, router, clock)
    }

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Value,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    async fn send(router: &Router, mut request: Request<Body>, from: &str) -> Answer {
        let addr = SocketAddr::new(from.parse().unwrap(), 40000);
        request.extensions_mut().insert(ConnectInfo(addr));
        let response = router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    fn post(path: &str, body: Value) -> Request<Body> {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    fn join(key: &str) -> Request<Body> {
        let mut request = post(
            "/api/v1/queue/join",
            serde_json::json!({"event_id": "evt_demo"}),
        );
        request
            .headers_mut()
            .insert("idempotency-key", HeaderValue::from_str(key).unwrap());
        request
    }

    fn with_token(mut request: Request<Body>, token: &str) -> Request<Body> {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        request
    }

    async fn register(router: &Router, username: &str, from: &str) -> Answer {
        send(
            router,
            post(
                "/api/v1/auth/register",
                serde_json::json!({"username": username, "password": "Tacos-Are-Great-2024!"}),
            ),
            from,
        )
        .await
    }

    fn login(username: &str) -> Request<Body> {
        post(
            "/api/v1/auth/login",
            serde_json::json!({"username": username, "password": "a wrong guess"}),
        )
    }

    /// Signs up `n` accounts from addresses of their own; their tokens.
    async fn accounts(router: &Router, n: usize) -> Vec<String> {
        let mut tokens = Vec::new();
        for i in 0..n {
            let answer = register(router, &format!("holder{i}"), &format!("10.9.0.{i}")).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
            tokens.push(answer.body["token"].as_str().unwrap().to_string());
        }
        tokens
    }

    #[tokio::test]
    async fn sign_ins_count_the_address_whatever_token_comes_with_them() {
        let login_route = Route::Login.key();
        let mut limits = limits((1000.0, 1000), &[(&login_route, Some((0.001, 3)))]);
        limits.routes.insert(
            Route::Register.key(),
            Some(RateLimit {
                per_second: 0.001,
                burst: 2,
            }),
        );
        let (_local, router, _clock) = platform(Some(limits)).await;
        let tokens = accounts(&router, 5).await;
        // Five accounts' tokens on five guesses from one address: one bucket, the address's.
        let statuses: Vec<StatusCode> =
            futures::future::join_all(tokens.iter().enumerate().map(|(i, token)| {
                send(
                    &router,
                    with_token(login(&format!("victim{i}")), token),
                    "10.1.1.1",
                )
            }))
            .await
            .iter()
            .map(|a| a.status)
            .collect();
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::UNAUTHORIZED)
                .count(),
            3
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            2
        );
        // Registering with a token is counted per address too: two, then refused.
        for (i, token) in tokens.iter().take(2).enumerate() {
            let answer = send(
                &router,
                with_token(
                    post(
                        "/api/v1/auth/register",
                        serde_json::json!({"username": format!("bot{i}"), "password": "Tacos-Are-Great-2024!"}),
                    ),
                    token,
                ),
                "10.1.1.2",
            )
            .await;
            assert_eq!(answer.status, StatusCode::CREATED);
        }
        let refused = send(
            &router,
            with_token(
                post(
                    "/api/v1/auth/register",
                    serde_json::json!({"username": "bot9", "password": "Tacos-Are-Great-2024!"}),
                ),
                &tokens[2],
            ),
            "10.1.1.2",
        )
        .await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    }

    /// The probe's case: 30 addresses of one IPv6 /64 made 30 registrations; a /64 is one caller.
    #[tokio::test]
    async fn the_addresses_of_one_ipv6_64_share_one_budget() {
        let register_route = Route::Register.key();
        let (_local, router, _clock) = platform(Some(limits(
            (1000.0, 1000),
            &[(&register_route, Some((0.001, 2)))],
        )))
        .await;
        let mut statuses = Vec::new();
        for i in 1..=5 {
            let from = format!("2001:db8:7:7:{i:x}::{i:x}");
            statuses.push(register(&router, &format!("v6bot{i}"), &from).await.status);
        }
        assert_eq!(
            statuses,
            [
                StatusCode::CREATED,
                StatusCode::CREATED,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // Another /64 is another caller; IPv4-mapped addresses are each their own.
        for (name, from) in [
            ("v6other", "2001:db8:7:8::1"),
            ("v4a", "::ffff:198.51.100.1"),
            ("v4b", "::ffff:198.51.100.2"),
        ] {
            assert_eq!(
                register(&router, name, from).await.status,
                StatusCode::CREATED,
                "{from}"
            );
        }
    }

    #[tokio::test]
    async fn guesses_against_one_username_are_bounded_from_any_address() {
        let mut limits = limits((1000.0, 1000), &[]);
        limits.login_target = Some(RateLimit {
            per_second: 0.001,
            burst: 3,
        });
        let (_local, router, _clock) = platform(Some(limits)).await;
        let mut statuses = Vec::new();
        for i in 0..6 {
            // A different address each time, and the username written in other cases.
            let name = if i % 2 == 0 { "Victim" } else { "victim" };
            statuses.push(
                send(&router, login(name), &format!("10.2.0.{i}"))
                    .await
                    .status,
            );
        }
        assert_eq!(
            statuses,
            [
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // Another account is not affected.
        let other = send(&router, login("someone-else"), "10.2.0.9").await;
        assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    }

    /// Guessing against a username from anywhere spends that username's budget, not the budget of
    /// a browser that signed in to it before: the owner, sending back the device token their
    /// last login answered, gets in while the guesser is refused (before, the owner was answered
    /// 429 with everyone else for as long as the guessing went on). A device token of another
    /// username, or forged, counts as none; a stolen one buys one device's budget.
    #[tokio::test]
    async fn the_owners_device_keeps_its_own_login_budget_while_strangers_guess() {
        let mut limits = limits((1000.0, 1000), &[]);
        limits.login_target = Some(RateLimit {
            per_second: 0.001,
            burst: 3,
        });
        let (_local, router, _clock) = platform(Some(limits)).await;
        let owner = register(&router, "owner", "10.3.0.1").await;
        assert_eq!(owner.status, StatusCode::CREATED, "{:?}", owner.body);
        let device = owner.body["device_token"].as_str().unwrap().to_string();
        let other = register(&router, "other", "10.3.0.2").await;
        let others_device = other.body["device_token"].as_str().unwrap().to_string();

        // A stranger spends the username's budget from addresses of its own.
        for i in 0..3 {
            let guess = send(&router, login("owner"), &format!("10.3.1.{i}")).await;
            assert_eq!(guess.status, StatusCode::UNAUTHORIZED);
        }
        let guess = send(&router, login("Owner"), "10.3.1.9").await;
        assert_eq!(guess.status, StatusCode::TOO_MANY_REQUESTS);

        let owners_login = |device_token: &str, password: &str| {
            post(
                "/api/v1/auth/login",
                serde_json::json!({
                    "username": "owner",
                    "password": password,
                    "device_token": device_token,
                }),
            )
        };
        // The owner's browser gets in, and is given a device token again.
        let back = send(
            &router,
            owners_login(&device, "Tacos-Are-Great-2024!"),
            "10.3.0.1",
        )
        .await;
        assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
        assert!(back.body["device_token"]
            .as_str()
            .unwrap()
            .starts_with("dvc_"));
        // Another account's device token, or a forged one, is no way around the username's.
        for forged in [others_device.as_str(), "dvc_forged", "not a token"] {
            let refused = send(
                &router,
                owners_login(forged, "Tacos-Are-Great-2024!"),
                "10.3.0.1",
            )
            .await;
            assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{forged}");
        }
        // A device token of another type is no way around it either (it is 400, and counted).
        for odd in [
            serde_json::json!(7),
            serde_json::json!({"t": device}),
            serde_json::json!(null),
        ] {
            let body =
                serde_json::json!({"username": "owner", "password": "x", "device_token": odd});
            let refused = send(&router, post("/api/v1/auth/login", body), "10.3.0.1").await;
            assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{odd}");
        }
        // A stolen device token: that device's own budget (two of three left), then 429.
        let stolen = [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
        ];
        for expected in stolen {
            let guess = send(&router, owners_login(&device, "a wrong guess"), "10.3.2.1").await;
            assert_eq!(guess.status, expected);
        }
    }

    /// An allowed login's `X-RateLimit-*` described the address's bucket even when the
    /// username's was the tighter, so a client read "plenty left" and met a 429: they describe
    /// whichever bucket refuses first.
    #[tokio::test]
    async fn an_allowed_logins_limit_headers_tell_of_the_bucket_that_refuses_first() {
        let login_route = Route::Login.key();
        let mut limits = limits((1000.0, 1000), &[(&login_route, Some((0.001, 5)))]);
        limits.login_target = Some(RateLimit {
            per_second: 0.001,
            burst: 3,
        });
        let (_local, router, _clock) = platform(Some(limits)).await;
        for left in ["2", "1", "0"] {
            let a = send(&router, login("victim"), "10.4.0.1").await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED);
            assert_eq!(a.header("x-ratelimit-limit"), Some("3"));
            assert_eq!(a.header("x-ratelimit-remaining"), Some(left));
        }
        let refused = send(&router, login("victim"), "10.4.0.1").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        // Another username from the same address: the address's bucket (5, four taken) is the
        // tighter now.
        let a = send(&router, login("someone-else"), "10.4.0.1").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
    }

    /// A login over 64 KiB was 400 `INVALID_REQUEST` (the limiter handed the handler an empty
    /// body); it is 413 in the contract's shape, as on every other route, sent with or without a
    /// length.
    #[tokio::test]
    async fn a_login_over_64_kib_is_payload_too_large() {
        let (_local, router, _clock) = platform(HttpSettings::defaults().rate_limit).await;
        let big = serde_json::json!({
            "username": "victim",
            "password": "x".repeat(MAX_BODY_BYTES),
        })
        .to_string()
        .into_bytes();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.chunks(4096).map(|c| Ok(c.to_vec())).collect();
        let chunked = Request::post("/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(Body::from_stream(futures::stream::iter(chunks)))
            .unwrap();
        let sized = Request::post("/api/v1/auth/login")
            .header("content-type", "application/json")
            .header("content-length", big.len())
            .body(Body::from(big.clone()))
            .unwrap();
        for (what, request) in [("chunked", chunked), ("with its length", sized)] {
            let a = send(&router, request, "10.3.0.1").await;
            assert_eq!(
                a.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{what}: {:?}",
                a.body
            );
            assert_eq!(a.body["error"]["code"], "PAYLOAD_TOO_LARGE", "{what}");
            assert_eq!(a.header("content-type"), Some("application/json"));
        }
    }

    #[tokio::test]
    async fn the_default_is_50_a_second_with_bursts_of_100_per_caller() {
        let (_local, router, clock) = platform(HttpSettings::defaults().rate_limit).await;
        for i in 0..100 {
            let a = send(&router, get("/api/v1/events"), "10.0.0.1").await;
            assert_eq!(a.status, StatusCode::OK, "request {i}");
            assert_eq!(a.header("x-ratelimit-limit"), Some("100"));
            assert_eq!(
                a.header("x-ratelimit-remaining"),
                Some((99 - i).to_string().as_str())
            );
        }
        let refused = send(&router, get("/api/v1/events"), "10.0.0.1").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        // One request back every 20 ms, the whole burst in 2 s.
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert_eq!(refused.header("x-ratelimit-reset"), Some("2"));
        clock.advance(Duration::from_millis(20));
        let again = send(&router, get("/api/v1/events"), "10.0.0.1").await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(
            send(&router, get("/api/v1/events"), "10.0.0.1")
                .await
                .status,
            StatusCode::TOO_MANY_REQUESTS
        );
        clock.advance(Duration::from_secs(2));
        let full = send(&router, get("/api/v1/events"), "10.0.0.1").await;
        assert_eq!(full.header("x-ratelimit-remaining"), Some("99"));
    }

    #[tokio::test]
    async fn a_refusal_is_429_rate_limited_in_the_contracts_shape_with_its_headers() {
        let (_local, router, _clock) = platform(Some(limits((0.1, 2), &[]))).await;
        for _ in 0..2 {
            let a = send(&router, get("/api/v1/events"), "10.0.0.1").await;
            assert_eq!(a.status, StatusCode::OK);
        }
        let a = send(&router, get("/api/v1/events"), "10.0.0.1").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(a.body["error"]["code"], "RATE_LIMITED");
        assert!(a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        let trace_id = a.body["error"]["trace_id"].as_str().unwrap();
        assert!(!trace_id.is_empty());
        assert_eq!(a.header("x-trace-id"), Some(trace_id));
        assert_eq!(a.header("content-type"), Some("application/json"));
        // One request every 10 s: the next in 10 s, the bucket full in 20.
        assert_eq!(a.header("retry-after"), Some("10"));
        assert_eq!(a.header("x-ratelimit-limit"), Some("2"));
        assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(a.header("x-ratelimit-reset"), Some("20"));
        // The security headers are on refusals too.
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    }

    #[tokio::test]
    async fn each_caller_has_its_own_budget() {
        let (_local, router, _clock) = platform(Some(limits((0.01, 3), &[]))).await;
        // Two users, both calling from one address: each has three requests.
        let ana = register(&router, "ana", "10.0.0.1").await.body["token"]
            .as_str()
            .unwrap()
            .to_string();
        let bob = register(&router, "bob", "10.0.0.1").await.body["token"]
            .as_str()
            .unwrap()
            .to_string();
        for _ in 0..3 {
            let a = send(&router, with_token(get("/api/v1/events"), &ana), "10.0.0.1").await;
            assert_eq!(a.status, StatusCode::OK);
        }
        let a = send(&router, with_token(get("/api/v1/events"), &ana), "10.0.0.1").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "ana is out");
        for _ in 0..3 {
            let a = send(&router, with_token(get("/api/v1/events"), &bob), "10.0.0.1").await;
            assert_eq!(a.status, StatusCode::OK, "bob has his own budget");
        }
        // Anonymous addresses: one exhausted, another untouched.
        for _ in 0..3 {
            let a = send(&router, get("/api/v1/events"), "10.0.0.7").await;
            assert_eq!(a.status, StatusCode::OK);
        }
        let a = send(&router, get("/api/v1/events"), "10.0.0.7").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        let a = send(&router, get("/api/v1/events"), "10.0.0.8").await;
        assert_eq!(a.status, StatusCode::OK, "another address is not limited");
        // A token that does not verify counts as its address, not as a fresh caller.
        let a = send(
            &router,
            with_token(get("/api/v1/events"), "not-a-valid-token"),
            "10.0.0.7",
        )
        .await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        let forged = format!("{}x", &ana[..ana.len() - 1]);
        let a = send(
            &router,
            with_token(get("/api/v1/events"), &forged),
            "10.0.0.7",
        )
        .await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn routes_with_their_own_limits_and_unlimited_routes() {
        let (_local, router, _clock) = platform(Some(limits(
            (0.01, 2),
            &[
                ("POST /api/v1/auth/login", Some((0.01, 1))),
                ("GET /api/v1/events/{id}", None),
            ],
        )))
        .await;
        let login = || {
            post(
                "/api/v1/auth/login",
                serde_json::json!({"username": "nobody", "password": "Wrong-Password-1!"}),
            )
        };
        let a = send(&router, login(), "10.0.0.1").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.header("x-ratelimit-limit"), Some("1"));
        let a = send(&router, login(), "10.0.0.1").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "login's own limit");
        // Login's bucket is its own: the default one is untouched.
        for _ in 0..2 {
            let a = send(&router, get("/api/v1/events"), "10.0.0.1").await;
            assert_eq!(a.status, StatusCode::OK);
        }
        assert_eq!(
            send(&router, get("/api/v1/events"), "10.0.0.1")
                .await
                .status,
            StatusCode::TOO_MANY_REQUESTS
        );
        // An unlimited route, probes and preflights answer whatever the caller did.
        for path in [
            "/api/v1/events/evt_demo",
            "/healthz",
            "/api/v1/readyz",
            "/version",
        ] {
            for _ in 0..5 {
                let a = send(&router, get(path), "10.0.0.1").await;
                assert_eq!(a.status, StatusCode::OK, "{path}");
                assert_eq!(a.header("x-ratelimit-limit"), None, "{path}");
            }
        }
        let preflight = Request::options("/api/v1/events")
            .header("origin", "https://tickets.example")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap();
        let a = send(&router, preflight, "10.0.0.1").await;
        assert!(a.status.is_success(), "{}", a.status);
        assert_eq!(a.header("x-ratelimit-limit"), None);
        // Browsers let pages read the limit's headers.
        let cross_origin = Request::get("/healthz")
            .header("origin", "https://tickets.example")
            .body(Body::empty())
            .unwrap();
        let a = send(&router, cross_origin, "10.0.0.1").await;
        let exposed = a
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for header in [
            "retry-after",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(exposed.contains(header), "{header} not exposed: {exposed}");
        }
        // Unknown paths share the default bucket.
        let a = send(&router, get("/api/v1/nowhere"), "10.0.0.1").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn a_refused_request_changes_nothing() {
        let (_local, router, clock) = platform(Some(limits(
            (0.01, 1),
            &[("POST /api/v1/auth/register", Some((0.01, 1)))],
        )))
        .await;
        let first = send(&router, join(&uuid::Uuid::new_v4().to_string()), "10.0.0.1").await;
        assert_eq!(first.status, StatusCode::ACCEPTED);
        assert_eq!(first.body["position_hint"], 1);
        // Refused: no ticket, no claim of the key.
        let key = uuid::Uuid::new_v4().to_string();
        let refused = send(&router, join(&key), "10.0.0.1").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        clock.advance(Duration::from_secs(100));
        let retried = send(&router, join(&key), "10.0.0.1").await;
        assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
        assert_eq!(retried.header("x-idempotency-cached"), None);
        assert_eq!(
            retried.body["position_hint"], 2,
            "the refused join took no place in line"
        );

        // A refused registration creates no account (and hashes no password).
        assert_eq!(
            register(&router, "ana", "10.0.0.2").await.status,
            StatusCode::CREATED
        );
        let refused = register(&router, "bob", "10.0.0.2").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        clock.advance(Duration::from_secs(100));
        assert_eq!(
            register(&router, "bob", "10.0.0.2").await.status,
            StatusCode::CREATED,
            "bob was not registered by the refused request"
        );
    }

    #[tokio::test]
    async fn callers_whose_bucket_refilled_are_forgotten() {
        let limiters = RateLimiters::new(&limits((50.0, 100), &[]), FakeRelativeClock::default())
            .prune_every(1000);
        // A flood of distinct addresses, one request each.
        for i in 0..999u32 {
            let addr = format!("addr:10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            assert!(limiters.check("GET /api/v1/events", &addr).unwrap().allowed);
        }
        assert_eq!(limiters.callers(), 999);
        // Their buckets are full again after 2 s; the next pruning (check 1000) forgets them, and
        // only the newest caller stays.
        limiters.clock().advance(Duration::from_secs(2));
        assert!(
            limiters
                .check("GET /api/v1/events", "addr:10.9.9.9")
                .unwrap()
                .allowed
        );
        assert_eq!(limiters.callers(), 1);
        // A caller still drawing on its bucket is remembered through pruning.
        for _ in 0..5 {
            limiters.check("GET /api/v1/events", "addr:10.9.9.9");
        }
        limiters.prune();
        assert_eq!(limiters.callers(), 1);
        let d = limiters
            .check("GET /api/v1/events", "addr:10.9.9.9")
            .unwrap();
        assert_eq!(d.remaining, 100 - 7);
    }

    #[tokio::test]
    async fn off_means_no_limit_and_no_headers() {
        let (_local, router, _clock) = platform(None).await;
        for _ in 0..300 {
            let a = send(&router, get("/api/v1/events"), "10.0.0.1").await;
            assert_eq!(a.status, StatusCode::OK);
            assert_eq!(a.header("x-ratelimit-limit"), None);
        }
    }
}
