//! The domain's configuration, read once from the environment at start-up.
//!
//! Every deployment (embedded server, Lambda function, container) builds one [`Config`] with
//! [`Config::from_env`]; docs/configuration.md lists every variable. Secrets that are not
//! configured are generated at random for the life of the process, so a local run is safe by
//! default and never falls back to a well-known value. The settings of the layers around the
//! domain (HTTP, AWS, the web app) are read by their own crates with the same [`Env`].

use std::time::Duration;

use crate::domain::stock::MAX_STOCK_SHARDS;

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
    /// Base URL the payment simulator posts webhooks to (`TACOS_PUBLIC_URL`; the embedded server
    /// defaults it to itself).
    pub public_url: Option<String>,
    /// Whether to create the demo event at start-up (`TACOS_DEMO_EVENT`, default true).
    pub seed_demo_event: bool,
    /// Delay of the `delay` payment scenario.
    pub payment_delay: Duration,
    /// How long past its expiry a hold whose payment has started waits for the bank's answer
    /// (`TACOS_PAYMENT_GRACE_SECONDS`, default 120; 0: an approval must come before the hold's
    /// expiry). An approval the bank gave within it confirms the hold whenever its follow-up runs.
    pub payment_grace_seconds: u64,
    /// Join counters per waiting room (`TACOS_QUEUE_SHARDS`, default 1). One counter gives exact
    /// arrival order; the AWS deployment uses 64 so no counter item takes more than ~470 of the
    /// 30,000 joins per second (docs/serverless.md, "Write pattern at 30k joins/s").
    pub queue_shards: u32,
    /// The most items a new event's stock counters are spread over (`TACOS_STOCK_SHARDS`,
    /// default 1, at most 64; an event gets one per 64 places up to it). One item counts every
    /// sale of an event, about 250 a second at DynamoDB's 1,000 WCU/s per item; the AWS
    /// deployment uses 16 (`crate::domain::stock`).
    pub stock_shards: u16,
    /// How the waiting room shows positions (`TACOS_QUEUE_VIEW_MS`, default
    /// [`DEFAULT_QUEUE_VIEW_MS`]). Above 0: each process reads the queue's shared items at most
    /// once per window of that many milliseconds and shows the line as it stood at the window's
    /// start, so any number of instances (Lambda, the cluster) show one position per window and a
    /// status reads its own ticket and the leavers ahead, not the queue's hot items; the AWS
    /// deployment uses 250. 0: every status reads the queue's state, exact to the moment (the
    /// platform tests' setting). See the waiting room's module documentation.
    pub queue_view_ms: i64,
    /// Seconds a waiting person may go unseen (no status asked, no live connection) before
    /// their place is given up (`TACOS_QUEUE_ABANDON_SECS`, default 120; 0: never). See
    /// `domain::queue::presence`.
    pub queue_abandon_secs: u64,
    /// Least time between two moves of a queue's admission cursor (`TACOS_QUEUE_ADVANCE_MS`,
    /// default [`DEFAULT_QUEUE_ADVANCE_MS`], 50 to 1000). Each move admits what the event's rate
    /// earned since the last, so a shorter one admits the same people in smaller, more frequent
    /// groups: 100 ms on the README's server, where a move costs a local write and its buyers
    /// then arrive as an even flow rather than a wave every 200 ms (BENCHMARKS.md §2); 200 on
    /// AWS (the template), where each move is a conditional write of the queue's state item.
    pub queue_advance_ms: i64,
    /// When the payment simulator posts a decided payment's webhook (`TACOS_WEBHOOK_DELIVERY`,
    /// `inline` by default; the README's server defaults to `after-answer`).
    pub webhook_delivery: WebhookDelivery,
}

/// When the payment simulator posts the webhook of a payment it has just decided. Either way a
/// first attempt that does not get through is made again by a timer job
/// (`domain::payments::delivery`: filed before the decision after the answer, when the post
/// fails before it), so the choice is only about who waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookDelivery {
    /// Before the payment's answer: its caller waits for the platform's webhook route. The only
    /// choice for a function on Lambda, which may freeze the moment it has answered.
    Inline,
    /// By a task of its own once the payment is decided, as a provider calls back after
    /// answering: the answer does not wait for a second HTTP round trip through the server
    /// (it halved `POST /payments/process`'s tail at the rush, BENCHMARKS.md §2). For
    /// processes that keep running after they answer (the embedded server).
    AfterAnswer,
}

impl std::str::FromStr for WebhookDelivery {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "inline" => Ok(Self::Inline),
            "after-answer" => Ok(Self::AfterAnswer),
            _ => Err("must be inline or after-answer".into()),
        }
    }
}

impl std::fmt::Debug for Config {
    // Secrets never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("hold_seconds", &self.hold_seconds)
            .field("payment_grace_seconds", &self.payment_grace_seconds)
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
            .field("stock_shards", &self.stock_shards)
            .field("queue_view_ms", &self.queue_view_ms)
            .field("queue_abandon_secs", &self.queue_abandon_secs)
            .field("queue_advance_ms", &self.queue_advance_ms)
            .field("webhook_delivery", &self.webhook_delivery)
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

/// How every placeholder of the deployment templates begins (`deploy/k8s/secret.yaml`).
pub const PLACEHOLDER: &str = "REPLACE_WITH";

/// Where settings are read from: the process's environment, or a list (tests). Empty values
/// count as unset.
pub struct Env {
    lookup: Lookup,
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Env {
    /// The process's environment variables.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// Only the given variables.
    pub fn from_pairs(vars: &[(&str, &str)]) -> Self {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self {
            lookup: Box::new(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            }),
        }
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.is_empty())
    }

    /// The secret `name`, if set. A value still as a template left it (it begins with
    /// [`PLACEHOLDER`], as every value of `deploy/k8s/secret.yaml` does) is refused: it is
    /// public, and `kubectl apply -k deploy/k8s` with the template unedited started pods that
    /// signed tokens with it and let anyone log in as the administrator.
    pub fn secret(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            Some(value) if value.starts_with(PLACEHOLDER) => Err(ConfigError {
                name,
                reason: format!(
                    "still the template's placeholder ({PLACEHOLDER}…): set a value of your own"
                ),
            }),
            value => Ok(value),
        }
    }

    /// `name` parsed, `default` when unset; a value that does not parse is an error naming it.
    pub fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError {
                name,
                reason: e.to_string(),
            }),
        }
    }

    /// As [`Env::parse`], refusing values for which `valid` is false with `reason`.
    pub fn parse_checked<T>(
        &self,
        name: &'static str,
        default: T,
        valid: impl Fn(&T) -> bool,
        reason: &str,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let value = self.parse(name, default)?;
        if valid(&value) {
            Ok(value)
        } else {
            Err(ConfigError {
                name,
                reason: reason.into(),
            })
        }
    }
}

/// The view window of a server that sets none (`TACOS_QUEUE_VIEW_MS`): the README's server reads
/// the queue's state, join counter and stock once per 100 ms instead of at every status, which
/// on its durable store was three of a status's five store reads (1.56x the statuses per second,
/// 0.60 of the CPU per status: BENCHMARKS.md §8.6). What a person waiting sees of it: an
/// admission shows in their status up to 200 ms later (entering checks the live cursor).
pub const DEFAULT_QUEUE_VIEW_MS: i64 = 100;

/// The admission cadence of a server that sets none (`TACOS_QUEUE_ADVANCE_MS`): the README's
/// server moves a queue's cursor at most every 100 ms. At 1,000 admissions a second its buyers,
/// asking their status every 100 ms, had arrived as a wave of 200 every 200 ms, doubling the
/// load of every step after admission for half of each cycle (BENCHMARKS.md §2).
pub const DEFAULT_QUEUE_ADVANCE_MS: i64 = 100;

impl Config {
    /// Reads the configuration from the environment; unset variables take their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Defaults for tests: every secret random, no demo event, short payment delay.
    pub fn for_tests() -> Self {
        let mut config = Self::read(&Env::from_pairs(&[])).expect("defaults are valid");
        config.seed_demo_event = false;
        config.payment_delay = Duration::from_millis(500);
        // Tests that leave people in line without asking their status would see them given up;
        // the tests of abandonment turn it on.
        config.queue_abandon_secs = 0;
        // Positions and admissions exact to the moment, which the platform tests assert step by
        // step; the black-box suite's embedded server runs the default window.
        config.queue_view_ms = 0;
        // Admissions in the steps the platform tests count them in (and AWS makes them).
        config.queue_advance_ms = crate::domain::queue::ADVANCE_EVERY_MS;
        config
    }

    /// Reads the configuration from `env`.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let positive = |v: &f64| v.is_finite() && *v > 0.0;
        Ok(Self {
            hold_seconds: env.parse_checked(
                "TACOS_HOLD_SECONDS",
                60u64,
                |&s| s > 0,
                "must be positive",
            )?,
            demo_admission_rate: env.parse_checked(
                "TACOS_ADMISSION_RATE",
                50.0f64,
                positive,
                "must be positive",
            )?,
            jwt_secret: env
                .secret("TACOS_JWT_SECRET")?
                .unwrap_or_else(random_secret),
            jwt_issuer: env
                .get("TACOS_JWT_ISSUER")
                .unwrap_or_else(|| "traffic-tacos".into()),
            jwt_audience: env
                .get("TACOS_JWT_AUDIENCE")
                .unwrap_or_else(|| "traffic-tacos-api".into()),
            jwt_ttl_seconds: 86_400,
            oidc: OidcConfig::read(env)?,
            webhook_secret: env
                .secret("TACOS_WEBHOOK_SECRET")?
                .unwrap_or_else(random_secret),
            admin_username: env
                .get("TACOS_ADMIN_USERNAME")
                .unwrap_or_else(|| "admin".into()),
            admin_password: env.secret("TACOS_ADMIN_PASSWORD")?,
            public_url: env.get("TACOS_PUBLIC_URL"),
            seed_demo_event: env.parse("TACOS_DEMO_EVENT", true)?,
            payment_delay: Duration::from_secs(2),
            payment_grace_seconds: env.parse_checked(
                "TACOS_PAYMENT_GRACE_SECONDS",
                120u64,
                |&s| s <= 86_400,
                "must be at most 86400 (a day)",
            )?,
            queue_shards: env.parse("TACOS_QUEUE_SHARDS", 1u32)?.clamp(1, 1024),
            stock_shards: env
                .parse("TACOS_STOCK_SHARDS", 1u16)?
                .clamp(1, MAX_STOCK_SHARDS),
            queue_view_ms: env
                .parse("TACOS_QUEUE_VIEW_MS", DEFAULT_QUEUE_VIEW_MS)?
                .clamp(0, 5_000),
            queue_abandon_secs: env.parse_checked(
                "TACOS_QUEUE_ABANDON_SECS",
                120u64,
                |&s| s == 0 || (30..=86_400).contains(&s),
                "must be 0 (never) or from 30 to 86400",
            )?,
            queue_advance_ms: env.parse_checked(
                "TACOS_QUEUE_ADVANCE_MS",
                DEFAULT_QUEUE_ADVANCE_MS,
                |ms| (50..=1_000).contains(ms),
                "must be from 50 to 1000",
            )?,
            webhook_delivery: env.parse("TACOS_WEBHOOK_DELIVERY", WebhookDelivery::Inline)?,
        })
    }
}

impl OidcConfig {
    /// The issuer of `TACOS_OIDC_ISSUER` and `TACOS_OIDC_AUDIENCE` (both or neither), its key set
    /// at `TACOS_OIDC_JWKS_URL` or the issuer's well-known path.
    fn read(env: &Env) -> Result<Option<Self>, ConfigError> {
        match (env.get("TACOS_OIDC_ISSUER"), env.get("TACOS_OIDC_AUDIENCE")) {
            (None, None) => Ok(None),
            (Some(issuer), Some(audience)) => Ok(Some(OidcConfig {
                jwks_url: env.get("TACOS_OIDC_JWKS_URL").unwrap_or_else(|| {
                    format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
                }),
                issuer,
                audience,
                key_refresh_floor: Duration::from_secs(
                    env.parse("TACOS_OIDC_JWKS_REFRESH_SECS", 30u64)?,
                ),
            })),
            _ => Err(ConfigError {
                name: "TACOS_OIDC_ISSUER",
                reason: "TACOS_OIDC_ISSUER and TACOS_OIDC_AUDIENCE must be set together".into(),
            }),
        }
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

    #[test]
    fn a_secret_left_as_the_templates_placeholder_is_refused() {
        for name in [
            "TACOS_JWT_SECRET",
            "TACOS_WEBHOOK_SECRET",
            "TACOS_ADMIN_PASSWORD",
        ] {
            // The values of deploy/k8s/secret.yaml.
            let env = Env::from_pairs(&[(name, "REPLACE_WITH_AT_LEAST_32_RANDOM_CHARACTERS")]);
            let error = Config::read(&env).expect_err(name);
            assert_eq!(error.name, name);
            assert!(error.reason.contains("placeholder"), "{error}");
        }
        let own = Env::from_pairs(&[("TACOS_JWT_SECRET", "a-key-of-our-own-0123456789abcdef")]);
        assert_eq!(
            Config::read(&own).unwrap().jwt_secret,
            "a-key-of-our-own-0123456789abcdef"
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        for (name, value) in [
            ("TACOS_HOLD_SECONDS", "0"),
            ("TACOS_HOLD_SECONDS", "soon"),
            ("TACOS_PAYMENT_GRACE_SECONDS", "-1"),
            ("TACOS_PAYMENT_GRACE_SECONDS", "86401"),
            ("TACOS_ADMISSION_RATE", "0"),
            ("TACOS_ADMISSION_RATE", "NaN"),
            ("TACOS_OIDC_ISSUER", "https://issuer.example"),
            ("TACOS_WEBHOOK_DELIVERY", "later"),
            ("TACOS_QUEUE_ADVANCE_MS", "10"),
        ] {
            let error = Config::read(&Env::from_pairs(&[(name, value)]))
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert_eq!(error.name, name, "{value}: {error}");
        }
    }

    #[test]
    fn webhooks_are_posted_before_answering_unless_told_otherwise() {
        let read = |pairs: &[(&str, &str)]| Config::read(&Env::from_pairs(pairs)).unwrap();
        assert_eq!(read(&[]).webhook_delivery, WebhookDelivery::Inline);
        let after = read(&[("TACOS_WEBHOOK_DELIVERY", "after-answer")]);
        assert_eq!(after.webhook_delivery, WebhookDelivery::AfterAnswer);
    }

    #[test]
    fn unset_secrets_are_random_and_never_shown() {
        let a = Config::for_tests();
        let b = Config::for_tests();
        assert_ne!(a.jwt_secret, b.jwt_secret);
        assert_eq!(a.jwt_secret.len(), 64);
        let shown = format!("{a:?}");
        assert!(!shown.contains(&a.jwt_secret) && !shown.contains(&a.webhook_secret));
    }
}
