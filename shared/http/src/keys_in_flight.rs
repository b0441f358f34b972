//! The keyed requests this process is running, by route, caller and key.
//!
//! Enter, confirm and process claim nothing in the store before they run (one write per request
//! instead of two, `tacos_core::domain::idempotency`): they read the key's record, run, and keep
//! their answer after. Two requests under one key that arrive together both find no record, so
//! without more, both would run. For two duplicates that is by design: each is answered alike and
//! the effect is the first's. For two *different* requests under one key (a client that reused a
//! key for another reservation) the contract wants the second refused (409
//! `IDEMPOTENCY_CONFLICT`), and a hostile test found both run, two payments under one key.
//!
//! So the process keeps, in memory, what each key it is running was sent for: a request whose key
//! is running here for another body is refused at once, without a write. That covers every
//! request of the embedded server and the container, where all requests reach one process. On
//! Lambda each instance runs one request at a time, so two instances can still both run; the
//! store's record then keeps the first answer and the other is logged
//! (`Idempotency::remember_first`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What this process is running, per (caller, key): the request's fingerprint, and how many
/// duplicates of it are running.
#[derive(Default)]
pub struct KeysInFlight {
    running: Mutex<HashMap<(String, String), Running>>,
}

struct Running {
    fingerprint: String,
    duplicates: usize,
}

/// One request's place among the keys in flight, given up when dropped (answered, refused, or
/// its connection gone).
pub struct InFlight {
    keys: Arc<KeysInFlight>,
    slot: (String, String),
}

/// Another request under the same key, for something else, is running here.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyBusy;

impl KeysInFlight {
    /// Marks `key` of `owner` as running for the request `fingerprint`: refused while another
    /// request runs under it; shared with duplicates of the same request.
    pub fn enter(
        self: &Arc<Self>,
        owner: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<InFlight, KeyBusy> {
        let slot = (owner.to_owned(), key.to_owned());
        let mut running = self.running.lock().expect("keys in flight lock");
        match running.get_mut(&slot) {
            Some(it) if it.fingerprint != fingerprint => return Err(KeyBusy),
            Some(it) => it.duplicates += 1,
            None => {
                running.insert(
                    slot.clone(),
                    Running {
                        fingerprint: fingerprint.to_owned(),
                        duplicates: 1,
                    },
                );
            }
        }
        Ok(InFlight {
            keys: self.clone(),
            slot,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.running.lock().expect("keys in flight lock").len()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut running = self.keys.running.lock().expect("keys in flight lock");
        if let Some(it) = running.get_mut(&self.slot) {
            it.duplicates -= 1;
            if it.duplicates == 0 {
                running.remove(&self.slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_request_under_a_running_key_is_refused_until_it_is_done() {
        let keys = Arc::new(KeysInFlight::default());
        let first = keys.enter("usr_a", "k", "pay pi_1").unwrap();
        assert_eq!(keys.enter("usr_a", "k", "pay pi_2").err(), Some(KeyBusy));
        // Another caller's key, or another key of the caller: unrelated.
        let other_caller = keys.enter("usr_b", "k", "pay pi_2").unwrap();
        let other_key = keys.enter("usr_a", "k2", "pay pi_2").unwrap();
        drop(first);
        let second = keys.enter("usr_a", "k", "pay pi_2").unwrap();
        drop((second, other_caller, other_key));
        assert_eq!(keys.len(), 0, "nothing left behind");
    }

    #[test]
    fn duplicates_run_together_and_the_key_is_free_once_the_last_is_done() {
        let keys = Arc::new(KeysInFlight::default());
        let one = keys.enter("usr_a", "k", "pay pi_1").unwrap();
        let two = keys.enter("usr_a", "k", "pay pi_1").unwrap();
        drop(one);
        assert_eq!(keys.enter("usr_a", "k", "pay pi_2").err(), Some(KeyBusy));
        drop(two);
        assert!(keys.enter("usr_a", "k", "pay pi_2").is_ok());
        assert_eq!(keys.len(), 0);
    }
}
