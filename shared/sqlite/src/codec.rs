//! Items as rows: the item as JSON text, keyed by its partition and sort key, with its expiry
//! time in a column of its own.

use std::fmt::Display;

use serde_json::Value;

use crate::port::{Item, StoreError};

/// The attribute that marks an item for deletion once past (unix seconds): DynamoDB's TTL
/// attribute in this project.
pub const EXPIRES_AT: &str = "expires_at";

pub fn encode(item: &Item) -> Result<String, StoreError> {
    serde_json::to_string(item).map_err(|error| StoreError::Invalid(format!("item: {error}")))
}

pub fn decode(text: &str) -> Result<Item, StoreError> {
    serde_json::from_str(text).or_unavailable()
}

/// When the item expires, in unix seconds; fractions are cut as SQL's `CAST(.. AS INTEGER)`
/// cuts them in the migration that filled the column for older items.
pub fn expires_at(item: &Item) -> Option<i64> {
    match item.get(EXPIRES_AT)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
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

/// The least string above every string that starts with `prefix` (`None`: no such bound, for
/// the empty prefix or one ending in the last code point). Sort keys compare byte-wise, which
/// for UTF-8 is code point order, as SQLite's BINARY collation compares TEXT.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars = prefix.chars();
    let last = chars.next_back()?;
    let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32)?;
    let mut end = chars.as_str().to_string();
    end.push(next);
    Some(end)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn expiry_is_read_from_integer_and_fractional_seconds_only() {
        let item = |v: Value| json!({ "expires_at": v }).as_object().cloned().unwrap();
        assert_eq!(expires_at(&item(json!(1_700_000_000))), Some(1_700_000_000));
        assert_eq!(
            expires_at(&item(json!(1_700_000_000.9))),
            Some(1_700_000_000)
        );
        assert_eq!(expires_at(&item(json!("1700000000"))), None);
        assert_eq!(expires_at(&Item::new()), None);
    }

    #[test]
    fn a_prefix_ends_just_past_its_last_character() {
        assert_eq!(prefix_end("BATCH#").as_deref(), Some("BATCH$"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(prefix_end("a\u{10ffff}"), None);
    }
}
