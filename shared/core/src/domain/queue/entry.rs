//! An entry's `Idempotency-Key`, kept on the ticket it entered.
//!
//! Entering updates the ticket (waiting → entered). With the request's key, that same update
//! keeps the key, the request's fingerprint and what the reservation token it answers is made of
//! ([`Issue`]: its id, when it was issued, its admission batch; the rest of its claims are the
//! ticket's). A retry, or a duplicate sent at the same moment, finds the ticket entered under its
//! own key and answers that token, signed again (the same bytes, HS256 being deterministic),
//! instead of 409 `ALREADY_ENTERED`; every other request for an entered ticket is still refused.
//!
//! The answer is stored in the general record too, after the work
//! ([`crate::domain::idempotency`]): that one write is what tells a key reused for another
//! ticket (409 `IDEMPOTENCY_CONFLICT`). So an entry writes the ticket and the record, where a
//! claim before it made three writes, and its concurrent duplicate is answered (as a replay)
//! rather than told 409 `IDEMPOTENCY_IN_PROGRESS`.

use serde::{Deserialize, Serialize};

use crate::domain::request_keys::RequestKey;
use crate::domain::reservation_tokens::Issue;

/// The request that entered a ticket, and the token it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryStamp {
    pub key: String,
    pub fingerprint: String,
    pub issue: Issue,
}

impl EntryStamp {
    pub fn new(key: &RequestKey, issue: Issue) -> Self {
        Self {
            key: key.key.clone(),
            fingerprint: key.fingerprint.clone(),
            issue,
        }
    }

    /// The token this entry answered, when `key` is the very request that made it (its key and
    /// its body).
    pub fn answered(&self, key: &RequestKey) -> Option<&Issue> {
        key.is(&self.key, &self.fingerprint).then_some(&self.issue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::request_keys::test_key as key;

    #[test]
    fn only_the_request_that_entered_is_answered_its_token() {
        let issue = Issue::new(7, chrono::Utc::now());
        let stamp = EntryStamp::new(&key("k1", "f1"), issue.clone());
        assert_eq!(stamp.answered(&key("k1", "f1")), Some(&issue));
        assert_eq!(stamp.answered(&key("k2", "f1")), None, "another key");
        assert_eq!(stamp.answered(&key("k1", "f2")), None, "another body");
    }
}
