//! Reading one environment variable: the errors a setting can have and the one rule every
//! optional setting follows (unset, empty and blank all mean "not given"). Shared by the
//! resource names ([`crate::settings`]) and the secrets' sources ([`crate::secrets`]).

/// A setting the environment does not provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is empty")]
    Empty(&'static str),
    #[error("environment variable {0} is not valid unicode")]
    NotUnicode(&'static str),
    #[error("environment variable {0} is not a whole number of milliseconds")]
    NotMilliseconds(&'static str),
    #[error("environment variable {name} must be a whole number from {min} to {max}")]
    OutOfRange {
        name: &'static str,
        min: i64,
        max: i64,
    },
    #[error("function {function} reads the {secret} secret, and neither {reference} nor {plain} gives it")]
    SecretNotGiven {
        function: &'static str,
        secret: &'static str,
        reference: &'static str,
        plain: &'static str,
    },
    #[error("environment variables {plain} and {reference} are both set: give the secret one way")]
    Ambiguous {
        plain: &'static str,
        reference: &'static str,
    },
}

/// A variable's value, trimmed; `None` when unset or blank.
pub(crate) fn optional(
    lookup: &impl Fn(&'static str) -> Option<std::ffi::OsString>,
    name: &'static str,
) -> Result<Option<String>, SettingsError> {
    match lookup(name) {
        None => Ok(None),
        Some(value) => {
            let value = value
                .into_string()
                .map_err(|_| SettingsError::NotUnicode(name))?;
            let value = value.trim().to_string();
            Ok((!value.is_empty()).then_some(value))
        }
    }
}
