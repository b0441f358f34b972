//! Records to items and back.
//!
//! A record is stored as its serde JSON object plus the `pk` and `sk` attributes, so conditions
//! can name its fields and the DynamoDB adapter maps every attribute one to one.

use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::ports::store::{Item, Key, Lent, Store};

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
    serde_json::from_value(Value::Object(item)).map_err(corrupt)
}

/// The record stored in a borrowed `item` (only the record's own strings are allocated).
pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, Error> {
    T::deserialize(item).map_err(corrupt)
}

fn corrupt(e: serde_json::Error) -> Error {
    Error::Internal(format!("corrupt item: {e}"))
}

/// The record stored under `key`, if any, decoded where the store keeps it ([`Store::read`]).
pub async fn get_record<T: DeserializeOwned + Send>(
    store: &dyn Store,
    key: &Key,
) -> Result<Option<T>, Error> {
    read_as(store, key, |lent| lent.decode::<T>()).await
}

/// As [`get_record`], shared: decoded once for all its reads where the store keeps the item in
/// memory ([`Lent::shared`]); for records read far more often than written.
pub async fn get_shared<T: DeserializeOwned + Send + Sync + 'static>(
    store: &dyn Store,
    key: &Key,
) -> Result<Option<Arc<T>>, Error> {
    read_as(store, key, |lent| lent.shared::<T>()).await
}

/// The item under `key`, if any, as `decode` makes it where the store lends it.
async fn read_as<R: Send>(
    store: &dyn Store,
    key: &Key,
    decode: impl Fn(Lent<'_>) -> Result<R, serde_json::Error> + Send + Sync,
) -> Result<Option<R>, Error> {
    let mut record = None;
    store
        .read(key, &mut |item| {
            record = item.map(|lent| decode(lent).map_err(corrupt))
        })
        .await?;
    record.transpose()
}

/// Seconds since the epoch `seconds` from now, for DynamoDB's TTL attribute `expires_at`.
pub fn ttl_after(now: chrono::DateTime<chrono::Utc>, seconds: i64) -> i64 {
    now.timestamp() + seconds
}

/// A number as a fixed-width sort key component, so lexicographic order is numeric order.
pub fn sortable(n: u64) -> String {
    sort_key("", n)
}

/// `prefix` followed by [`sortable`]`(n)`, in one allocation and without the formatting
/// machinery (sort keys are built several times per waiting-room request).
pub fn sort_key(prefix: &str, n: u64) -> String {
    // u64::MAX has 20 digits, so every number fits, zero-padded, in 20.
    let mut digits = [b'0'; 20];
    let mut rest = n;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut key = String::with_capacity(prefix.len() + digits.len());
    key.push_str(prefix);
    key.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_are_zero_padded_to_twenty_digits() {
        for n in [
            0,
            1,
            9,
            10,
            12_345,
            10_u64.pow(19) - 1,
            10_u64.pow(19),
            u64::MAX,
        ] {
            assert_eq!(sortable(n), format!("{n:020}"));
            assert_eq!(sort_key("BATCH#", n), format!("BATCH#{n:020}"));
        }
    }

    #[test]
    fn borrowed_decoding_matches_owned() {
        let key = Key::new("P", "S");
        let item = to_item(&key, &serde_json::json!({ "a": 1, "b": "two" }));
        let owned: serde_json::Value = from_item(item.clone()).unwrap();
        let borrowed: serde_json::Value = decode(&item).unwrap();
        assert_eq!(owned, borrowed);
        assert!(decode::<u64>(&item).is_err());
    }
}
