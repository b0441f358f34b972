//! The [`Store`] port over one DynamoDB table.
//!
//! The port is DynamoDB-shaped on purpose, so this adapter is a translation, not a design:
//!
//! * one table, string keys `pk` (HASH) and `sk` (RANGE); items are JSON objects converted to and
//!   from attribute values by `serde_dynamo`. DynamoDB has one number type, so a number comes back
//!   as an integer whenever its digits are one (`json!(1)` reads back as `1`, `1.5` as `1.5`, and
//!   `2.0` as `2`); the domain keeps counters and times as integers and reads rates with
//!   `as_f64`, which accepts both.
//! * [`Condition`]s become `ConditionExpression`s and [`Update`]s `UpdateExpression`s (`SET`,
//!   `ADD`, `REMOVE`), always through `#n`/`:v` placeholders, so no attribute name can collide
//!   with a reserved word (`status`, `count`, `name` all are) and no value is ever spliced into an
//!   expression.
//! * a single write is one `PutItem`/`UpdateItem`/`DeleteItem` carrying its condition (half the
//!   cost of a transaction); a lone `Write::Check` goes through `TransactWriteItems` because
//!   `ConditionCheck` exists only there. A transaction is one `TransactWriteItems`; the index of the
//!   first `ConditionalCheckFailed` cancellation reason is the failing write the port reports.
//! * reads are strongly consistent: the domain reads what it has just written (a hold, then its
//!   payment) and an eventually consistent read could return the item as it was before.
//! * a write refused only because another transaction was touching the same item
//!   (`TransactionConflict`) changed nothing, so it is retried here a few times with jittered
//!   backoff before it is reported as [`StoreError::Unavailable`]: on an on-sale rush hundreds of
//!   holds touch the same inventory item, and a conflict is not a failed condition.
//! * the SDK client is built once per process (cold start) and shared by every request.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
    Update as UpdateAction,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use tacos_core::ports::store::{
    key_of, prefix_end, Condition, Item, Key, SkRange, Store, StoreError, Update, Write,
    MAX_TRANSACTION_WRITES,
};

use crate::sdk::{classify, describe, Failure};

/// A raw DynamoDB item.
type RawItem = HashMap<String, AttributeValue>;

/// How often a write refused by a conflicting transaction is tried before giving up.
const CONFLICT_ATTEMPTS: u32 = 6;

/// [`Store`] over one DynamoDB table (`pk`/`sk` string keys, TTL attribute `expires_at`).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store over `table`, sharing `client` (build the client once per process).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn put_once(&self, item: &Item, condition: Option<&Condition>) -> Result<(), Failed> {
        let exprs = Expressions::of(condition, None)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_raw_item(item)?))
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .send()
            .await
            .map_err(Failed::from_single)?;
        Ok(())
    }

    async fn update_once(
        &self,
        update: &Update,
        returns: ReturnValue,
    ) -> Result<Option<RawItem>, Failed> {
        let exprs = Expressions::of(update.condition.as_ref(), Some(update))?;
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(&update.key)))
            .set_update_expression(exprs.update)
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .return_values(returns)
            .send()
            .await
            .map_err(Failed::from_single)?;
        Ok(output.attributes)
    }

    async fn delete_once(&self, key: &Key, condition: Option<&Condition>) -> Result<(), Failed> {
        let exprs = Expressions::of(condition, None)?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(key)))
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .send()
            .await
            .map_err(Failed::from_single)?;
        Ok(())
    }

    async fn transact_once(&self, items: &[TransactWriteItem]) -> Result<(), Failed> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items.to_vec()))
            .send()
            .await
            .map_err(Failed::from_transaction)?;
        Ok(())
    }

    /// A put of a transaction, in the SDK's terms.
    fn put(&self, item: &Item, condition: Option<&Condition>) -> Result<Put, StoreError> {
        let exprs = Expressions::of(condition, None)?;
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_raw_item(item)?))
            .set_condition_expression(exprs.condition)
            .set_expression_attribute_names(exprs.names)
            .set_expression_attribute_values(exprs.values)
            .build()
            .map_err(invalid)
    }

    /// One write of a transaction, in the SDK's terms.
    fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let builder = TransactWriteItem::builder();
        let item = match write {
            Write::Put { item, condition } => builder.put(self.put(item, condition.as_ref())?),
            // DynamoDB takes attributes: the text is decoded into them.
            Write::PutText { item, condition } => {
                builder.put(self.put(&item.to_item()?, condition.as_ref())?)
            }
            Write::Update(update) => {
                let exprs = Expressions::of(update.condition.as_ref(), Some(update))?;
                let action = UpdateAction::builder()
                    .table_name(&self.table)
                    .set_key(Some(raw_key(&update.key)))
                    .set_update_expression(exprs.update)
                    .set_condition_expression(exprs.condition)
                    .set_expression_attribute_names(exprs.names)
                    .set_expression_attribute_values(exprs.values)
                    .build()
                    .map_err(invalid)?;
                builder.update(action)
            }
            Write::Delete { key, condition } => {
                let exprs = Expressions::of(condition.as_ref(), None)?;
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(raw_key(key)))
                    .set_condition_expression(exprs.condition)
                    .set_expression_attribute_names(exprs.names)
                    .set_expression_attribute_values(exprs.values)
                    .build()
                    .map_err(invalid)?;
                builder.delete(delete)
            }
            Write::Check { key, condition } => {
                let exprs = Expressions::of(Some(condition), None)?;
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(raw_key(key)))
                    .set_condition_expression(exprs.condition)
                    .set_expression_attribute_names(exprs.names)
                    .set_expression_attribute_values(exprs.values)
                    .build()
                    .map_err(invalid)?;
                builder.condition_check(check)
            }
        };
        Ok(item.build())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| Failed::from_single(err).into_store_error())?;
        output.item.map(from_raw_item).transpose()
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        if range.limit == Some(0) {
            return Ok(Vec::new());
        }
        let Some(sk_condition) = SkCondition::of(range) else {
            return Ok(Vec::new());
        };
        let mut exprs = Placeholders::default();
        let key_condition = sk_condition.key_condition(pk, &mut exprs);
        // The key condition is exact except for `to`, which BETWEEN includes: one extra item per
        // page is enough to fill `limit` in one round trip.
        let page_limit = range
            .limit
            .map(|limit| i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX));
        let (names, values) = exprs.into_maps();
        let mut items = Vec::new();
        let mut start: Option<RawItem> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(&key_condition)
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .consistent_read(true)
                .scan_index_forward(!range.reverse)
                .set_limit(page_limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| Failed::from_single(err).into_store_error())?;
            for raw in output.items.unwrap_or_default() {
                let item = from_raw_item(raw)?;
                let sk = item.get("sk").and_then(Value::as_str).unwrap_or_default();
                if range.contains(sk) {
                    items.push(item);
                    if range.limit == Some(items.len()) {
                        return Ok(items);
                    }
                }
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        let attributes =
            with_conflict_retries(|| self.update_once(&update, ReturnValue::AllNew)).await?;
        let raw = attributes
            .ok_or_else(|| StoreError::Unavailable("UpdateItem returned no attributes".into()))?;
        from_raw_item(raw)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::Invalid(format!(
                "{} writes in one transaction",
                writes.len()
            )));
        }
        let mut keys: Vec<Key> = writes.iter().map(Write::key).collect();
        keys.sort();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(StoreError::Invalid(
                "two writes to one item in a transaction".into(),
            ));
        }
        let items = writes
            .iter()
            .map(|write| self.transact_item(write))
            .collect::<Result<Vec<_>, _>>()?;
        with_conflict_retries(|| self.transact_once(&items)).await
    }

    async fn write(&self, write: Write) -> Result<(), StoreError> {
        match write {
            Write::Put { item, condition } => {
                with_conflict_retries(|| self.put_once(&item, condition.as_ref())).await
            }
            Write::PutText { item, condition } => {
                let item = item.to_item()?;
                with_conflict_retries(|| self.put_once(&item, condition.as_ref())).await
            }
            Write::Update(update) => {
                with_conflict_retries(|| self.update_once(&update, ReturnValue::None))
                    .await
                    .map(drop)
            }
            Write::Delete { key, condition } => {
                with_conflict_retries(|| self.delete_once(&key, condition.as_ref())).await
            }
            // ConditionCheck exists only inside TransactWriteItems.
            check @ Write::Check { .. } => self.transact(vec![check]).await,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|err| Failed::from_single(err).into_store_error())?;
        Ok(())
    }
}

/// Why one attempt at a write failed.
#[derive(Debug)]
enum Failed {
    /// Final: report it.
    Store(StoreError),
    /// Another transaction held an item; nothing was written, so trying again is safe.
    Conflict(String),
}

impl From<StoreError> for Failed {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl Failed {
    /// A failed single-item call (condition failures report write 0).
    fn from_single<E>(err: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err.code() {
            Some("ConditionalCheckFailedException") => {
                Self::Store(StoreError::ConditionFailed { index: 0 })
            }
            Some("TransactionConflictException") => Self::Conflict(describe(&err)),
            _ => Self::Store(store_error(&err)),
        }
    }

    fn from_transaction(err: SdkError<TransactWriteItemsError>) -> Self {
        if let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
            err.as_service_error()
        {
            let reasons = canceled.cancellation_reasons();
            let has = |code: &str| {
                reasons
                    .iter()
                    .position(|reason| reason.code() == Some(code))
            };
            if let Some(index) = has("ConditionalCheckFailed") {
                return Self::Store(StoreError::ConditionFailed { index });
            }
            if has("ValidationError").is_some() {
                return Self::Store(StoreError::Invalid(describe(&err)));
            }
            if has("TransactionConflict").is_some() {
                return Self::Conflict(describe(&err));
            }
            return Self::Store(StoreError::Unavailable(describe(&err)));
        }
        Self::from_single(err)
    }

    fn into_store_error(self) -> StoreError {
        match self {
            Self::Store(err) => err,
            Self::Conflict(message) => StoreError::Unavailable(message),
        }
    }
}

fn store_error<E>(err: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(err) {
        Failure::Invalid => StoreError::Invalid(describe(err)),
        // Throttling, timeouts, 5xx, and also a missing table or missing permissions: the store
        // cannot do the work now, and nothing about the request itself is wrong.
        Failure::Transient | Failure::Service => StoreError::Unavailable(describe(err)),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has conflicted [`CONFLICT_ATTEMPTS`] times.
async fn with_conflict_retries<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    let mut backoff = Duration::from_millis(10);
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failed::Store(err)) => return Err(err),
            Err(Failed::Conflict(message)) if tries >= CONFLICT_ATTEMPTS => {
                return Err(StoreError::Unavailable(message));
            }
            Err(Failed::Conflict(_)) => {
                tokio::time::sleep(jittered(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_millis(320));
            }
        }
    }
}

/// Somewhere between half and all of `backoff`, so conflicting writers do not retry in lockstep.
fn jittered(backoff: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let half = backoff / 2;
    half + half.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

fn invalid(err: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(err.to_string())
}

fn raw_key(key: &Key) -> RawItem {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(key.pk.clone())),
        ("sk".to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

fn to_raw_item(item: &Item) -> Result<RawItem, StoreError> {
    let key = key_of(item);
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid(
            "an item needs string attributes pk and sk".into(),
        ));
    }
    serde_dynamo::to_item(item).map_err(invalid)
}

fn from_raw_item(raw: RawItem) -> Result<Item, StoreError> {
    serde_dynamo::from_item(raw).map_err(invalid)
}

fn to_value(value: &Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(invalid)
}

/// The `#n` names and `:v` values of one request.
#[derive(Debug, Default)]
struct Placeholders {
    names: HashMap<String, String>,
    by_attribute: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    fn name(&mut self, attribute: &str) -> String {
        if let Some(placeholder) = self.by_attribute.get(attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        self.by_attribute
            .insert(attribute.to_string(), placeholder.clone());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn number(&mut self, n: i64) -> String {
        self.value(AttributeValue::N(n.to_string()))
    }

    /// DynamoDB refuses empty placeholder maps, so empty ones are left out.
    #[allow(clippy::type_complexity)]
    fn into_maps(
        self,
    ) -> (
        Option<HashMap<String, String>>,
        Option<HashMap<String, AttributeValue>>,
    ) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }

    fn condition(&mut self, condition: &Condition) -> Result<String, StoreError> {
        Ok(match condition {
            Condition::Exists => format!("attribute_exists({})", self.name("pk")),
            Condition::NotExists => format!("attribute_not_exists({})", self.name("pk")),
            Condition::Missing(attribute) => {
                format!("attribute_not_exists({})", self.name(attribute))
            }
            Condition::Equals(attribute, value) => {
                let value = to_value(value)?;
                format!("{} = {}", self.name(attribute), self.value(value))
            }
            Condition::AtLeast(attribute, n) => {
                format!("{} >= {}", self.name(attribute), self.number(*n))
            }
            Condition::LessThan(attribute, n) => {
                format!("{} < {}", self.name(attribute), self.number(*n))
            }
            Condition::GreaterThan(attribute, n) => {
                format!("{} > {}", self.name(attribute), self.number(*n))
            }
            // Expressions have no literal true or false: an empty AND always holds, an empty OR never.
            Condition::And(all) if all.is_empty() => {
                let pk = self.name("pk");
                format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
            }
            Condition::Or(any) if any.is_empty() => {
                let pk = self.name("pk");
                format!("(attribute_exists({pk}) AND attribute_not_exists({pk}))")
            }
            Condition::And(all) => self.joined(all, " AND ")?,
            Condition::Or(any) => self.joined(any, " OR ")?,
        })
    }

    fn joined(&mut self, conditions: &[Condition], operator: &str) -> Result<String, StoreError> {
        let parts = conditions
            .iter()
            .map(|c| self.condition(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({})", parts.join(operator)))
    }

    fn update(&mut self, update: &Update) -> Result<String, StoreError> {
        let mut clauses = Vec::new();
        if !update.set.is_empty() {
            let mut parts = Vec::new();
            for (attribute, value) in &update.set {
                let value = to_value(value)?;
                parts.push(format!("{} = {}", self.name(attribute), self.value(value)));
            }
            clauses.push(format!("SET {}", parts.join(", ")));
        }
        if !update.add.is_empty() {
            let parts: Vec<String> = update
                .add
                .iter()
                .map(|(attribute, delta)| {
                    format!("{} {}", self.name(attribute), self.number(*delta))
                })
                .collect();
            clauses.push(format!("ADD {}", parts.join(", ")));
        }
        let mut removed: Vec<String> = update
            .remove
            .iter()
            .map(|attribute| self.name(attribute))
            .collect();
        if clauses.is_empty() && removed.is_empty() {
            // An update that changes nothing still creates the item, like the in-process store;
            // UpdateItem needs some action, and removing an attribute no item has is a no-op.
            removed.push(self.name("tacos_noop"));
        }
        if !removed.is_empty() {
            clauses.push(format!("REMOVE {}", removed.join(", ")));
        }
        Ok(clauses.join(" "))
    }
}

/// The expressions of one write.
struct Expressions {
    condition: Option<String>,
    update: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Expressions {
    fn of(condition: Option<&Condition>, update: Option<&Update>) -> Result<Self, StoreError> {
        let mut placeholders = Placeholders::default();
        let update = update
            .map(|update| placeholders.update(update))
            .transpose()?;
        let condition = condition
            .map(|condition| placeholders.condition(condition))
            .transpose()?;
        let (names, values) = placeholders.into_maps();
        Ok(Self {
            condition,
            update,
            names,
            values,
        })
    }
}

/// The one sort-key condition a DynamoDB query may carry, chosen as tight as the range allows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SkCondition {
    All,
    BeginsWith(String),
    AtLeast(String),
    Below(String),
    /// Inclusive at both ends; the item equal to the upper bound is dropped client-side.
    Between(String, String),
}

impl SkCondition {
    /// `None` when no sort key can be in `range`.
    fn of(range: &SkRange) -> Option<Self> {
        let prefix = (!range.prefix.is_empty()).then_some(range.prefix.as_str());
        let prefix_end = prefix.and_then(prefix_end);
        let lower = match (prefix, range.from.as_deref()) {
            (Some(prefix), Some(from)) => Some(prefix.max(from)),
            (prefix, from) => prefix.or(from),
        };
        let upper = match (prefix_end.as_deref(), range.to.as_deref()) {
            (Some(end), Some(to)) => Some(end.min(to)),
            (end, to) => end.or(to),
        };
        if let (Some(lower), Some(upper)) = (lower, upper) {
            if lower >= upper {
                return None;
            }
        }
        if prefix.is_some() && lower == prefix && upper == prefix_end.as_deref() {
            return Some(Self::BeginsWith(range.prefix.clone()));
        }
        Some(match (lower, upper) {
            (Some(lower), Some(upper)) => Self::Between(lower.to_string(), upper.to_string()),
            (Some(lower), None) => Self::AtLeast(lower.to_string()),
            (None, Some(upper)) => Self::Below(upper.to_string()),
            (None, None) => Self::All,
        })
    }

    /// The query's whole key condition: the partition `pk`, and this condition on the sort key.
    fn key_condition(&self, pk: &str, placeholders: &mut Placeholders) -> String {
        let pk = format!(
            "{} = {}",
            placeholders.name("pk"),
            placeholders.value(AttributeValue::S(pk.to_string()))
        );
        match self.expression(placeholders) {
            Some(sk) => format!("{pk} AND {sk}"),
            None => pk,
        }
    }

    fn expression(&self, placeholders: &mut Placeholders) -> Option<String> {
        let mut value = |s: &String| placeholders.value(AttributeValue::S(s.clone()));
        let (lower, upper) = match self {
            Self::All => return None,
            Self::BeginsWith(prefix) => (Some(value(prefix)), None),
            Self::AtLeast(lower) => (Some(value(lower)), None),
            Self::Below(upper) => (None, Some(value(upper))),
            Self::Between(lower, upper) => (Some(value(lower)), Some(value(upper))),
        };
        let sk = placeholders.name("sk");
        Some(match (self, lower, upper) {
            (Self::BeginsWith(_), Some(prefix), _) => format!("begins_with({sk}, {prefix})"),
            (Self::Between(..), Some(lower), Some(upper)) => {
                format!("{sk} BETWEEN {lower} AND {upper}")
            }
            (_, Some(lower), None) => format!("{sk} >= {lower}"),
            (_, None, Some(upper)) => format!("{sk} < {upper}"),
            _ => unreachable!("every condition has a bound"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_use_placeholders() {
        let mut p = Placeholders::default();
        let condition = Condition::Or(vec![
            Condition::NotExists,
            Condition::And(vec![
                Condition::equals("status", "HELD"),
                Condition::AtLeast("count".into(), 2),
            ]),
        ]);
        let expr = p.condition(&condition).unwrap();
        assert_eq!(
            expr,
            "(attribute_not_exists(#n0) OR (#n1 = :v0 AND #n2 >= :v1))"
        );
        assert_eq!(p.names["#n1"], "status");
        assert_eq!(p.values[":v1"], AttributeValue::N("2".into()));
    }

    #[test]
    fn updates_set_add_remove() {
        let mut p = Placeholders::default();
        let update = Update::new(Key::new("p", "s"))
            .set("name", "x")
            .add("count", -1)
            .remove("old");
        assert_eq!(
            p.update(&update).unwrap(),
            "SET #n0 = :v0 ADD #n1 :v1 REMOVE #n2"
        );
        let mut p = Placeholders::default();
        assert_eq!(
            p.update(&Update::new(Key::new("p", "s"))).unwrap(),
            "REMOVE #n0"
        );
    }

    #[test]
    fn numbers_round_trip_as_written() {
        let item = json!({ "pk": "p", "sk": "s", "n": 1, "neg": -7, "big": i64::MAX, "f": 1.25, "z": null, "m": { "k": [1, "a"] } });
        let item = item.as_object().unwrap().clone();
        assert_eq!(from_raw_item(to_raw_item(&item).unwrap()).unwrap(), item);
    }

    #[test]
    fn sort_key_conditions_are_tight() {
        assert_eq!(SkCondition::of(&SkRange::default()), Some(SkCondition::All));
        assert_eq!(
            SkCondition::of(&SkRange::prefix("SEAT#")),
            Some(SkCondition::BeginsWith("SEAT#".into()))
        );
        assert_eq!(
            SkCondition::of(&SkRange::prefix("LEFT#").between("LEFT#003", "LEFT#007")),
            Some(SkCondition::Between("LEFT#003".into(), "LEFT#007".into()))
        );
        assert_eq!(
            SkCondition::of(&SkRange::prefix("LEFT#").to("LEFT#007")),
            Some(SkCondition::Between("LEFT#".into(), "LEFT#007".into()))
        );
        assert_eq!(
            SkCondition::of(&SkRange::prefix("A").from("A5")),
            Some(SkCondition::Between("A5".into(), "B".into()))
        );
        assert_eq!(
            SkCondition::of(&SkRange::default().from("x")),
            Some(SkCondition::AtLeast("x".into()))
        );
        assert_eq!(
            SkCondition::of(&SkRange::default().to("x")),
            Some(SkCondition::Below("x".into()))
        );
        assert_eq!(SkCondition::of(&SkRange::prefix("B").to("A")), None);
    }
}
