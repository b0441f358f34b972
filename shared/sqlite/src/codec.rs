//! Items as rows: the item as JSON text, keyed by its partition and sort key, with its expiry
//! time in a column of its own.

use std::fmt::Display;

use crate::port::{Item, StoreError};

pub use crate::port::expires_at;

pub fn encode(item: &Item) -> Result<String, StoreError> {
    serde_json::to_string(item).map_err(|error| StoreError::Invalid(format!("item: {error}")))
}

pub fn decode(text: &str) -> Result<Item, StoreError> {
    serde_json::from_str(text).or_unavailable()
}

/// Engine failures (I/O, a full disk, an unreadable row) become what the port calls them: the
/// store is unavailable for now, and nothing may be assumed about a write that failed so.
pub trait OrUnavailable<T> {
    fn or_unavailable(self) -> Result<T, StoreError>;
}

impl<T, E: Display> OrUnavailable<T> for Result<T, E> {
    fn or_unavailable(self) -> Result<T, StoreError> {
        self.map_err(|error| StoreError::Unavailable(format!("sqlite: {error}")))
    }
}
