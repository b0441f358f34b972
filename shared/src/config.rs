//! Runtime configuration, read once from the environment at start-up.
//!
//! Every deployment (embedded server, Lambda function, container) builds one [`Config`] with
//! [`Config::from_env`]; the README lists every variable. Secrets that are not configured are
//! generated at random for the life of the process, so a local run is safe by default and never
//! falls back to a well-known value.

use std::collections::BTreeMap;
use std::time::Duration;

/// OpenID Connect issuer whose tokens are accepted besides the platform's own (for example Cognito).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    /// Shortest time between two fetches of the key set that unknown key ids cause
    /// (`TACOS_OIDC_JWKS_REFRESH_SECS`, default 30): an issuer that rotates its keys is followed
    /// within this time, and a flood of tokens with forged key ids costs one fetch per period.
    pub key_refresh_floor: Duration,
}

/// One token bucket of the rate limiter: `per_second` requests a second on average, and bursts of up
/// to `burst` at once (written `per_second/burst`, for example `50/100`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.per_second, self.burst)
    }
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (rate, burst) = s.trim().split_once('/').ok_or_else(|| {
            format!("`{s}`: expected `<requests per second>/<burst>`, like 50/100")
        })?;
        let per_second: f64 = rate
            .trim()
            .parse()
            .map_err(|e| format!("`{s}`: requests per second: {e}"))?;
        // From one request an hour (anything slower is a typo) to one a nanosecond (the
        // resolution governor refills buckets at); NaN and infinities are out too.
        if !(1.0 / 3600.0..=1e9).contains(&per_second) {
            return Err(format!(
                "`{s}`: requests per second must be between 1/3600 and 1e9"
            ));
        }
        let burst: u32 = burst
            .trim()
            .parse()
            .map_err(|e| format!("`{s}`: burst: {e}"))?;
        if burst == 0 {
            return Err(format!("`{s}`: burst must be at least 1"));
        }
        Ok(RateLimit { per_second, burst })
    }
}

/// Per-caller rate limits (see `http::rate_limit`): a default bucket every limited route shares,
/// and routes with buckets of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// The bucket of every route not named in `routes`, one per caller across all those routes.
    pub default: RateLimit,
    /// `"METHOD /path"` (the path as the endpoint table writes it, `{id}` included) to its own
    /// bucket per caller, or `None` for a route that is not limited at all.
    pub routes: BTreeMap<String, Option<RateLimit>>,
}

impl RateLimits {
    /// 50 requests/s with bursts of 100 per caller: a person clicking, or a page polling the
    /// waiting room every 2 s, never comes close, while one script cannot take more than a sliver.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 50.0,
        burst: 100,
    };

    /// Routes that differ from the default. Login and register hash a password with Argon2 (tens
    /// of milliseconds of CPU each), so they are where one address can cost the most: login is
    /// bounded against credential stuffing (10 tries, then 5 a second, still enough for an office
    /// or a carrier NAT of people signing in before an on-sale), register against bot sign-ups
    /// (10, then 1 a second). The payment webhook is not limited: every webhook comes from the
    /// provider's few addresses, each is verified by its HMAC before anything else, and in the
    /// rush the confirmations of thousands of buyers must not wait behind one address's bucket.
    pub fn route_defaults() -> BTreeMap<String, Option<RateLimit>> {
        BTreeMap::from([
            (
                "POST /api/v1/auth/login".to_string(),
                Some(RateLimit {
                    per_second: 5.0,
                    burst: 10,
                }),
            ),
            (
                "POST /api/v1/auth/register".to_string(),
                Some(RateLimit {
                    per_second: 1.0,
                    burst: 10,
                }),
            ),
            ("POST /api/v1/payments/webhook".to_string(), None),
        ])
    }

    /// `default` for every route, the route defaults, and `routes` (`TACOS_RATE_LIMIT_ROUTES`
    /// syntax: `METHOD /path=rate/burst` or `METHOD /path=off`, comma-separated) on top.
    pub fn with_routes(default: RateLimit, routes: Option<&str>) -> Result<Self, String> {
        let mut limits = RateLimits {
            default,
            routes: Self::route_defaults(),
        };
        for entry in routes.unwrap_or("").split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let (route, limit) = entry.split_once('=').ok_or_else(|| {
                format!("`{entry}`: expected `METHOD /path=rate/burst` or `=off`")
            })?;
            let route = route.split_whitespace().collect::<Vec<_>>().join(" ");
            let known = crate::http::routes::ENDPOINTS
                .iter()
                .any(|e| format!("{} {}", e.method, e.path) == route);
            if !known {
                return Err(format!(
                    "`{route}` is not a route of the API (write it as `POST /api/v1/auth/login`, \
                     paths with `{{id}}`)"
                ));
            }
            let limit = match limit.trim() {
                v if v.eq_ignore_ascii_case("off") => None,
                v => Some(v.parse()?),
            };
            limits.routes.insert(route, limit);
        }
        Ok(limits)
    }
}

#[derive(Clone)]
pub struct Config {
    /// TCP port of the embedded server (`PORT`, default 8000).
    pub port: u16,
    /// How long a hold lasts before it expires (`TACOS_HOLD_SECONDS`, default 60).
    pub hold_seconds: u64,
    /// Admission rate of the seeded demo event (`TACOS_ADMISSION_RATE`, default 50 people/s).
    pub demo_admission_rate: f64,
    /// HMAC key of the platform's own JWTs and reservation tokens (`TACOS_JWT_SECRET`).
    pub jwt_secret: String,
    /// `iss` of issued JWTs (`TACOS_JWT_ISSUER`, default `traffic-tacos`).
    pub jwt_issuer: String,
    /// `aud` of issued JWTs (`TACOS_JWT_AUDIENCE`, default `traffic-tacos-api`).
    pub jwt_audience: String,
    /// Lifetime of issued JWTs in seconds (fixed by the contract at 86400).
    pub jwt_ttl_seconds: u64,
    /// Optional external issuer (`TACOS_OIDC_ISSUER`, `TACOS_OIDC_AUDIENCE`, `TACOS_OIDC_JWKS_URL`).
    pub oidc: Option<OidcConfig>,
    /// Secret the payment simulator signs webhooks with (`TACOS_WEBHOOK_SECRET`).
    pub webhook_secret: String,
    /// Username of the administrator created at start-up (`TACOS_ADMIN_USERNAME`, default `admin`).
    pub admin_username: String,
    /// Its password (`TACOS_ADMIN_PASSWORD`); no administrator exists when unset.
    pub admin_password: Option<String>,
    /// Base URL the payment simulator posts webhooks to (`TACOS_PUBLIC_URL`, default the server).
    pub public_url: Option<String>,
    /// Whether to create the demo event at start-up (`TACOS_DEMO_EVENT`, default true).
    pub seed_demo_event: bool,
    /// Delay of the `delay` payment scenario.
    pub payment_delay: Duration,
    /// Join counters per waiting room (`TACOS_QUEUE_SHARDS`, default 1). One counter gives exact
    /// arrival order; the AWS deployment uses 64 so no counter item takes more than ~470 of the
    /// 30,000 joins per second (see the README's "Write pattern at 30k joins/s").
    pub queue_shards: u32,
    /// How the waiting room shows positions (`TACOS_QUEUE_VIEW_MS`, default 0). 0: every status
    /// reads the queue's state, exact and enough when one process serves the queue (the embedded
    /// server). Above 0: each process reads it at most once per window of that many milliseconds
    /// and shows the line as it stood at the window's start, so any number of instances (Lambda,
    /// the cluster) show one position per window and a status costs one read instead of five
    /// hot-item reads; the AWS deployment uses 250. See the waiting room's module documentation.
    pub queue_view_ms: i64,
    /// Requests of one function's routes in flight at once in a process that serves every route
    /// (`TACOS_FUNCTION_CONCURRENCY`, default 0: no bound). The container sets it so that, as on
    /// Lambda, waiting-room polls cannot crowd out reservations; see `http::bulkhead`.
    pub function_concurrency: usize,
    /// Per-caller rate limits, `None` when off (`TACOS_RATE_LIMIT`: `rate/burst` of the default
    /// bucket, default `50/100`, or `off`; `TACOS_RATE_LIMIT_ROUTES`: routes with buckets of their
    /// own, `METHOD /path=rate/burst|off`, comma-separated, on top of tighter login and register
    /// defaults). Each process limits on its own: on Lambda every instance has its own buckets,
    /// and API Gateway throttling and the WAF rule of `template.yaml` are the deployment-wide
    /// limits. See `http::rate_limit`.
    pub rate_limit: Option<RateLimits>,
    /// A request header naming the client's address, trusted by the Lambda functions instead of
    /// API Gateway's source IP (`TACOS_CLIENT_IP_HEADER`, unset by default). Behind CloudFront the
    /// source IP is an edge server's, shared by thousands of people; `template.yaml` sets
    /// `CloudFront-Viewer-Address` when it puts CloudFront in front of the API.
    pub client_ip_header: Option<String>,
}

impl std::fmt::Debug for Config {
    // Secrets never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("hold_seconds", &self.hold_seconds)
            .field("demo_admission_rate", &self.demo_admission_rate)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("oidc", &self.oidc)
            .field("webhook_secret", &"<redacted>")
            .field("admin_username", &self.admin_username)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url)
            .field("seed_demo_event", &self.seed_demo_event)
            .field("queue_shards", &self.queue_shards)
            .field("queue_view_ms", &self.queue_view_ms)
            .field("function_concurrency", &self.function_concurrency)
            .field("rate_limit", &self.rate_limit)
            .field("client_ip_header", &self.client_ip_header)
            .finish()
    }
}

/// A configuration variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl Config {
    /// Reads the configuration from the environment; unset variables take their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Defaults for tests: every secret random, no demo event, short payment delay.
    pub fn for_tests() -> Self {
        let mut config = Self::from_lookup(|_| None).expect("defaults are valid");
        config.seed_demo_event = false;
        config.payment_delay = Duration::from_millis(500);
        config
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: Option<String>,
            default: T,
        ) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            match value {
                None => Ok(default),
                Some(v) => v.parse().map_err(|e: T::Err| ConfigError {
                    name,
                    reason: e.to_string(),
                }),
            }
        }
        let hold_seconds = parse("TACOS_HOLD_SECONDS", get("TACOS_HOLD_SECONDS"), 60u64)?;
        if hold_seconds == 0 {
            return Err(ConfigError {
                name: "TACOS_HOLD_SECONDS",
                reason: "must be positive".into(),
            });
        }
        let demo_admission_rate =
            parse("TACOS_ADMISSION_RATE", get("TACOS_ADMISSION_RATE"), 50.0f64)?;
        if demo_admission_rate.is_nan() || demo_admission_rate <= 0.0 {
            return Err(ConfigError {
                name: "TACOS_ADMISSION_RATE",
                reason: "must be positive".into(),
            });
        }
        let oidc = match (
            get("TACOS_OIDC_ISSUER"),
            get("TACOS_OIDC_AUDIENCE"),
            get("TACOS_OIDC_JWKS_URL"),
        ) {
            (None, None, None) => None,
            (Some(issuer), Some(audience), jwks_url) => Some(OidcConfig {
                jwks_url: jwks_url.unwrap_or_else(|| {
                    format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
                }),
                issuer,
                audience,
                key_refresh_floor: Duration::from_secs(parse(
                    "TACOS_OIDC_JWKS_REFRESH_SECS",
                    get("TACOS_OIDC_JWKS_REFRESH_SECS"),
                    30u64,
                )?),
            }),
            _ => {
                return Err(ConfigError {
                    name: "TACOS_OIDC_ISSUER",
                    reason: "TACOS_OIDC_ISSUER and TACOS_OIDC_AUDIENCE must be set together".into(),
                })
            }
        };
        let rate_limit = match get("TACOS_RATE_LIMIT").as_deref().map(str::trim) {
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            default => {
                let default = match default {
                    None => RateLimits::DEFAULT,
                    Some(v) => v.parse().map_err(|reason| ConfigError {
                        name: "TACOS_RATE_LIMIT",
                        reason,
                    })?,
                };
                let routes = get("TACOS_RATE_LIMIT_ROUTES");
                Some(
                    RateLimits::with_routes(default, routes.as_deref()).map_err(|reason| {
                        ConfigError {
                            name: "TACOS_RATE_LIMIT_ROUTES",
                            reason,
                        }
                    })?,
                )
            }
        };
        Ok(Self {
            port: parse("PORT", get("PORT"), 8000u16)?,
            hold_seconds,
            demo_admission_rate,
            jwt_secret: get("TACOS_JWT_SECRET").unwrap_or_else(random_secret),
            jwt_issuer: get("TACOS_JWT_ISSUER").unwrap_or_else(|| "traffic-tacos".into()),
            jwt_audience: get("TACOS_JWT_AUDIENCE").unwrap_or_else(|| "traffic-tacos-api".into()),
            jwt_ttl_seconds: 86_400,
            oidc,
            webhook_secret: get("TACOS_WEBHOOK_SECRET").unwrap_or_else(random_secret),
            admin_username: get("TACOS_ADMIN_USERNAME").unwrap_or_else(|| "admin".into()),
            admin_password: get("TACOS_ADMIN_PASSWORD"),
            public_url: get("TACOS_PUBLIC_URL"),
            seed_demo_event: parse("TACOS_DEMO_EVENT", get("TACOS_DEMO_EVENT"), true)?,
            payment_delay: Duration::from_secs(2),
            queue_shards: parse("TACOS_QUEUE_SHARDS", get("TACOS_QUEUE_SHARDS"), 1u32)?
                .clamp(1, 1024),
            queue_view_ms: parse("TACOS_QUEUE_VIEW_MS", get("TACOS_QUEUE_VIEW_MS"), 0i64)?
                .clamp(0, 5_000),
            function_concurrency: parse(
                "TACOS_FUNCTION_CONCURRENCY",
                get("TACOS_FUNCTION_CONCURRENCY"),
                0usize,
            )?,
            rate_limit,
            client_ip_header: get("TACOS_CLIENT_IP_HEADER").map(|h| h.trim().to_ascii_lowercase()),
        })
    }
}

impl Config {
    /// Base URL the payment simulator posts webhooks to: `TACOS_PUBLIC_URL`, else this server.
    pub fn public_base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", self.port))
    }
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn rate_limits_default_to_50_per_second_with_bursts_of_100_and_tighter_sign_ins() {
        let limits = config(&[]).unwrap().rate_limit.expect("on by default");
        assert_eq!(
            limits.default,
            RateLimit {
                per_second: 50.0,
                burst: 100
            }
        );
        assert_eq!(
            limits.routes["POST /api/v1/auth/login"],
            Some(RateLimit {
                per_second: 5.0,
                burst: 10
            })
        );
        assert_eq!(
            limits.routes["POST /api/v1/auth/register"],
            Some(RateLimit {
                per_second: 1.0,
                burst: 10
            })
        );
    }

    #[test]
    fn rate_limits_are_configured_globally_and_per_route() {
        let limits = config(&[
            ("TACOS_RATE_LIMIT", "20/40"),
            (
                "TACOS_RATE_LIMIT_ROUTES",
                "POST /api/v1/queue/join=0.5/3, GET  /api/v1/events/{id}=off,POST /api/v1/auth/login=100/200",
            ),
        ])
        .unwrap()
        .rate_limit
        .unwrap();
        assert_eq!(limits.default.to_string(), "20/40");
        assert_eq!(
            limits.routes["POST /api/v1/queue/join"],
            Some(RateLimit {
                per_second: 0.5,
                burst: 3
            })
        );
        assert_eq!(limits.routes["GET /api/v1/events/{id}"], None);
        assert_eq!(limits.routes["POST /api/v1/auth/login"].unwrap().burst, 200);
        // The default of the route not named stays.
        assert!(limits.routes.contains_key("POST /api/v1/auth/register"));

        assert!(config(&[("TACOS_RATE_LIMIT", "OFF")])
            .unwrap()
            .rate_limit
            .is_none());
    }

    #[test]
    fn bad_rate_limits_are_refused_naming_the_variable() {
        for (name, value) in [
            ("TACOS_RATE_LIMIT", "50"),
            ("TACOS_RATE_LIMIT", "50/0"),
            ("TACOS_RATE_LIMIT", "0/10"),
            ("TACOS_RATE_LIMIT", "fast/10"),
            ("TACOS_RATE_LIMIT_ROUTES", "POST /api/v1/auth/logn=5/10"),
            ("TACOS_RATE_LIMIT_ROUTES", "POST /api/v1/auth/login"),
            ("TACOS_RATE_LIMIT_ROUTES", "GET /api/v1/auth/login=5/10"),
        ] {
            let error = config(&[(name, value)])
                .err()
                .unwrap_or_else(|| panic!("{value}"));
            assert_eq!(error.name, name, "{value}: {error}");
        }
    }
}
