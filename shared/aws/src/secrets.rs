//! The platform's secrets, from AWS Secrets Manager or, for local runs, plain variables.
//!
//! Four secrets: the HMAC key of the platform's JWTs and reservation tokens, the webhook signing
//! secret, the administrator's password, and the CloudFront origin secret (the header value that
//! proves a request came through the distribution). Each can be given two ways:
//!
//! | secret | plain variable (local runs) | Secrets Manager reference (AWS) |
//! |---|---|---|
//! | JWT key | `TACOS_JWT_SECRET` | `TACOS_JWT_SECRET_ARN` |
//! | webhook | `TACOS_WEBHOOK_SECRET` | `TACOS_WEBHOOK_SECRET_ARN` |
//! | administrator | `TACOS_ADMIN_PASSWORD` | `TACOS_ADMIN_PASSWORD_ARN` |
//! | origin | `TACOS_ORIGIN_SECRET` | `TACOS_ORIGIN_SECRET_ARN` |
//!
//! A reference is a secret's ARN (or name) whose `SecretString` is the value itself, not JSON: what
//! CloudFormation's `GenerateSecretString` makes. Giving both variables of one secret is refused
//! ([`SettingsError::Ambiguous`]) rather than guessed at.
//!
//! [`load`] reads every referenced secret once, concurrently, when a function (or the container)
//! starts; invocations reuse the values. A secret that cannot be read fails the start with an error
//! naming the variable, so a deployment missing a permission never serves a request with a random
//! key. Rotating a secret therefore reaches each instance at its next cold start; the JWT key's
//! rotation also ends every session signed with the old one.
//!
//! Why not environment variables in AWS: Lambda shows them to anyone allowed
//! `lambda:GetFunctionConfiguration`, in the console, in every deployment tool's output, and they
//! cannot be rotated without redeploying. `secretsmanager:GetSecretValue` is granted per secret
//! to the functions that need it, and every read is in CloudTrail.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tacos_core::config::Config;
use tacos_core::functions::Function;
pub use tacos_core::secret::{Secret, SecretName};

use crate::env::{optional, SettingsError};

/// Where one secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value itself, from the plain variable.
    Plain(Secret),
    /// A Secrets Manager secret (ARN or name) whose `SecretString` is the value.
    SecretsManager(String),
}

/// Where each secret comes from; `None`: not given at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSources {
    pub jwt: Option<SecretSource>,
    pub webhook: Option<SecretSource>,
    pub admin_password: Option<SecretSource>,
    pub origin: Option<SecretSource>,
}

impl SecretSources {
    pub(crate) fn from_lookup(
        lookup: &impl Fn(&'static str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, SettingsError> {
        let source = |name: SecretName| -> Result<Option<SecretSource>, SettingsError> {
            let plain = name.plain_variable();
            let reference = name.reference_variable();
            match (optional(lookup, plain)?, optional(lookup, reference)?) {
                (Some(_), Some(_)) => Err(SettingsError::Ambiguous { plain, reference }),
                (Some(value), None) => Ok(Some(SecretSource::Plain(Secret::new(value)))),
                (None, Some(id)) => Ok(Some(SecretSource::SecretsManager(id))),
                (None, None) => Ok(None),
            }
        };
        Ok(Self {
            jwt: source(SecretName::Jwt)?,
            webhook: source(SecretName::Webhook)?,
            admin_password: source(SecretName::AdminPassword)?,
            origin: source(SecretName::Origin)?,
        })
    }

    pub fn get(&self, name: SecretName) -> Option<&SecretSource> {
        match name {
            SecretName::Jwt => self.jwt.as_ref(),
            SecretName::Webhook => self.webhook.as_ref(),
            SecretName::AdminPassword => self.admin_password.as_ref(),
            SecretName::Origin => self.origin.as_ref(),
        }
    }

    /// Refuses a start of `function` without a secret it reads and [must be
    /// given](SecretName::must_be_given): the deployment left out its reference, and the
    /// function would otherwise make up a random key that nothing else accepts.
    pub fn check_given_to(&self, function: Function) -> Result<(), SettingsError> {
        match function
            .secrets()
            .iter()
            .find(|name| name.must_be_given() && self.get(**name).is_none())
        {
            Some(name) => Err(SettingsError::SecretNotGiven {
                function: function.name(),
                secret: name.key(),
                reference: name.reference_variable(),
                plain: name.plain_variable(),
            }),
            None => Ok(()),
        }
    }

    /// Whether any secret must be read from Secrets Manager.
    pub fn needs_secrets_manager(&self) -> bool {
        SecretName::ALL
            .iter()
            .any(|name| matches!(self.get(*name), Some(SecretSource::SecretsManager(_))))
    }
}

/// The secrets' values; `None`: not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub jwt: Option<Secret>,
    pub webhook: Option<Secret>,
    pub admin_password: Option<Secret>,
    /// For the HTTP layer: requests must carry it in the origin header (see the crate's docs).
    pub origin: Option<Secret>,
}

impl Secrets {
    /// Puts the secrets the domain uses into its configuration. Those not given leave what
    /// [`Config`] read itself (a random key, no administrator).
    pub fn apply_to(&self, config: &mut Config) {
        if let Some(jwt) = &self.jwt {
            config.jwt_secret = jwt.expose().to_owned();
        }
        if let Some(webhook) = &self.webhook {
            config.webhook_secret = webhook.expose().to_owned();
        }
        if let Some(password) = &self.admin_password {
            config.admin_password = Some(password.expose().to_owned());
        }
    }

    fn set(&mut self, name: SecretName, value: Secret) {
        let slot = match name {
            SecretName::Jwt => &mut self.jwt,
            SecretName::Webhook => &mut self.webhook,
            SecretName::AdminPassword => &mut self.admin_password,
            SecretName::Origin => &mut self.origin,
        };
        *slot = Some(value);
    }
}

/// A referenced secret that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("{variable}: reading secret {secret_id} from Secrets Manager failed: {reason}")]
    Unreadable {
        variable: &'static str,
        secret_id: String,
        reason: String,
    },
    #[error(
        "{variable}: secret {secret_id} has no non-empty SecretString (a binary or empty secret)"
    )]
    NoValue {
        variable: &'static str,
        secret_id: String,
    },
}

/// Resolves every source: the plain values as they are, the references through one Secrets
/// Manager client on `config` (made only when some secret needs it), read concurrently.
pub async fn load(
    config: &aws_config::SdkConfig,
    sources: &SecretSources,
) -> Result<Secrets, SecretsError> {
    if !sources.needs_secrets_manager() {
        return resolve(sources, None).await;
    }
    let client = aws_sdk_secretsmanager::Client::new(config);
    resolve(sources, Some(&client)).await
}

/// As [`load`], with a given client.
pub async fn load_with(
    client: &aws_sdk_secretsmanager::Client,
    sources: &SecretSources,
) -> Result<Secrets, SecretsError> {
    resolve(sources, Some(client)).await
}

async fn resolve(
    sources: &SecretSources,
    client: Option<&aws_sdk_secretsmanager::Client>,
) -> Result<Secrets, SecretsError> {
    let reads = SecretName::ALL.map(|name| async move {
        let value = match (sources.get(name), client) {
            (None, _) => None,
            (Some(SecretSource::Plain(secret)), _) => Some(secret.clone()),
            (Some(SecretSource::SecretsManager(id)), Some(client)) => {
                Some(fetch(client, name.reference_variable(), id).await?)
            }
            (Some(SecretSource::SecretsManager(id)), None) => {
                return Err(SecretsError::Unreadable {
                    variable: name.reference_variable(),
                    secret_id: id.clone(),
                    reason: "no Secrets Manager client".into(),
                })
            }
        };
        Ok((name, value))
    });
    let mut secrets = Secrets::default();
    for read in futures::future::join_all(reads).await {
        if let (name, Some(value)) = read? {
            secrets.set(name, value);
        }
    }
    Ok(secrets)
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    variable: &'static str,
    secret_id: &str,
) -> Result<Secret, SecretsError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|err| SecretsError::Unreadable {
            variable,
            secret_id: secret_id.to_owned(),
            reason: DisplayErrorContext(&err).to_string(),
        })?;
    match output.secret_string {
        Some(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => Err(SecretsError::NoValue {
            variable,
            secret_id: secret_id.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sources(pairs: &[(&'static str, &str)]) -> Result<SecretSources, SettingsError> {
        let map: HashMap<&'static str, std::ffi::OsString> = pairs
            .iter()
            .map(|(k, v)| (*k, std::ffi::OsString::from(v)))
            .collect();
        SecretSources::from_lookup(&move |name| map.get(name).cloned())
    }

    #[test]
    fn a_function_does_not_start_without_a_secret_it_must_be_given() {
        let none = sources(&[]).unwrap();
        let jwt_only = sources(&[("TACOS_JWT_SECRET_ARN", "tacos/jwt")]).unwrap();
        let refused = |got: Result<(), SettingsError>| match got {
            Err(SettingsError::SecretNotGiven {
                secret, reference, ..
            }) => Some((secret, reference)),
            _ => None,
        };
        assert_eq!(
            refused(jwt_only.check_given_to(Function::PaymentProcess)),
            Some(("webhook", "TACOS_WEBHOOK_SECRET_ARN")),
            "it signs the webhooks it posts"
        );
        assert_eq!(
            refused(none.check_given_to(Function::WsPush)),
            Some(("jwt", "TACOS_JWT_SECRET_ARN")),
            "it may draw a lobby, whose seed is the JWT key's"
        );
        assert!(
            jwt_only.check_given_to(Function::QueueJoin).is_ok(),
            "the origin secret exists only behind CloudFront"
        );
        assert!(jwt_only.check_given_to(Function::AuthLogin).is_ok());
        assert!(none.check_given_to(Function::Expire).is_ok());
        let both = sources(&[("TACOS_JWT_SECRET", "j"), ("TACOS_WEBHOOK_SECRET", "w")]).unwrap();
        assert!(Function::ALL
            .iter()
            .all(|f| both.check_given_to(*f).is_ok()));
    }

    #[test]
    fn each_secret_comes_from_its_plain_variable_or_its_reference() {
        let got = sources(&[
            ("TACOS_JWT_SECRET", "local-jwt"),
            (
                "TACOS_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:tacos/webhook-AbCdEf",
            ),
            ("TACOS_ORIGIN_SECRET_ARN", "  "),
        ])
        .unwrap();
        assert_eq!(got.jwt, Some(SecretSource::Plain(Secret::new("local-jwt"))));
        assert_eq!(
            got.webhook,
            Some(SecretSource::SecretsManager(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:tacos/webhook-AbCdEf".into()
            ))
        );
        assert_eq!(got.admin_password, None);
        assert_eq!(got.origin, None, "a blank reference is no reference");
        assert!(got.needs_secrets_manager());
        assert!(!sources(&[("TACOS_JWT_SECRET", "x")])
            .unwrap()
            .needs_secrets_manager());
    }

    #[test]
    fn a_secret_given_both_ways_is_refused() {
        assert_eq!(
            sources(&[
                ("TACOS_ADMIN_PASSWORD", "local"),
                ("TACOS_ADMIN_PASSWORD_ARN", "tacos/admin-password"),
            ]),
            Err(SettingsError::Ambiguous {
                plain: "TACOS_ADMIN_PASSWORD",
                reference: "TACOS_ADMIN_PASSWORD_ARN"
            })
        );
    }

    #[tokio::test]
    async fn plain_secrets_need_no_aws_and_fill_the_configuration() {
        let sources = sources(&[
            ("TACOS_JWT_SECRET", "jwt-key"),
            ("TACOS_WEBHOOK_SECRET", "webhook-key"),
            ("TACOS_ADMIN_PASSWORD", "admin-pass"),
            ("TACOS_ORIGIN_SECRET", "origin-value"),
        ])
        .unwrap();
        let secrets = resolve(&sources, None).await.unwrap();
        let mut config = Config::for_tests();
        secrets.apply_to(&mut config);
        assert_eq!(config.jwt_secret, "jwt-key");
        assert_eq!(config.webhook_secret, "webhook-key");
        assert_eq!(config.admin_password.as_deref(), Some("admin-pass"));
        assert_eq!(secrets.origin, Some(Secret::new("origin-value")));

        let mut untouched = Config::for_tests();
        let before = untouched.jwt_secret.clone();
        Secrets::default().apply_to(&mut untouched);
        assert_eq!(
            untouched.jwt_secret, before,
            "no secret given: the config keeps its own"
        );
        assert_eq!(untouched.admin_password, None);
    }

    #[test]
    fn secrets_never_print_and_compare_whole() {
        let secret = Secret::new("s3cret-value");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(secret.matches(b"s3cret-value"));
        assert!(!secret.matches(b"s3cret-valuf"));
        assert!(!secret.matches(b"s3cret-valu"));
        assert!(!secret.matches(b""));
    }
}
