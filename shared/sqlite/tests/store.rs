//! The durable store from outside: the port's conformance suite, and backups taken while it
//! serves writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tacos_sqlite::{Durability, SqliteOptions, SqliteStore};

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("tacos-sqlite-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let temp = TempDir::new();
    let store = SqliteStore::open(&temp.path().join("data"), SqliteOptions::default()).unwrap();
    tacos_shared::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms_when_power_safe() {
    let temp = TempDir::new();
    let options = SqliteOptions::default().with_durability(Durability::PowerSafe);
    let store = SqliteStore::open(&temp.path().join("data"), options).unwrap();
    tacos_shared::conformance::run_all(Arc::new(store)).await;
}
