//! What a sale is: its state, the settings operators change, and a change applied to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::catalog::{check_admission_rate, check_rfc3339};
use crate::domain::queue::challenge::MAX_CHALLENGE_BITS;
use crate::error::{Error, Result};
use crate::ids::EventId;

/// The hold times an operator may set, in seconds.
pub const HOLD_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 10..=3_600;

/// Where a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    Open,
    Paused,
    Closed,
}

/// What operators changed of an event's sale, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SaleRecord {
    pub(super) state: SaleState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) admission_rate_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) hold_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) join_challenge_bits: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) on_sale_at: Option<DateTime<Utc>>,
    pub(super) changed_at: DateTime<Utc>,
    /// Bumped by every change: the condition that keeps two operators' changes from crossing.
    pub(super) version: u64,
}

/// A sale as it stands: what the waiting room and holds obey and what operators are shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sale {
    pub event_id: EventId,
    pub state: SaleState,
    /// People admitted per second while open.
    pub admission_rate_per_sec: f64,
    /// How long a new hold lasts.
    pub hold_seconds: u64,
    /// Proof of work a join must carry, in leading zero bits (0: none;
    /// [`crate::domain::queue::challenge`]).
    #[serde(default)]
    pub join_challenge_bits: u32,
    /// When the sale opens (absent: it was open from the start). Joins before it wait in the
    /// lobby, drawn at random at the opening ([`crate::domain::queue::lobby`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<DateTime<Utc>>,
    /// When an operator last changed it (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}

impl Sale {
    pub fn is_open(&self) -> bool {
        self.state == SaleState::Open
    }

    pub fn is_closed(&self) -> bool {
        self.state == SaleState::Closed
    }

    /// Whole seconds until the opening (rounded up), if it is still ahead at `now`.
    pub fn opens_in_sec(&self, now: DateTime<Utc>) -> Option<u64> {
        let ms = (self.on_sale_at? - now).num_milliseconds();
        (ms > 0).then(|| (ms as u64).div_ceil(1_000))
    }

    /// Whether the opening is still ahead at `now` (joins go to the lobby).
    pub fn before_opening(&self, now: DateTime<Utc>) -> bool {
        self.on_sale_at.is_some_and(|at| at > now)
    }

    /// Refuses what a closed sale no longer allows (a join, an entry, a hold).
    pub fn check_not_closed(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::SaleClosed)
        } else {
            Ok(())
        }
    }

    /// Whether `other` is this sale with the same state and settings (whenever changed).
    pub(super) fn same_as(&self, other: &Sale) -> bool {
        self.state == other.state
            && self.admission_rate_per_sec == other.admission_rate_per_sec
            && self.hold_seconds == other.hold_seconds
            && self.join_challenge_bits == other.join_challenge_bits
            && self.on_sale_at == other.on_sale_at
    }

    pub fn hold_duration(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.hold_seconds).unwrap_or(i64::MAX))
    }
}

/// `PATCH /admin/events/{id}`: the settings to change; at least one. Unknown fields are ignored
/// (as on every request body); a setting sent as `null` is refused ([`crate::request_fields`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SaleSettings {
    #[serde(default, deserialize_with = "crate::request_fields::named")]
    pub admission_rate_per_sec: Option<f64>,
    #[serde(default, deserialize_with = "crate::request_fields::named")]
    pub hold_seconds: Option<u64>,
    #[serde(default, deserialize_with = "crate::request_fields::named")]
    pub join_challenge_bits: Option<u32>,
    /// A new opening time; only while the current one is still ahead (a sale that opened
    /// stays open: its lobby was drawn).
    #[serde(default, deserialize_with = "crate::request_fields::named")]
    pub on_sale_at: Option<DateTime<Utc>>,
}

impl SaleSettings {
    fn validate(&self) -> Result<()> {
        if self.admission_rate_per_sec.is_none()
            && self.hold_seconds.is_none()
            && self.join_challenge_bits.is_none()
            && self.on_sale_at.is_none()
        {
            return Err(Error::InvalidRequest(
                "name at least one of admission_rate_per_sec, hold_seconds, join_challenge_bits, on_sale_at"
                    .into(),
            ));
        }
        if let Some(rate) = self.admission_rate_per_sec {
            check_admission_rate(rate)?;
        }
        if let Some(at) = self.on_sale_at {
            check_rfc3339("on_sale_at", at)?;
        }
        if let Some(hold) = self.hold_seconds {
            if !HOLD_SECONDS_RANGE.contains(&hold) {
                return Err(Error::InvalidRequest(format!(
                    "hold_seconds: a whole number from {} to {}",
                    HOLD_SECONDS_RANGE.start(),
                    HOLD_SECONDS_RANGE.end()
                )));
            }
        }
        if let Some(bits) = self.join_challenge_bits {
            if bits > MAX_CHALLENGE_BITS {
                return Err(Error::InvalidRequest(format!(
                    "join_challenge_bits: a whole number from 0 (no proof of work) to {MAX_CHALLENGE_BITS}"
                )));
            }
        }
        Ok(())
    }
}

/// What an operator does to a sale.
#[derive(Debug, Clone)]
pub enum SaleChange {
    Pause,
    Resume,
    Close,
    Settings(SaleSettings),
}

impl SaleChange {
    /// The record after this change of `before` (`None`: an event nobody changed yet).
    pub(super) fn apply(
        &self,
        before: Option<&SaleRecord>,
        now: DateTime<Utc>,
    ) -> Result<SaleRecord> {
        let mut after = before.cloned().unwrap_or(SaleRecord {
            state: SaleState::Open,
            admission_rate_per_sec: None,
            hold_seconds: None,
            join_challenge_bits: None,
            on_sale_at: None,
            changed_at: now,
            version: 0,
        });
        // Closing is for good: only closing again is allowed (and changes nothing).
        if after.state == SaleState::Closed && !matches!(self, Self::Close) {
            return Err(Error::SaleClosed);
        }
        match self {
            Self::Pause => after.state = SaleState::Paused,
            Self::Resume => after.state = SaleState::Open,
            Self::Close => after.state = SaleState::Closed,
            Self::Settings(settings) => {
                settings.validate()?;
                if let Some(rate) = settings.admission_rate_per_sec {
                    after.admission_rate_per_sec = Some(rate);
                }
                if let Some(hold) = settings.hold_seconds {
                    after.hold_seconds = Some(hold);
                }
                if let Some(bits) = settings.join_challenge_bits {
                    after.join_challenge_bits = Some(bits);
                }
                // A time already past opens the sale now, and now is when it opened: the sale
                // says so rather than the past time sent (a lobby drawn "in 2020").
                if let Some(at) = settings.on_sale_at {
                    after.on_sale_at = Some(at.max(now));
                }
            }
        }
        after.changed_at = now;
        after.version += 1;
        Ok(after)
    }
}
