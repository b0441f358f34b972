//! Test helpers.

use std::path::{Path, PathBuf};

/// A directory under the system's temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("tacos-sqlite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An item at `key` with the attributes of the JSON object `attrs`.
pub fn item(key: &crate::port::Key, attrs: serde_json::Value) -> crate::port::Item {
    let mut item = attrs.as_object().cloned().unwrap_or_default();
    item.insert("pk".into(), key.pk.clone().into());
    item.insert("sk".into(), key.sk.clone().into());
    item
}
