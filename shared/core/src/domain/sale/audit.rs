//! The audit log of operator actions: who did what to which sale, when, and the sale before and
//! after. Entries are written only together with the change they record ([`super`]) and never
//! changed; `GET /admin/audit` reads them newest first.
//!
//! All entries share one partition (`AUDIT`), sorted by time: operators act a few times an hour,
//! far from any partition limit, and one query pages through the whole log. Reading one event's
//! entries filters that query (at most [`SCAN_LIMIT`] entries scanned per page).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::settings::{Sale, SaleChange};
use crate::domain::auth::Principal;
use crate::domain::records::{from_item, to_item};
use crate::error::{Error, Result};
use crate::ids::{AuditId, EventId, UserId};
use crate::ports::store::{Key, SkRange, Store, Write};

const AUDIT_PK: &str = "AUDIT";

/// Most entries one page of the log answers.
pub const MAX_PAGE: usize = 200;

/// Most entries read to fill one page of one event's entries.
pub const SCAN_LIMIT: usize = 2_000;

/// What an operator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Pause,
    Resume,
    Close,
    Update,
}

impl AuditAction {
    pub(super) fn of(change: &SaleChange) -> Self {
        match change {
            SaleChange::Pause => Self::Pause,
            SaleChange::Resume => Self::Resume,
            SaleChange::Close => Self::Close,
            SaleChange::Settings(_) => Self::Update,
        }
    }
}

/// One operator action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub audit_id: AuditId,
    pub at: DateTime<Utc>,
    /// The operator's account.
    pub actor: UserId,
    pub action: AuditAction,
    pub event_id: EventId,
    pub before: Sale,
    pub after: Sale,
    /// The sale's version this change made: orders one event's entries made within the same
    /// millisecond.
    pub sale_version: u64,
}

impl AuditEntry {
    pub(super) fn new(
        at: DateTime<Utc>,
        actor: &Principal,
        action: AuditAction,
        before: Sale,
        after: Sale,
        sale_version: u64,
    ) -> Self {
        Self {
            audit_id: AuditId::generate(),
            at,
            actor: actor.user_id.clone(),
            action,
            event_id: after.event_id.clone(),
            before,
            after,
            sale_version,
        }
    }

    /// Its position in the log: time first, so the log reads in order, then the sale's
    /// version, so one event's changes within a millisecond keep theirs.
    fn sort_key(&self) -> String {
        format!(
            "{:013}#{:010}#{}",
            self.at.timestamp_millis(),
            self.sale_version,
            self.audit_id
        )
    }

    /// The write that adds it to the log (never over another entry).
    pub(super) fn write(&self) -> Write {
        Write::put_new(to_item(&Key::new(AUDIT_PK, self.sort_key()), self))
    }
}

/// Which entries to read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    /// Only this event's entries.
    #[serde(default)]
    pub event_id: Option<EventId>,
    /// Entries per page (default 50, at most [`MAX_PAGE`]).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The `next` of the page before: entries older than it.
    #[serde(default)]
    pub before: Option<String>,
}

/// One page of the log, newest first; `next` asks for the older entries.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A page of the log, newest first.
pub async fn read_log(store: &dyn Store, query: &AuditQuery) -> Result<AuditPage> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::InvalidRequest(format!(
            "limit: a whole number from 1 to {MAX_PAGE}"
        )));
    }
    let mut before = match &query.before {
        Some(cursor) if !is_cursor(cursor) => {
            return Err(Error::InvalidRequest(
                "before: the `next` of an earlier page".into(),
            ))
        }
        other => other.clone(),
    };
    let mut entries = Vec::with_capacity(limit);
    let mut scanned = 0;
    loop {
        // One event's entries are filtered out of the whole log: read it a page at a time.
        let page = if query.event_id.is_some() {
            MAX_PAGE
        } else {
            limit
        };
        let mut range = SkRange {
            reverse: true,
            limit: Some(page),
            ..SkRange::default()
        };
        if let Some(cursor) = &before {
            range = range.to(cursor.clone());
        }
        let items = store.query(AUDIT_PK, &range).await?;
        let exhausted = items.len() < page;
        for item in items {
            scanned += 1;
            let entry: AuditEntry = from_item(item)?;
            before = Some(entry.sort_key());
            if query.event_id.as_ref().is_none_or(|e| *e == entry.event_id) {
                entries.push(entry);
                if entries.len() == limit {
                    return Ok(AuditPage {
                        entries,
                        next: before,
                    });
                }
            }
        }
        if exhausted {
            return Ok(AuditPage {
                entries,
                next: None,
            });
        }
        if scanned >= SCAN_LIMIT {
            return Ok(AuditPage {
                entries,
                next: before,
            });
        }
    }
}

/// Whether `cursor` is a sort key of the log (`<13 digits>#<10 digits>#aud_…`).
fn is_cursor(cursor: &str) -> bool {
    let digits = |part: &str, n: usize| part.len() == n && part.bytes().all(|b| b.is_ascii_digit());
    let mut parts = cursor.splitn(3, '#');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(ms), Some(version), Some(id)) => {
            digits(ms, 13) && digits(version, 10) && id.parse::<AuditId>().is_ok()
        }
        _ => false,
    }
}
