//! The platform's one error type.
//!
//! Each variant is a failure a client can be told about, and carries the contract's error code and
//! HTTP status. Domain services return it, the HTTP layer renders it as
//! `{"error":{"code","message","trace_id"}}`, and adapters' failures convert into it
//! ([`Error::Unavailable`] for an outage, so the client gets 503 and retries). Both
//! [`Error::Unavailable`] and [`Error::RateLimited`] tell the client when to retry (`Retry-After`).

use crate::ids::SeatId;
use crate::ports::{PublishError, PushError, RegistryError, ScheduleError, StoreError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("event_id is required")]
    MissingEventId,
    #[error("the Idempotency-Key header is required on this route")]
    IdempotencyRequired,
    #[error("the Idempotency-Key header must be one UUID, sent once")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("that username is taken")]
    UsernameExists,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("an Authorization: Bearer token is required")]
    MissingAuthorization,
    #[error("the bearer token is not valid: {0}")]
    InvalidToken(String),
    #[error("this route is for administrators")]
    Forbidden,
    #[error("this API is served through its public address only")]
    NotThroughProxy,
    #[error("user_id must name the signed-in caller; identity comes from the bearer token")]
    UserMismatch,
    #[error("no such event")]
    EventNotFound,
    #[error("event {0} already exists")]
    EventExists(String),
    #[error("sales for this event are closed")]
    SaleClosed,
    #[error("{0}")]
    ChallengeRequired(String),
    #[error("no such waiting token")]
    TokenNotFound,
    #[error("it is not your turn yet")]
    NotReady,
    #[error("this waiting token was already admitted")]
    AlreadyEntered,
    #[error("your turn passed without entering; join the queue again")]
    TokenExpired,
    #[error("the reservation token is not valid: {0}")]
    InvalidReservationToken(String),
    #[error("seats no longer available: {}", join(.0))]
    SeatUnavailable(Vec<SeatId>),
    #[error("only {available} left, {requested} requested")]
    InsufficientInventory { requested: u32, available: i64 },
    #[error(
        "an account may hold and buy at most {limit} tickets for this event; it has {counted}, \
         {requested} more requested"
    )]
    PurchaseLimitExceeded {
        /// The event's `max_per_order`, which is also the most per account across orders.
        limit: u32,
        /// Tickets the account holds and owns for the event now.
        counted: i64,
        requested: u32,
    },
    #[error("no such reservation")]
    ReservationNotFound,
    #[error("no such payment")]
    PaymentNotFound,
    #[error("{0}")]
    PaymentNotApproved(String),
    #[error("the hold on this reservation expired")]
    ReservationExpired,
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("no such route")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("request body over 64 KiB")]
    PayloadTooLarge,
    /// The body did not arrive within the server's bound after its head: a client dribbling a
    /// body would otherwise hold its connection for as long as it likes.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("too many requests from this caller, retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the caller's bucket has room again (at least 1), sent as `Retry-After`.
        retry_after: u64,
    },
    #[error("a dependency is unavailable, retry shortly: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

fn join(seats: &[SeatId]) -> String {
    seats
        .iter()
        .map(SeatId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "INVALID_REQUEST",
            Self::MissingEventId => "MISSING_EVENT_ID",
            Self::IdempotencyRequired => "IDEMPOTENCY_REQUIRED",
            Self::InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            Self::UsernameExists => "USERNAME_EXISTS",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::MissingAuthorization => "MISSING_AUTHORIZATION",
            Self::InvalidToken(_) => "INVALID_TOKEN",
            Self::Forbidden | Self::NotThroughProxy | Self::UserMismatch => "FORBIDDEN",
            Self::EventNotFound => "EVENT_NOT_FOUND",
            Self::EventExists(_) => "EVENT_EXISTS",
            Self::SaleClosed => "SALE_CLOSED",
            Self::ChallengeRequired(_) => "CHALLENGE_REQUIRED",
            Self::TokenNotFound => "TOKEN_NOT_FOUND",
            Self::NotReady => "NOT_READY",
            Self::AlreadyEntered => "ALREADY_ENTERED",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::InvalidReservationToken(_) => "INVALID_RESERVATION_TOKEN",
            Self::SeatUnavailable(_) => "SEAT_UNAVAILABLE",
            Self::InsufficientInventory { .. } => "INSUFFICIENT_INVENTORY",
            Self::PurchaseLimitExceeded { .. } => "PURCHASE_LIMIT_EXCEEDED",
            Self::ReservationNotFound => "RESERVATION_NOT_FOUND",
            Self::PaymentNotFound => "PAYMENT_NOT_FOUND",
            Self::PaymentNotApproved(_) => "PAYMENT_NOT_APPROVED",
            Self::ReservationExpired => "RESERVATION_EXPIRED",
            Self::InvalidState(_) => "INVALID_STATE",
            Self::InvalidAmount(_) => "INVALID_AMOUNT",
            Self::InvalidSignature(_) => "INVALID_SIGNATURE",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status the contract gives the code.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_)
            | Self::MissingEventId
            | Self::IdempotencyRequired
            | Self::InvalidIdempotencyKey
            | Self::InvalidAmount(_) => 400,
            Self::InvalidCredentials
            | Self::MissingAuthorization
            | Self::InvalidToken(_)
            | Self::InvalidSignature(_) => 401,
            Self::Forbidden
            | Self::NotThroughProxy
            | Self::UserMismatch
            | Self::NotReady
            | Self::InvalidReservationToken(_) => 403,
            Self::EventNotFound
            | Self::TokenNotFound
            | Self::ReservationNotFound
            | Self::PaymentNotFound
            | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::IdempotencyConflict
            | Self::IdempotencyInProgress
            | Self::UsernameExists
            | Self::EventExists(_)
            | Self::SaleClosed
            | Self::AlreadyEntered
            | Self::SeatUnavailable(_)
            | Self::InsufficientInventory { .. }
            | Self::PurchaseLimitExceeded { .. }
            | Self::InvalidState(_) => 409,
            Self::TokenExpired | Self::ReservationExpired => 410,
            Self::PaymentNotApproved(_) => 412,
            Self::ChallengeRequired(_) => 428,
            Self::PayloadTooLarge => 413,
            Self::RateLimited { .. } => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    /// The message shown to the client: internal details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".into(),
            Self::Unavailable(_) => "a dependency is unavailable, retry shortly".into(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(why) => Self::Unavailable(why),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ScheduleError> for Error {
    fn from(error: ScheduleError) -> Self {
        Self::Unavailable(error.0)
    }
}

impl From<PublishError> for Error {
    fn from(error: PublishError) -> Self {
        Self::Unavailable(error.0)
    }
}

impl From<RegistryError> for Error {
    fn from(error: RegistryError) -> Self {
        Self::Unavailable(error.0)
    }
}

impl From<PushError> for Error {
    fn from(error: PushError) -> Self {
        Self::Unavailable(error.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
