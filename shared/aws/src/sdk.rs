//! Sorting SDK failures into "try again later" and "this request is wrong".
//!
//! Every AWS SDK crate re-exports the same `SdkError`, so one classification serves the store,
//! the scheduler and the bus. The distinction matters to callers: a transient failure (throttling,
//! a timeout, a dropped connection, a 5xx) says nothing about whether the write happened, so the
//! domain answers 503 and relies on idempotent retries; a validation failure is a bug to report.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What kind of failure an SDK error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Could not reach the service, or it refused the work for now.
    Transient,
    /// The service rejected the request itself (ValidationException and the like).
    Invalid,
    /// Any other service error (not found, access denied, conflict...): see its code.
    Service,
}

/// Error codes AWS services use for "too much, slow down" or "our fault, try again".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "LimitExceededException",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionConflictException",
    "TransactionInProgressException",
];

const INVALID_CODES: &[&str] = &[
    "ValidationException",
    "SerializationException",
    "InvalidParameterValueException",
];

pub(crate) fn classify<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Failure {
    match err {
        SdkError::ConstructionFailure(_) => Failure::Invalid,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient
        }
        SdkError::ServiceError(service) => {
            let code = err.code().unwrap_or_default();
            if INVALID_CODES.contains(&code) {
                Failure::Invalid
            } else if TRANSIENT_CODES.contains(&code) || service.raw().status().as_u16() >= 500 {
                Failure::Transient
            } else {
                Failure::Service
            }
        }
        _ => Failure::Transient,
    }
}

/// The error with its whole chain of causes (the SDK's `Display` alone says only "service error").
pub(crate) fn describe<E>(err: &SdkError<E>) -> String
where
    E: std::error::Error + 'static,
{
    DisplayErrorContext(err).to_string()
}
