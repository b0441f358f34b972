//! Holds, confirmations, cancellations and expiries.
//!
//! Every change of a reservation's status is one transaction that also moves its seats and the
//! inventory counters, conditional on the reservation still being `HOLD` and each seat still being
//! held by it. That condition is what makes confirm, cancel and expiry race safely: whichever
//! commits first wins, the others see the condition fail and report the winner's outcome. A hold
//! takes its seats under the condition that each is `AVAILABLE` (or, for general admission, that
//! enough are left), so no seat is ever sold twice, at any concurrency.
//!
//! * [`record`]: the reservation record, its status and key, and the contract's view of it.
//! * [`Reservations`]: the service (`service.rs`: reading a reservation), whose transitions each
//!   live in their own file:
//!   * `hold.rs`: [`Reservations::hold`] and its [`HoldRequest`];
//!   * `confirm.rs`: [`Reservations::confirm`] and its [`Confirmation`];
//!   * `cancel.rs`: [`Reservations::cancel`], [`Reservations::cancel_for_failed_payment`];
//!   * `expire.rs`: [`Reservations::expire`];
//!   * `payment.rs`: [`Reservations::start_payment`]: a hold being paid, kept until its payment's
//!     grace deadline, and whether its payment was approved in time (and so is confirmed by the
//!     hold's own expiry timer, [`Reservation::expiry_confirms`]);
//!   * `transition.rs`: what leaving `HOLD` shares (the conditional transaction, the release of
//!     the seats, the expiry timer dropped).
//! * `purchase_cap.rs`: the tickets an account holds and owns for an event, across its orders,
//!   counted in each hold's transaction and kept within the event's `max_per_order`, and the
//!   reservation tokens it used, each marked there once.

pub mod record;

mod cancel;
mod confirm;
mod expire;
mod hold;
mod payment;
mod purchase_cap;
mod service;
mod transition;

pub use confirm::Confirmation;
pub use hold::HoldRequest;
pub use record::{reservation_key, Reservation, ReservationStatus};
pub use service::Reservations;
