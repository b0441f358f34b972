//! The store port: a key-value item store with conditional writes and small transactions.
//!
//! Its shape is DynamoDB's on purpose: items addressed by a partition key and a sort key, reads by
//! key or by a sort-key range of one partition, and writes that succeed only when a condition on
//! the current item holds, alone or in an all-or-nothing transaction of up to
//! [`MAX_TRANSACTION_WRITES`] items. Everything the domain guarantees under concurrency (no seat
//! sold twice, one winner between confirm and expiry, single-use tokens) is expressed as such a
//! condition, so the DynamoDB adapter is a translation and the in-process adapter must honour
//! exactly the same semantics (checked by the conformance suite, `conformance.rs` behind the `conformance` feature, run
//! against the in-process store and against DynamoDB on moto).

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use parking_lot::RwLock;
use serde_json::{Map, Value};

/// An item: a JSON object holding, among its attributes, `pk` and `sk`.
pub type Item = Map<String, Value>;

/// DynamoDB's limit on the items of one `TransactWriteItems` call.
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A condition on the current version of an item (absent items have no attributes).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    /// The item has no such attribute (or does not exist): DynamoDB's `attribute_not_exists`.
    /// An attribute stored as null is present.
    Missing(String),
    /// Attribute equals value.
    Equals(String, Value),
    /// Attribute is a number at least this large.
    AtLeast(String, i64),
    /// Attribute is a number strictly smaller than this.
    LessThan(String, i64),
    /// Attribute is a number strictly greater than this.
    GreaterThan(String, i64),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    pub fn equals(attr: &str, value: impl Into<Value>) -> Self {
        Self::Equals(attr.to_string(), value.into())
    }

    /// Whether the condition holds for `item` (`None`: the item does not exist).
    pub fn holds(&self, item: Option<&Item>) -> bool {
        let number = |attr: &str| item.and_then(|i| i.get(attr)).and_then(Value::as_i64);
        match self {
            Self::Exists => item.is_some(),
            Self::NotExists => item.is_none(),
            Self::Missing(attr) => item.is_none_or(|i| i.get(attr).is_none()),
            Self::Equals(attr, value) => item.and_then(|i| i.get(attr)) == Some(value),
            Self::AtLeast(attr, n) => number(attr).is_some_and(|v| v >= *n),
            Self::LessThan(attr, n) => number(attr).is_some_and(|v| v < *n),
            Self::GreaterThan(attr, n) => number(attr).is_some_and(|v| v > *n),
            Self::And(all) => all.iter().all(|c| c.holds(item)),
            Self::Or(any) => any.iter().any(|c| c.holds(item)),
        }
    }
}

/// An update of one item, creating it when absent (DynamoDB's `UpdateItem`).
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub key: Key,
    /// Attributes set to a value.
    pub set: Vec<(String, Value)>,
    /// Numeric attributes incremented (absent counts as 0).
    pub add: Vec<(String, i64)>,
    /// Attributes removed.
    pub remove: Vec<String>,
    pub condition: Option<Condition>,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            set: Vec::new(),
            add: Vec::new(),
            remove: Vec::new(),
            condition: None,
        }
    }
    pub fn set(mut self, attr: &str, value: impl Into<Value>) -> Self {
        self.set.push((attr.to_string(), value.into()));
        self
    }
    pub fn add(mut self, attr: &str, delta: i64) -> Self {
        self.add.push((attr.to_string(), delta));
        self
    }
    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.to_string());
        self
    }
    pub fn when(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }

    /// The item an update creates when none exists yet, before it is applied: just the key.
    pub fn new_item(&self) -> Item {
        let mut fresh = Item::new();
        fresh.insert("pk".into(), Value::String(self.key.pk.clone()));
        fresh.insert("sk".into(), Value::String(self.key.sk.clone()));
        fresh
    }

    /// Applies the update to an existing item in place, leaving the condition to the caller.
    pub fn apply_to(&self, item: &mut Item) {
        for (attr, value) in &self.set {
            item.insert(attr.clone(), value.clone());
        }
        for (attr, delta) in &self.add {
            let current = item.get(attr).and_then(Value::as_i64).unwrap_or(0);
            item.insert(attr.clone(), Value::from(current + delta));
        }
        for attr in &self.remove {
            item.remove(attr);
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Replace the whole item.
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    /// Replace the whole item with one given as its JSON text ([`ItemText`]): the same write as
    /// [`Write::Put`] of the item that text decodes to.
    PutText {
        item: ItemText,
        condition: Option<Condition>,
    },
    Update(Update),
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Write nothing, but fail the transaction unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    pub fn put(item: Item) -> Self {
        Self::Put {
            item,
            condition: None,
        }
    }
    pub fn put_new(item: Item) -> Self {
        Self::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    /// [`Write::put_new`] of an item given as its text.
    pub fn put_new_text(item: ItemText) -> Self {
        Self::PutText {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    pub fn key(&self) -> Key {
        match self {
            Self::Put { item, .. } => key_of(item),
            Self::PutText { item, .. } => item.key.clone(),
            Self::Update(update) => update.key.clone(),
            Self::Delete { key, .. } | Self::Check { key, .. } => key.clone(),
        }
    }

    pub fn condition(&self) -> Option<&Condition> {
        match self {
            Self::Put { condition, .. }
            | Self::PutText { condition, .. }
            | Self::Delete { condition, .. } => condition.as_ref(),
            Self::Update(update) => update.condition.as_ref(),
            Self::Check { condition, .. } => Some(condition),
        }
    }
}

/// An item as its JSON text (an object holding its attributes, `pk` and `sk` among them), with
/// its key and expiry beside it.
///
/// Why a second form of an item: a record written as an [`Item`] is serialized into a map of
/// attributes (an allocation per name and per value), which the durable store, keeping items as
/// JSON text, then serializes again on its one writer thread. Written as text, the record is
/// serialized once, on the caller's thread, and the durable store keeps the text as it is; the
/// memory store and DynamoDB's adapter, which keep attributes, decode it. For the join's ticket,
/// the write of every join: the writer's CPU per join an eighth lower, the whole join's about 3 %
/// (BENCHMARKS §8.16).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemText {
    key: Key,
    text: String,
    expires_at: Option<i64>,
}

impl ItemText {
    /// `text`, an item's JSON object holding `key` as its `pk` and `sk` (as an item's
    /// serialization does), whose [`EXPIRES_AT`] attribute is `expires_at` ([`expires_at`]'s
    /// reading of it). The caller knows both from the record it serialized: reading them back
    /// from the text took half of what writing it as text saves, so only debug builds check.
    pub fn new(key: Key, text: String, expires_at: Option<i64>) -> Self {
        let item = Self {
            key,
            text,
            expires_at,
        };
        if cfg!(debug_assertions) {
            let attrs = item.to_item().expect("an item's text is a JSON object");
            assert_eq!(key_of(&attrs), item.key, "an item's text holds its key");
            assert_eq!(
                self::expires_at(&attrs),
                item.expires_at,
                "an item's text holds its expiry"
            );
        }
        item
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// When the item expires ([`expires_at`] of its attributes).
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The key and the text, for a store that keeps both as they are.
    pub fn into_parts(self) -> (Key, String) {
        (self.key, self.text)
    }

    /// The item the text holds, as its attributes.
    pub fn to_item(&self) -> Result<Item, StoreError> {
        serde_json::from_str(&self.text)
            .map_err(|e| StoreError::Invalid(format!("an item's text: {e}")))
    }
}

/// The attribute that marks an item for deletion once past (unix seconds): DynamoDB's TTL
/// attribute in this project. The in-process stores purge such items as DynamoDB's TTL does
/// ([`ExpiringStore`]); until purged they read as before (the domain ignores expired records).
pub const EXPIRES_AT: &str = "expires_at";

/// When the item expires, in unix seconds (`None`: never). Fractions are cut, as the durable
/// store's migration that filled its expiry column cut them; text is no expiry, as for DynamoDB's
/// TTL, which reads numbers only.
pub fn expires_at(item: &Item) -> Option<i64> {
    match item.get(EXPIRES_AT)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// The smallest string greater than every string starting with `prefix` (`None` if there is none:
/// the empty prefix, or one made only of the last code point). Sort keys compare by their UTF-8
/// bytes, which is code point order, in DynamoDB, in SQLite's BINARY collation and in Rust.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => 0xE000,
            next => next,
        };
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The key of an item (its `pk` and `sk` attributes; empty strings when missing).
pub fn key_of(item: &Item) -> Key {
    let attr = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Key {
        pk: attr("pk"),
        sk: attr("sk"),
    }
}

/// Which items of one partition a query returns, in sort-key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkRange {
    /// Only sort keys starting with this.
    pub prefix: String,
    /// Only sort keys `>=` this.
    pub from: Option<String>,
    /// Only sort keys `<` this.
    pub to: Option<String>,
    /// Newest (greatest sort key) first.
    pub reverse: bool,
    pub limit: Option<usize>,
}

impl SkRange {
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }
    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self.to = Some(to.into());
        self
    }
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = Some(to.into());
        self
    }
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The interval of sort keys `[start, end)` (no `end`: unbounded) that holds every key of
    /// the range, as tight as the prefix and the bounds make it; `None` when the range is empty.
    /// Every key in the interval is in the range unless the prefix has no end (see
    /// [`prefix_end`]), so stores that walk the interval still check [`SkRange::contains`].
    pub fn interval(&self) -> Option<(&str, Option<String>)> {
        let start = match &self.from {
            Some(from) if from.as_str() > self.prefix.as_str() => from.as_str(),
            _ => self.prefix.as_str(),
        };
        let end = match (self.to.as_deref(), prefix_end(&self.prefix)) {
            (Some(to), Some(prefix_end)) => Some(prefix_end.min(to.to_owned())),
            (Some(to), None) => Some(to.to_owned()),
            (None, prefix_end) => prefix_end,
        };
        match end {
            Some(end) if end.as_str() <= start => None,
            end => Some((start, end)),
        }
    }

    pub fn contains(&self, sk: &str) -> bool {
        sk.starts_with(&self.prefix)
            && self.from.as_deref().is_none_or(|from| sk >= from)
            && self.to.as_deref().is_none_or(|to| sk < to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The condition of the write at this index (0 for a single write) did not hold; nothing
    /// was written.
    #[error("condition of write {index} failed")]
    ConditionFailed { index: usize },
    /// The store could not be reached or refused the work for now; nothing may be assumed about
    /// whether the write happened, so callers rely on idempotent retries.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request itself was wrong (too many writes, two writes to one item, bad item).
    #[error("invalid store request: {0}")]
    Invalid(String),
}

/// A store that deletes items past their [`EXPIRES_AT`] when asked, as DynamoDB's TTL does on
/// its own: the embedded server's stores, purged every minute
/// ([`crate::in_process::spawn_purge`]).
#[async_trait]
pub trait ExpiringStore: Send + Sync + 'static {
    /// Deletes every item whose expiry is before `now` (unix seconds); returns how many.
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;
}

/// Told of every committed write to the items it watches, in the order the store committed them:
/// how a view kept in memory (an event's availability) follows the store without reading it again.
///
/// Each report carries the item as the write left it (`None`: deleted), not the write itself, so
/// a listener that sets its state from reports is right after the last one whatever it missed
/// before it started listening. Reports come after the write is committed and before its caller
/// is answered (a buyer told "held" reads "held"), from inside the store's write path: a listener
/// must be quick, must not block, and must not call the store. Purges of expired items
/// ([`ExpiringStore`]) are not reported: watch only items that never expire.
pub trait ChangeListener: Send + Sync + 'static {
    /// Whether writes to `key` are reported; asked for every write, so it must be cheap.
    fn watches(&self, key: &Key) -> bool;
    /// `key` now holds `item` (`None`: it was deleted).
    fn committed(&self, key: &Key, item: Option<&Item>);
}

/// The listeners of one store, for adapters that report changes ([`Store::watch`]). Held
/// weakly: a listener dropped by its owner is forgotten at the next write.
#[derive(Default)]
pub struct Watchers(RwLock<Vec<Weak<dyn ChangeListener>>>);

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Watchers")
            .field(&self.0.read().len())
            .finish()
    }
}

impl Watchers {
    pub fn add(&self, listener: Weak<dyn ChangeListener>) {
        let mut all = self.0.write();
        all.retain(|l| l.strong_count() > 0);
        all.push(listener);
    }

    /// Whether anyone watches `key`.
    pub fn watch(&self, key: &Key) -> bool {
        self.0
            .read()
            .iter()
            .filter_map(Weak::upgrade)
            .any(|l| l.watches(key))
    }

    /// Reports `key`'s new state to whoever watches it.
    pub fn report(&self, key: &Key, item: Option<&Item>) {
        for listener in self.0.read().iter().filter_map(Weak::upgrade) {
            if listener.watches(key) {
                listener.committed(key, item);
            }
        }
    }
}

/// An item as a store lends it to [`Store::read`]: decoded, or as the JSON text the store keeps
/// it in, for the caller to decode straight into its record (no map of attributes in between:
/// the durable store keeps items as text, and a map built from the text only to be decoded again
/// was the larger part of a status's read).
#[derive(Debug, Clone, Copy)]
pub enum Lent<'i> {
    Item(&'i Item),
    /// The item's JSON object (as [`Item`]'s serialization writes it) as the store keeps it in
    /// memory, with the record decoded from it.
    Kept(&'i KeptText),
}

impl Lent<'_> {
    /// The item decoded into `T` (whose fields are among the item's attributes).
    pub fn decode<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        match self {
            Lent::Item(item) => T::deserialize(item),
            Lent::Kept(kept) => serde_json::from_str(&kept.text),
        }
    }

    /// The item decoded into `T`, shared: where the store keeps the item's text in memory, it
    /// is decoded once for all the reads of that text ([`KeptText`]).
    pub fn shared<T>(self) -> Result<Arc<T>, serde_json::Error>
    where
        T: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let Lent::Kept(kept) = self else {
            return self.decode().map(Arc::new);
        };
        if let Some(decoded) = kept.decoded.get() {
            if let Ok(record) = Arc::clone(decoded).downcast::<T>() {
                return Ok(record);
            }
            // Kept as another record type: decoded anew each time.
            return self.decode().map(Arc::new);
        }
        let record = Arc::new(self.decode::<T>()?);
        // Another reader may have set it meanwhile: the same text, so the same record.
        let _ = kept.decoded.set(record.clone());
        Ok(record)
    }
}

/// An item's JSON text as a store keeps it in memory, and the record the first reader that
/// asked for one decoded from it ([`Lent::shared`]), for the reads after it.
///
/// Why: every waiting-room status reads its ticket, an item written once and read every few
/// seconds for minutes, and decoding its text (a timestamp parsed, five strings allocated)
/// was the largest part of a status's own work on the durable store (BENCHMARKS.md §8.13). The
/// record goes with the text: when the item is written the store keeps a new `KeptText`, so a
/// decoded record is never older than the text it came from. It is filled by readers, never by
/// the thread that writes (a decoded copy made there cost every write, §8.9).
pub struct KeptText {
    text: String,
    decoded: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
}

impl KeptText {
    pub fn new(text: String) -> Self {
        Self {
            text,
            decoded: std::sync::OnceLock::new(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Debug for KeptText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptText")
            .field("text", &self.text)
            .field("decoded", &self.decoded.get().is_some())
            .finish()
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Lends the item at `key` to `visit` (`None`: absent), for a caller that only decodes it.
    /// Same semantics as [`Store::get`]; the default is a `get`, the in-process store lends its
    /// own copy instead of cloning it (a clone of every attribute followed by a decode that drops
    /// them was the largest cost of a waiting-room status), and the durable store lends the text
    /// it keeps ([`Lent::Kept`]).
    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<Lent<'i>>) + Send),
    ) -> Result<(), StoreError> {
        let item = self.get(key).await?;
        visit(item.as_ref().map(Lent::Item));
        Ok(())
    }

    /// Items of partition `pk` whose sort key is in `range`, in sort-key order.
    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError>;

    /// Applies an update and returns the item as it is afterwards.
    async fn update(&self, update: Update) -> Result<Item, StoreError>;

    /// Applies every write or none (DynamoDB's `TransactWriteItems`).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// One conditional write.
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.transact(vec![write]).await
    }

    /// Whether the store answers at all (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Reports every committed write to `listener` from now on ([`ChangeListener`]), if this
    /// store can: the in-process stores, which commit in one place and in one order. `false`
    /// when it cannot (DynamoDB, written by many processes): the caller reads the store instead.
    fn watch(&self, listener: Weak<dyn ChangeListener>) -> bool {
        let _ = listener;
        false
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_prefix_ends_just_past_its_last_character() {
        assert_eq!(prefix_end("BATCH#").as_deref(), Some("BATCH$"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }

    #[test]
    fn a_range_is_the_tightest_interval_its_prefix_and_bounds_allow() {
        let interval =
            |range: SkRange| range.interval().map(|(start, end)| (start.to_owned(), end));
        assert_eq!(
            interval(SkRange::prefix("B#")),
            Some(("B#".into(), Some("B$".into())))
        );
        assert_eq!(
            interval(SkRange::prefix("B#").between("B#5", "C")),
            Some(("B#5".into(), Some("B$".into())))
        );
        assert_eq!(
            interval(SkRange::prefix("B#").to("B#3")),
            Some(("B#".into(), Some("B#3".into())))
        );
        assert_eq!(interval(SkRange::default()), Some((String::new(), None)));
        assert_eq!(interval(SkRange::prefix("B").to("A")), None);
        assert_eq!(interval(SkRange::prefix("B#").between("B#9", "B#1")), None);
    }

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
}
