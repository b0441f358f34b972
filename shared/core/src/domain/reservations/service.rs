//! The reservations service, and the reads and notices its transitions share.

use chrono::Duration;

use super::record::{reservation_key, Reservation, ReservationStatus};
use crate::domain::auth::Principal;
use crate::domain::catalog::Catalog;
use crate::domain::records::get_record;
use crate::domain::request_keys::RequestKeys;
use crate::domain::reservation_tokens::ReservationTokens;
use crate::domain::sale::SaleControl;
use crate::domain::stock::KnownStock;
use crate::error::{Error, Result};
use crate::ids::ReservationId;
use crate::ports::bus::{DetailType, DomainEvent, EventDetail};
use crate::ports::Ports;

/// Holds and their transitions, each an `impl` block in its own file (`hold`, `confirm`,
/// `cancel`, `expire`, and `transition` for what leaving `HOLD` shares).
#[derive(Clone)]
pub struct Reservations {
    pub(super) ports: Ports,
    pub(super) catalog: Catalog,
    pub(super) tokens: ReservationTokens,
    /// Whether the sale takes holds, and how long they last ([`SaleControl`]).
    pub(super) sales: SaleControl,
    /// How long after its expiry a hold being paid waits for the bank (`Config::payment_grace_seconds`).
    pub(super) payment_grace: Duration,
    /// What this process last read of general-admission events' stock shards, to plan holds by.
    pub(super) known_stock: KnownStock,
    /// Derives the ids of holds placed with an idempotency key ([`crate::domain::request_keys`]);
    /// payment intents' too.
    pub(crate) request_keys: RequestKeys,
}

impl Reservations {
    pub fn new(
        ports: Ports,
        catalog: Catalog,
        tokens: ReservationTokens,
        sales: SaleControl,
        payment_grace: Duration,
        request_keys: RequestKeys,
    ) -> Self {
        Self {
            ports,
            catalog,
            tokens,
            sales,
            payment_grace,
            known_stock: KnownStock::default(),
            request_keys,
        }
    }

    /// The reservation, if `caller` may see it (owners and administrators; `None` is the platform
    /// itself). A hold past its due time is expired on the spot, so nobody reads a stale `HOLD`.
    pub async fn get(&self, id: &ReservationId, caller: Option<&Principal>) -> Result<Reservation> {
        let reservation = self.load(id, caller).await?;
        if reservation.status == ReservationStatus::Hold
            && self.ports.clock.now() >= reservation.due()
        {
            self.expire(id).await?;
            return self.load(id, caller).await;
        }
        Ok(reservation)
    }

    /// The reservation as stored, if `caller` may see it.
    pub(super) async fn load(
        &self,
        id: &ReservationId,
        caller: Option<&Principal>,
    ) -> Result<Reservation> {
        let reservation: Reservation = get_record(&*self.ports.store, &reservation_key(id))
            .await?
            .ok_or(Error::ReservationNotFound)?;
        match caller {
            Some(p) if p.user_id != reservation.user_id => Err(Error::ReservationNotFound),
            _ => Ok(reservation),
        }
    }

    /// Tells the bus about a transition that is already committed; a bus outage loses the
    /// notice, never the transition.
    pub(super) async fn publish(&self, detail_type: DetailType, detail: EventDetail) {
        if let Err(e) = self
            .ports
            .bus
            .publish(DomainEvent {
                detail_type,
                detail,
            })
            .await
        {
            tracing::warn!(error = %e, detail_type = detail_type.as_str(), "domain event not published");
        }
    }
}
