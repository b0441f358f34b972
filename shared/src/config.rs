//! Runtime configuration, read once from the environment at start-up.
//!
//! Every deployment (embedded server, Lambda function, container) builds one [`Config`] with
//! [`Config::from_env`]; the README lists every variable. Secrets that are not configured are
//! generated at random for the life of the process, so a local run is safe by default and never
//! falls back to a well-known value.

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
