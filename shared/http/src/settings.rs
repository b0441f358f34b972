//! The HTTP layer's settings, read once at start: port, per-caller rate limits, the header a
//! trusted proxy names the client's address in, and per-function concurrency.

use std::collections::BTreeMap;

use tacos_core::config::{ConfigError, Env};
use tacos_core::functions::Route;
use tacos_core::secret::Secret;

/// How the HTTP layer serves (docs/configuration.md lists every variable).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// TCP port of the embedded server (`PORT`, default 8000).
    pub port: u16,
    /// Requests of one function's routes in flight at once in a process that serves every route
    /// (`TACOS_FUNCTION_CONCURRENCY`, default 0: no bound). The container sets it so that, as on
    /// Lambda, waiting-room polls cannot crowd out reservations; see [`crate::bulkhead`].
    pub function_concurrency: usize,
    /// Per-caller rate limits, `None` when off (`TACOS_RATE_LIMIT`: `rate/burst` of the default
    /// bucket, default `50/100`, or `off`; `TACOS_RATE_LIMIT_ROUTES`: routes with buckets of their
    /// own, `METHOD /path=rate/burst|off`, comma-separated, on top of tighter login and register
    /// defaults). Each process limits on its own: on Lambda every instance has its own buckets,
    /// and API Gateway throttling and the WAF rule of `template.yaml` are the deployment-wide
    /// limits. See [`crate::rate_limit`].
    pub rate_limit: Option<RateLimits>,
    /// A request header naming the client's address, trusted by the Lambda functions instead of
    /// API Gateway's source IP (`TACOS_CLIENT_IP_HEADER`, unset by default). Behind CloudFront the
    /// source IP is an edge server's, shared by thousands of people; `template.yaml` sets
    /// `CloudFront-Viewer-Address` when it puts CloudFront in front of the API.
    pub client_ip_header: Option<String>,
    /// The value a trusted proxy (the template's CloudFront) adds to every request in the
    /// [`ORIGIN_SECRET_HEADER`]; when set, a request without it is refused with 403 before anything
    /// else, and only then is [`HttpSettings::client_ip_header`] believed (`TACOS_ORIGIN_SECRET`;
    /// on AWS the functions read it from Secrets Manager). Unset: every request is served.
    pub origin_secret: Option<Secret>,
    /// Connections the embedded server and the container keep open at once
    /// (`TACOS_MAX_CONNECTIONS`, default 4,096; fewer when the open-files limit is lower), and
    /// from one client address (`TACOS_MAX_CONNECTIONS_PER_ADDRESS`, default a quarter of the
    /// total). Raise the share behind a reverse proxy on the same machine, where every client
    /// comes from the proxy's address, and for a load generator on one machine.
    /// See [`crate::server`].
    pub max_connections: usize,
    pub max_connections_per_address: Option<usize>,
    /// The bearer token a scrape of `GET /metrics` must carry (`TACOS_METRICS_TOKEN`; unset: none
    /// needed). Set it wherever others can reach the port: the container serves the metrics on
    /// the API's port. See [`crate::metrics`].
    pub metrics_token: Option<Secret>,
}

pub use tacos_core::secret::ORIGIN_SECRET_HEADER;

impl HttpSettings {
    /// Reads the settings from the environment; unset variables take their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// The defaults (rate limits on), as with an empty environment.
    pub fn defaults() -> Self {
        Self::read(&Env::from_pairs(&[])).expect("defaults are valid")
    }

    /// Reads the settings from `env`.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            port: env.parse("PORT", 8000u16)?,
            function_concurrency: env.parse("TACOS_FUNCTION_CONCURRENCY", 0usize)?,
            rate_limit: RateLimits::read(env)?,
            client_ip_header: env
                .get("TACOS_CLIENT_IP_HEADER")
                .map(|h| h.trim().to_ascii_lowercase()),
            origin_secret: env.secret("TACOS_ORIGIN_SECRET")?.map(Secret::new),
            max_connections: env.parse("TACOS_MAX_CONNECTIONS", 4096usize)?,
            max_connections_per_address: match env.get("TACOS_MAX_CONNECTIONS_PER_ADDRESS") {
                None => None,
                Some(_) => Some(env.parse("TACOS_MAX_CONNECTIONS_PER_ADDRESS", 0usize)?),
            },
            metrics_token: env.secret("TACOS_METRICS_TOKEN")?.map(Secret::new),
        })
    }
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

/// Per-caller rate limits (see [`crate::rate_limit`]): a default bucket every limited route shares,
/// and routes with buckets of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// The bucket of every route not named in `routes`, one per caller across all those routes.
    pub default: RateLimit,
    /// `"METHOD /path"` (the path as the endpoint table writes it, `{id}` included) to its own
    /// bucket per caller, or `None` for a route that is not limited at all.
    pub routes: BTreeMap<String, Option<RateLimit>>,
    /// The bucket of each username logins name, whoever sends them
    /// (`TACOS_RATE_LIMIT_LOGIN_TARGET`, default `0.2/10`: ten guesses, then one every five
    /// seconds, against any one account); `None`: off.
    pub login_target: Option<RateLimit>,
}

impl RateLimits {
    /// 50 requests/s with bursts of 100 per caller: a person clicking, or a page polling the
    /// waiting room every 2 s, never comes close, while one script cannot take more than a sliver.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 50.0,
        burst: 100,
    };

    /// Logins naming one username: a person who forgot a password retries a few times; a
    /// guesser gets ten tries, then one every five seconds, from however many addresses.
    pub const LOGIN_TARGET: RateLimit = RateLimit {
        per_second: 0.2,
        burst: 10,
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
            login_target: Some(Self::LOGIN_TARGET),
        };
        for entry in routes.unwrap_or("").split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let (route, limit) = entry.split_once('=').ok_or_else(|| {
                format!("`{entry}`: expected `METHOD /path=rate/burst` or `=off`")
            })?;
            let route = Route::from_key(route).map(Route::key).ok_or_else(|| {
                format!(
                    "`{}` is not a route of the API (write it as `POST /api/v1/auth/login`, \
                     paths with `{{id}}`)",
                    route.trim()
                )
            })?;
            let limit = match limit.trim() {
                v if v.eq_ignore_ascii_case("off") => None,
                v => Some(v.parse()?),
            };
            limits.routes.insert(route, limit);
        }
        Ok(limits)
    }
}

impl RateLimits {
    /// `TACOS_RATE_LIMIT` (`rate/burst` or `off`) and `TACOS_RATE_LIMIT_ROUTES`.
    fn read(env: &Env) -> Result<Option<Self>, ConfigError> {
        let default = match env.get("TACOS_RATE_LIMIT").as_deref().map(str::trim) {
            Some(off) if off.eq_ignore_ascii_case("off") => return Ok(None),
            None => RateLimits::DEFAULT,
            Some(v) => v.parse().map_err(|reason| ConfigError {
                name: "TACOS_RATE_LIMIT",
                reason,
            })?,
        };
        let routes = env.get("TACOS_RATE_LIMIT_ROUTES");
        let mut limits =
            RateLimits::with_routes(default, routes.as_deref()).map_err(|reason| ConfigError {
                name: "TACOS_RATE_LIMIT_ROUTES",
                reason,
            })?;
        limits.login_target = match env.get("TACOS_RATE_LIMIT_LOGIN_TARGET").as_deref() {
            None => Some(Self::LOGIN_TARGET),
            Some(off) if off.trim().eq_ignore_ascii_case("off") => None,
            Some(v) => Some(v.parse().map_err(|reason| ConfigError {
                name: "TACOS_RATE_LIMIT_LOGIN_TARGET",
                reason,
            })?),
        };
        Ok(Some(limits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<HttpSettings, ConfigError> {
        HttpSettings::read(&Env::from_pairs(vars))
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
