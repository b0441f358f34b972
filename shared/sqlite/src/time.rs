//! The system clock, as the store's expiry reads it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds by the system clock.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
