//! [`ConnectionRegistry`] on AWS: live-update connections as items of the platform's DynamoDB table.
//!
//! # Connection items
//! A connection is one item of the platform's table: `pk = LIVE#<nn>`, `sk = CONN#<connection
//! id>`, with `event_id`, the optional `token`, `connected_at` (ms) and `expires_at` (epoch
//! seconds, the table's TTL attribute, so a connection whose `$disconnect` never came is deleted
//! by DynamoDB; until it is, [`DynamoConnections::live`] leaves it out). `nn` is one of
//! [`PARTITIONS`], chosen by a hash of the connection id: a disconnect finds the item from the id
//! alone, and the pusher reads every connection with one `Query` per partition (paged, run
//! together), never a `Scan` of a table that holds the whole platform. Spreading connections
//! over partitions keeps an on-sale's connects (each a write) far from the 1,000 writes/s one
//! partition takes: 16 partitions take 16,000 connects/s.
//!

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use tacos_core::ports::connections::{Connection, ConnectionId, ConnectionRegistry, RegistryError};

use crate::sdk::describe;

/// Partitions the connection items are spread over.
pub const PARTITIONS: u32 = 16;

/// The partition of a connection: FNV-1a of its id, so any process finds it from the id alone.
fn partition_of(id: &ConnectionId) -> String {
    let hash = id.as_str().bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    partition(hash % PARTITIONS)
}

fn partition(n: u32) -> String {
    format!("LIVE#{n:02}")
}

fn sort_key(id: &ConnectionId) -> String {
    ["CONN#", id.as_str()].concat()
}

/// [`ConnectionRegistry`] over the platform's DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    /// A registry in `table`, sharing `client` (build the client once per process).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(id: &ConnectionId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(partition_of(id))),
            ("sk".to_string(), AttributeValue::S(sort_key(id))),
        ])
    }

    /// The live connections of one partition, every page of them.
    async fn partition(&self, pk: String, now: i64) -> Result<Vec<Connection>, RegistryError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                // Items DynamoDB's TTL has not deleted yet are not sent back at all.
                .filter_expression("expires_at > :now")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RegistryError(describe(&e)))?;
            for item in page.items() {
                match connection_of(item) {
                    Some(connection) => found.push(connection),
                    None => tracing::warn!(?item, "unreadable connection item skipped"),
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }
}

fn connection_of(item: &HashMap<String, AttributeValue>) -> Option<Connection> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    Some(Connection {
        id: text("connection_id")?.parse().ok()?,
        event_id: text("event_id")?.parse().ok()?,
        token: match text("token") {
            Some(token) => Some(token.parse().ok()?),
            None => None,
        },
        connected_at: DateTime::from_timestamp_millis(number("connected_at")?)?,
        expires_at: DateTime::from_timestamp(number("expires_at")?, 0)?,
    })
}

#[async_trait]
impl ConnectionRegistry for DynamoConnections {
    async fn register(&self, connection: &Connection) -> Result<(), RegistryError> {
        let mut item = Self::key(&connection.id);
        let mut set = |name: &str, value| {
            item.insert(name.to_string(), value);
        };
        set(
            "connection_id",
            AttributeValue::S(connection.id.to_string()),
        );
        set(
            "event_id",
            AttributeValue::S(connection.event_id.to_string()),
        );
        if let Some(token) = &connection.token {
            set("token", AttributeValue::S(token.to_string()));
        }
        set(
            "connected_at",
            AttributeValue::N(connection.connected_at.timestamp_millis().to_string()),
        );
        set(
            "expires_at",
            AttributeValue::N(connection.expires_at.timestamp().to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| RegistryError(describe(&e)))?;
        Ok(())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), RegistryError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .send()
            .await
            .map_err(|e| RegistryError(describe(&e)))?;
        Ok(())
    }

    async fn live(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, RegistryError> {
        let pages =
            try_join_all((0..PARTITIONS).map(|n| self.partition(partition(n), now.timestamp())))
                .await?;
        // The filter compares whole seconds; the port promises "not expired at `now`" exactly.
        Ok(pages
            .into_iter()
            .flatten()
            .filter(|c| c.expires_at > now)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_always_lands_in_the_same_partition() {
        let id: ConnectionId = "L0SM9cOFvHcCIhw=".parse().unwrap();
        assert_eq!(partition_of(&id), partition_of(&id.clone()));
        let used: std::collections::HashSet<String> = (0..400)
            .map(|_| partition_of(&ConnectionId::generate()))
            .collect();
        assert_eq!(
            used.len(),
            PARTITIONS as usize,
            "connections spread over every partition"
        );
        assert!(used.iter().all(|p| p.starts_with("LIVE#") && p.len() == 7));
    }
}
