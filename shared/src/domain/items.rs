//! Records to items and back.
//!
//! A record is stored as its serde JSON object plus the `pk` and `sk` attributes, so conditions
//! can name its fields and the DynamoDB adapter maps every attribute one to one.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::ports::store::{Item, Key};

/// `record` as an item stored under `key`.
pub fn to_item<T: Serialize>(key: &Key, record: &T) -> Item {
    let mut item = match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("records are structs, which serialize to JSON objects"),
    };
    item.insert("pk".into(), Value::String(key.pk.clone()));
    item.insert("sk".into(), Value::String(key.sk.clone()));
    item
}

/// The record stored in `item`.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Error> {
    serde_json::from_value(Value::Object(item))
        .map_err(|e| Error::Internal(format!("corrupt item: {e}")))
}

/// Seconds since the epoch `seconds` from now, for DynamoDB's TTL attribute `expires_at`.
pub fn ttl_after(now: chrono::DateTime<chrono::Utc>, seconds: i64) -> i64 {
    now.timestamp() + seconds
}

/// A number as a fixed-width sort key component, so lexicographic order is numeric order.
pub fn sortable(n: u64) -> String {
    format!("{n:020}")
}
