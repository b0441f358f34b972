//! Where the embedded server keeps its data (docs/configuration.md lists every variable).

use std::path::PathBuf;

use tacos_core::config::{ConfigError, Env};
use tacos_sqlite::{Durability, DURABILITY_ENV};

/// The data directory when neither `--data-dir` nor `TACOS_DATA_DIR` names one: `tacos-data`
/// in the directory the server is started from.
pub const DEFAULT_DATA_DIR: &str = "tacos-data";

/// Which store the embedded server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// SQLite in the data directory: what was sold survives restarts and crashes (the default).
    Durable,
    /// In memory: forgotten when the process ends (tests and benchmarks).
    Memory,
}

/// The embedded server's storage settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSettings {
    /// `TACOS_STORE`: `durable` (default) or `memory`.
    pub store: StoreChoice,
    /// `TACOS_DATA_DIR` (or `--data-dir`), default [`DEFAULT_DATA_DIR`].
    pub data_dir: PathBuf,
    /// `TACOS_DURABILITY`: `process-safe` (default) or `power-safe` (docs/storage.md).
    pub durability: Durability,
    /// Which signing secrets are drawn once and kept in the data directory
    /// ([`crate::secrets`]): those the environment does not configure.
    pub kept_secrets: KeptSecrets,
    /// `TACOS_CATALOG`: a file of venues and events to create at start ([`crate::catalog`]).
    pub catalog: Option<PathBuf>,
}

/// Which signing secrets the data directory keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeptSecrets {
    /// `TACOS_JWT_SECRET` is not configured: the directory's is used.
    pub jwt: bool,
    /// `TACOS_WEBHOOK_SECRET` is not configured: the directory's is used.
    pub webhook: bool,
}

impl EmbeddedSettings {
    /// The memory store (tests and benchmarks).
    pub fn memory() -> Self {
        Self {
            store: StoreChoice::Memory,
            ..Self::durable(DEFAULT_DATA_DIR)
        }
    }

    /// The durable store in `data_dir`, with the configuration's secrets as they are.
    pub fn durable(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            store: StoreChoice::Durable,
            data_dir: data_dir.into(),
            durability: Durability::default(),
            kept_secrets: KeptSecrets::default(),
            catalog: None,
        }
    }

    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the settings from `env`.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let store = match env.get("TACOS_STORE").as_deref().map(str::trim) {
            None => StoreChoice::Durable,
            Some(v) if v.eq_ignore_ascii_case("durable") => StoreChoice::Durable,
            Some(v) if v.eq_ignore_ascii_case("memory") => StoreChoice::Memory,
            Some(other) => {
                return Err(ConfigError {
                    name: "TACOS_STORE",
                    reason: format!("`{other}`: expected `durable` or `memory`"),
                })
            }
        };
        let durability = match env.get(DURABILITY_ENV) {
            None => Durability::default(),
            Some(v) => v
                .parse()
                .map_err(|e: tacos_sqlite::UnknownDurability| ConfigError {
                    name: DURABILITY_ENV,
                    reason: e.to_string(),
                })?,
        };
        Ok(Self {
            store,
            data_dir: env
                .get("TACOS_DATA_DIR")
                .map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from),
            durability,
            kept_secrets: KeptSecrets {
                jwt: env.get("TACOS_JWT_SECRET").is_none(),
                webhook: env.get("TACOS_WEBHOOK_SECRET").is_none(),
            },
            catalog: env.get("TACOS_CATALOG").map(PathBuf::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_in_tacos_data_by_default_and_bad_values_name_their_variable() {
        let defaults = EmbeddedSettings::read(&Env::from_pairs(&[])).unwrap();
        assert_eq!(defaults.store, StoreChoice::Durable);
        assert_eq!(defaults.data_dir, PathBuf::from("tacos-data"));
        assert_eq!(defaults.durability, Durability::ProcessSafe);
        assert_eq!(
            defaults.kept_secrets,
            KeptSecrets {
                jwt: true,
                webhook: true
            }
        );
        let memory =
            EmbeddedSettings::read(&Env::from_pairs(&[("TACOS_STORE", "Memory")])).unwrap();
        assert_eq!(memory.store, StoreChoice::Memory);
        for (name, value) in [("TACOS_STORE", "disk"), ("TACOS_DURABILITY", "sometimes")] {
            let error = EmbeddedSettings::read(&Env::from_pairs(&[(name, value)])).unwrap_err();
            assert_eq!(error.name, name);
        }
    }
}
