//! Records to items and back.
//!
//! A record is stored as its serde JSON object plus the `pk` and `sk` attributes, so conditions
//! can name its fields and the DynamoDB adapter maps every attribute one to one.

use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::ports::store::{Item, ItemText, Key, Lent, Store};

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

/// A record that may expire: the [`EXPIRES_AT`](crate::ports::store::EXPIRES_AT) attribute it
/// serializes, as the store reads it, for [`to_text`] (whose text is not read back).
pub trait Expiring {
    fn expires_at(&self) -> Option<i64>;
}

/// `record` as the JSON text of the item [`to_item`] makes of it, serialized once, with no map
/// of attributes in between ([`ItemText`] says why).
///
/// The record is written as the struct it is and the key's two members appended before its
/// closing brace, rather than both flattened into one map (`#[serde(flatten)]`), which serde
/// writes member by member through its map serializer, a few hundred instructions more for
/// every join's ticket (BENCHMARKS.md §8.18). Were a record to name a field `pk` or `sk`, the
/// key's, last, would be the one read back, as [`to_item`]'s overwrite makes it.
pub fn to_text<T: Serialize + Expiring>(key: &Key, record: &T) -> Result<ItemText, Error> {
    let mut text = Vec::with_capacity(512);
    serde_json::to_writer(&mut text, record)
        .map_err(|e| Error::Internal(format!("a record as text: {e}")))?;
    if text.pop() != Some(b'}') {
        return Err(Error::Internal(
            "a record as text: not a JSON object".into(),
        ));
    }
    if text.last() != Some(&b'{') {
        text.push(b',');
    }
    text.extend_from_slice(b"\"pk\":");
    serde_json::to_writer(&mut text, &key.pk).expect("a string is written");
    text.extend_from_slice(b",\"sk\":");
    serde_json::to_writer(&mut text, &key.sk).expect("a string is written");
    text.push(b'}');
    let text = String::from_utf8(text).expect("serde_json writes UTF-8");
    Ok(ItemText::new(key.clone(), text, record.expires_at()))
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

    #[test]
    fn a_record_as_text_is_the_item_it_makes() {
        #[derive(Serialize)]
        struct Record {
            name: &'static str,
            order: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            stamp: Option<serde_json::Value>,
            expires_at: i64,
            pk: &'static str,
        }
        let key = Key::new("P#1", "S");
        let record = Record {
            name: "a \"quoted\" name",
            order: 7,
            stamp: Some(serde_json::json!({ "body": "{\"a\":1}", "expires_at": 5 })),
            expires_at: 1_700_000_000,
            pk: "a field the key overrides",
        };
        impl Expiring for Record {
            fn expires_at(&self) -> Option<i64> {
                Some(self.expires_at)
            }
        }
        #[derive(Serialize)]
        struct Lasting(u64);
        impl Expiring for Lasting {
            fn expires_at(&self) -> Option<i64> {
                None
            }
        }
        let text = to_text(&key, &record).unwrap();
        assert_eq!(text.to_item().unwrap(), to_item(&key, &record));
        assert_eq!(text.key(), &key);
        // The record's own, not the one nested in its stamp.
        assert_eq!(text.expires_at(), Some(1_700_000_000));
        assert!(to_text(&key, &Lasting(7)).is_err(), "a record is an object");
    }
}
