//! The payments service: the simulator's and the platform's side of a payment share one set of
//! ports, the intent records, and the reservations they pay for.

use super::intent::{intent_key, PaymentIntent};
use crate::config::WebhookDelivery;
use crate::domain::auth::Principal;
use crate::domain::records::from_item;
use crate::domain::reservations::{reservation_key, Reservation, Reservations};
use crate::domain::webhook_signature::WebhookSigner;
use crate::error::{Error, Result};
use crate::ids::{PaymentIntentId, ReservationId};
use crate::ports::Ports;

/// The payment simulator (`simulator`, `delivery`), the platform's webhook (`receipt`) and the
/// follow-up of its outcomes (`follow_up`), each an `impl` block in its own file.
#[derive(Clone)]
pub struct Payments {
    pub(super) ports: Ports,
    pub(super) reservations: Reservations,
    pub(super) signer: WebhookSigner,
    /// How long the `delay` scenario keeps a payment processing (`Config::payment_delay`).
    pub(super) delay: chrono::Duration,
    /// Whether a decided payment's answer waits for its webhook (`Config::webhook_delivery`).
    pub(super) delivery: WebhookDelivery,
}

impl Payments {
    pub fn new(
        ports: Ports,
        reservations: Reservations,
        signer: WebhookSigner,
        delay: std::time::Duration,
        delivery: WebhookDelivery,
    ) -> Self {
        Self {
            ports,
            reservations,
            signer,
            delay: chrono::Duration::from_std(delay).unwrap_or_default(),
            delivery,
        }
    }

    /// The intent, if `caller` made it (`None` is the platform itself, which sees every one).
    pub async fn get(
        &self,
        id: &PaymentIntentId,
        caller: Option<&Principal>,
    ) -> Result<PaymentIntent> {
        let intent: PaymentIntent = self
            .ports
            .store
            .get(&intent_key(id))
            .await?
            .map(from_item)
            .transpose()?
            .ok_or(Error::PaymentNotFound)?;
        match caller {
            Some(p) if p.user_id != intent.user_id => Err(Error::PaymentNotFound),
            _ => Ok(intent),
        }
    }

    /// The reservation as stored, read without [`Reservations::get`]'s expiry on the spot: an
    /// outcome is reported for the hold as it stands, and expiring it is the timer's business.
    pub(super) async fn stored_reservation(
        &self,
        id: &ReservationId,
    ) -> Result<Option<Reservation>> {
        self.ports
            .store
            .get(&reservation_key(id))
            .await?
            .map(from_item)
            .transpose()
    }
}
