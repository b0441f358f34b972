//! [`Secret`]: a value that must never be printed and is compared in constant time.

use std::fmt;

/// The header a trusted proxy in front of the API (the template's CloudFront) adds to every
/// request it forwards, holding the origin secret: the API refuses requests without it
/// (`tacos-http`'s origin guard), and the payment simulator adds it to the webhooks it posts.
pub const ORIGIN_SECRET_HEADER: &str = "x-tacos-origin-secret";

/// Which of the platform's secrets. Where each comes from is the adapters' business (plain
/// variables locally, Secrets Manager on AWS: `tacos_aws::secrets`); which function reads which
/// is the function table's ([`crate::functions::Function::secrets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretName {
    /// HMAC key of the platform's JWTs and reservation tokens.
    Jwt,
    /// What the payment simulator signs webhooks with and `payment-webhook` verifies.
    Webhook,
    /// The administrator's password (`auth-login` creates the account at its cold start).
    AdminPassword,
    /// The value CloudFront sends in the origin header of every request it forwards.
    Origin,
}

impl SecretName {
    pub const ALL: [Self; 4] = [Self::Jwt, Self::Webhook, Self::AdminPassword, Self::Origin];

    /// Whether a function that reads it must be given it. Without the JWT key or the webhook
    /// secret a process makes up a random one, and signs tokens, seeds draws or posts webhooks no
    /// other function accepts: on AWS that is a deployment missing a reference, refused at the
    /// start rather than served. The origin secret exists only behind CloudFront, and the
    /// administrator's password only where an administrator is wanted.
    pub fn must_be_given(self) -> bool {
        matches!(self, Self::Jwt | Self::Webhook)
    }

    /// Its name in the function table's JSON (`tacos-container functions`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Webhook => "webhook",
            Self::AdminPassword => "admin_password",
            Self::Origin => "origin",
        }
    }

    /// The variable holding the value itself (local runs).
    pub fn plain_variable(self) -> &'static str {
        match self {
            Self::Jwt => "TACOS_JWT_SECRET",
            Self::Webhook => "TACOS_WEBHOOK_SECRET",
            Self::AdminPassword => "TACOS_ADMIN_PASSWORD",
            Self::Origin => "TACOS_ORIGIN_SECRET",
        }
    }

    /// The variable holding a Secrets Manager reference (AWS).
    pub fn reference_variable(self) -> &'static str {
        match self {
            Self::Jwt => "TACOS_JWT_SECRET_ARN",
            Self::Webhook => "TACOS_WEBHOOK_SECRET_ARN",
            Self::AdminPassword => "TACOS_ADMIN_PASSWORD_ARN",
            Self::Origin => "TACOS_ORIGIN_SECRET_ARN",
        }
    }
}

/// A secret's value; never printed, compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that uses it (a key, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, taking the same time wherever the first difference
    /// is (only the length can be learnt from the timing), so a caller cannot guess it byte by
    /// byte: the check the HTTP layer makes of the CloudFront origin header.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if expected.len() != presented.len() {
            return false;
        }
        expected
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
