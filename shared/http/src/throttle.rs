//! [`Throttle`]: at most once per period, for work a hot path should not pay for on every call
//! (a refresh of gauges, a warning repeated by every request of an outage).

/// Keeps a hot path from paying for a refresh on every call: [`Throttle::ready`] says yes at most
/// once per `every`.
pub struct Throttle {
    every_ms: u64,
    next_ms: std::sync::atomic::AtomicU64,
}

impl Throttle {
    pub const fn new(every: std::time::Duration) -> Self {
        Self {
            every_ms: every.as_millis() as u64,
            next_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn ready(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.every_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}
