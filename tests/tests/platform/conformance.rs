//! The store conformance suite against the in-process store (the DynamoDB run is in `aws`).

use std::sync::Arc;

use tacos_core::in_process::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    tacos_core::conformance::run_all(Arc::new(MemoryStore::new())).await;
}
