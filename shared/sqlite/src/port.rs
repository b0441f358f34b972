//! The store port this crate implements: the one place it names the crate that defines it, so
//! moving the port (to `tacos_core::ports::store`) is a one-line change here.

pub use tacos_core::ports::store::{
    expires_at, key_of, ChangeListener, Item, KeptText, Key, Lent, SkRange, Store, StoreError,
    Update, Watchers, Write, EXPIRES_AT, MAX_TRANSACTION_WRITES,
};

#[cfg(test)]
pub use tacos_core::{in_process::MemoryStore, ports::store::Condition};
