//! [`Secret`]: a value that must never be printed and is compared in constant time.

use std::fmt;

/// The header a trusted proxy in front of the API (the template's CloudFront) adds to every
/// request it forwards, holding the origin secret: the API refuses requests without it
/// (`tacos-http`'s origin guard), and the payment simulator adds it to the webhooks it posts.
pub const ORIGIN_SECRET_HEADER: &str = "x-tacos-origin-secret";

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
