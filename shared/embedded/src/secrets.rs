//! The signing secrets of an embedded server, generated once and kept in its data directory.
//!
//! Access tokens and reservation tokens are signed with `TACOS_JWT_SECRET`, webhooks with
//! `TACOS_WEBHOOK_SECRET`. Unset, each process used to draw a random one, so a restart made every
//! token issued before it invalid. With a data directory, the secrets not configured are drawn
//! once, written to `secrets.json` (owner-only: it is as sensitive as the accounts it protects),
//! and read back at every start. A configured secret always wins and is never written down.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use tacos_core::config::Config;

use crate::settings::KeptSecrets;

/// The file in the data directory.
pub const SECRETS_FILE: &str = "secrets.json";

/// Why the secrets could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a secrets file of this server ({detail}); it was left untouched")]
    Unreadable { path: PathBuf, detail: String },
    #[error(
        "{path} can be read by other users (mode {mode:o}); make it owner-only: chmod 600 {path}"
    )]
    TooOpen { path: PathBuf, mode: u32 },
}

/// The secrets kept in the data directory.
#[derive(Clone, Serialize, Deserialize)]
struct Kept {
    jwt_secret: String,
    webhook_secret: String,
}

/// Gives `config` the data directory's secrets for each one `which` names (those the
/// environment does not configure), creating them on first use.
pub fn apply(config: &mut Config, which: KeptSecrets, data_dir: &Path) -> Result<(), SecretsError> {
    if !which.jwt && !which.webhook {
        return Ok(());
    }
    let kept = load_or_create(&data_dir.join(SECRETS_FILE))?;
    if which.jwt {
        config.jwt_secret = kept.jwt_secret;
    }
    if which.webhook {
        config.webhook_secret = kept.webhook_secret;
    }
    Ok(())
}

fn load_or_create(path: &Path) -> Result<Kept, SecretsError> {
    let io = |source| SecretsError::Io {
        path: path.to_path_buf(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretsError::TooOpen {
                    path: path.to_path_buf(),
                    mode,
                });
            }
            let text = fs::read_to_string(path).map_err(io)?;
            serde_json::from_str(&text).map_err(|e| SecretsError::Unreadable {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kept = Kept {
                jwt_secret: random_secret(),
                webhook_secret: random_secret(),
            };
            write_new(path, &kept).map_err(io)?;
            Ok(kept)
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes `kept` to a new owner-only file, whole or not at all: written under a temporary name,
/// flushed, then renamed.
fn write_new(path: &Path, kept: &Kept) -> std::io::Result<()> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(serde_json::to_string_pretty(kept)?.as_bytes())?;
    file.sync_all()?;
    fs::rename(&partial, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tacos-secrets-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn secrets_are_drawn_once_kept_owner_only_and_configured_ones_win() {
        let dir = dir();
        let both = KeptSecrets {
            jwt: true,
            webhook: true,
        };
        let mut first = Config::for_tests();
        apply(&mut first, both, &dir).unwrap();
        let mode = fs::metadata(dir.join(SECRETS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut again = Config::for_tests();
        apply(&mut again, both, &dir).unwrap();
        assert_eq!(
            first.jwt_secret, again.jwt_secret,
            "a restart keeps the secret"
        );
        assert_eq!(first.webhook_secret, again.webhook_secret);

        let mut configured = Config::for_tests();
        configured.jwt_secret = "configured".into();
        let webhook_only = KeptSecrets {
            jwt: false,
            webhook: true,
        };
        apply(&mut configured, webhook_only, &dir).unwrap();
        assert_eq!(configured.jwt_secret, "configured");
        assert_eq!(configured.webhook_secret, first.webhook_secret);

        fs::set_permissions(dir.join(SECRETS_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let error = apply(&mut Config::for_tests(), both, &dir).unwrap_err();
        assert!(matches!(error, SecretsError::TooOpen { .. }), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }
}
