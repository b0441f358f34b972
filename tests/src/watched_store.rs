//! A store that shows each call to the test before passing it on.
//!
//! The platform and AWS suites ask what the domain does to the store (how many reads a status
//! makes, which partitions a join touches) and what it does when the store fails (a throttled
//! table refusing transactions). Both need the same thing: a real store, with every call seen on
//! the way in and, if the test says so, refused. [`WatchedStore`] is that wrapper, written once;
//! each test keeps only what it counts or refuses, in the closure it gives.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tacos_core::ports::store::{ChangeListener, Lent};
use tacos_core::ports::{Item, Key, SkRange, Store, StoreError, Update, Write};

/// One store call, as [`WatchedStore`]'s watcher sees it before the store does.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// A read of one item (`get` or `read`).
    Read(&'a Key),
    /// A query of one partition.
    Query { pk: &'a str, range: &'a SkRange },
    /// An update of one item that answers the item.
    Update(&'a Update),
    /// Writes applied together (one write alone comes this way too).
    Transact(&'a [Write]),
}

impl Call<'_> {
    /// The call's kind, as the suites name it: `read`, `query`, `update` or `write`.
    pub fn kind(&self) -> &'static str {
        match self {
            Call::Read(_) => "read",
            Call::Query { .. } => "query",
            Call::Update(_) => "update",
            Call::Transact(_) => "write",
        }
    }

    /// The partition of every item the call touches (a transaction's, one per write).
    pub fn partitions(&self) -> Vec<String> {
        match self {
            Call::Read(key) => vec![key.pk.clone()],
            Call::Query { pk, .. } => vec![pk.to_string()],
            Call::Update(update) => vec![update.key.pk.clone()],
            Call::Transact(writes) => writes.iter().map(|w| w.key().pk).collect(),
        }
    }
}

/// The watcher: sees each call first; an error refuses the call (a fault the test injects), and
/// the store is not asked.
pub type Watcher = dyn Fn(Call<'_>) -> Result<(), StoreError> + Send + Sync;

/// `inner`, with every call shown to a watcher first. `ping` and `watch` are passed on unwatched.
pub struct WatchedStore {
    inner: Arc<dyn Store>,
    watch: Box<Watcher>,
}

impl WatchedStore {
    pub fn new(
        inner: Arc<dyn Store>,
        watch: impl Fn(Call<'_>) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            watch: Box::new(watch),
        }
    }
}

#[async_trait]
impl Store for WatchedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        (self.watch)(Call::Read(key))?;
        self.inner.get(key).await
    }

    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<Lent<'i>>) + Send),
    ) -> Result<(), StoreError> {
        (self.watch)(Call::Read(key))?;
        self.inner.read(key, visit).await
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        (self.watch)(Call::Query { pk, range })?;
        self.inner.query(pk, range).await
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        (self.watch)(Call::Update(&update))?;
        self.inner.update(update).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        (self.watch)(Call::Transact(&writes))?;
        self.inner.transact(writes).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    /// Passed on: a view the domain keeps from the store's changes sees the writes that got
    /// through (a refused write was never made).
    fn watch(&self, listener: Weak<dyn ChangeListener>) -> bool {
        self.inner.watch(listener)
    }
}
