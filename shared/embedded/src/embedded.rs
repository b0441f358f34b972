//! [`Embedded`]: the platform the embedded server runs, over the store its settings choose.
//!
//! Durable (the default): the data directory's SQLite store (`tacos-sqlite`), which refuses a
//! directory another server holds, a newer schema or a damaged file with a clear error and never
//! writes over it. The in-process timers and bus events are journaled in it, so at start the
//! server re-arms every hold expiry and payment job (a hold that expired while the server was
//! down is released at once, once) and hands the follow-up every payment outcome it had not
//! handled. The signing secrets are kept beside it ([`crate::secrets`]). On either store expired
//! items (idempotency records, seen webhooks) are purged every minute, as DynamoDB's TTL does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tacos_core::config::Config;
use tacos_core::in_process::{spawn_purge, MemoryStore};
use tacos_core::platform::Platform;
use tacos_core::ports::{Clock, SystemClock};
use tacos_sqlite::{OpenError, SqliteOptions, SqliteStore};

use crate::in_process::InProcess;
use crate::secrets::{self, SecretsError};
use crate::settings::{EmbeddedSettings, StoreChoice};

/// How often expired items are purged from either store.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Why the embedded platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the journal of timers and events could not be read: {0}")]
    Journal(String),
    #[error("opening the store stopped: {0}")]
    Opening(String),
}

/// The store the platform runs over, with a handle on it.
pub enum Storage {
    Memory(Arc<MemoryStore>),
    Durable(Arc<SqliteStore>),
}

impl Storage {
    /// The data directory, when the store is durable.
    pub fn data_dir(&self) -> Option<&Path> {
        match self {
            Storage::Memory(_) => None,
            Storage::Durable(store) => Some(store.data_dir()),
        }
    }
}

/// The embedded platform, started.
pub struct Embedded {
    pub platform: Arc<Platform>,
    pub storage: Storage,
    /// What the journal held at start: (timers re-armed, events redelivered).
    pub resumed: (usize, usize),
}

impl Embedded {
    /// Opens the store `settings` choose, builds the platform on it and starts its timers and
    /// bus (after re-arming what a previous run left in the journal).
    pub async fn start(
        mut config: Config,
        settings: &EmbeddedSettings,
    ) -> Result<Self, EmbeddedError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        match settings.store {
            StoreChoice::Memory => {
                let local = InProcess::with_clock(config, clock.clone());
                local.start_background();
                spawn_purge(&local.store, PURGE_EVERY, move || clock.now().timestamp());
                Ok(Self {
                    platform: local.platform.clone(),
                    storage: Storage::Memory(local.store.clone()),
                    resumed: (0, 0),
                })
            }
            StoreChoice::Durable => {
                let store = Arc::new(open(&settings.data_dir, settings).await?);
                secrets::apply(&mut config, settings.kept_secrets, store.data_dir())?;
                let local = InProcess::over(store.clone(), config, clock.clone(), true);
                let resumed = local.resume().await.map_err(EmbeddedError::Journal)?;
                local.start_background();
                spawn_purge(&store, PURGE_EVERY, move || clock.now().timestamp());
                Ok(Self {
                    platform: local.platform.clone(),
                    storage: Storage::Durable(store),
                    resumed,
                })
            }
        }
    }
}

/// Opens the data directory's store on the blocking pool (opening checks the whole file).
async fn open(dir: &Path, settings: &EmbeddedSettings) -> Result<SqliteStore, EmbeddedError> {
    let options = SqliteOptions {
        durability: settings.durability,
        ..SqliteOptions::default()
    };
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || SqliteStore::open(&dir, options))
        .await
        .map_err(|e| EmbeddedError::Opening(e.to_string()))?
        .map_err(EmbeddedError::Store)
}
