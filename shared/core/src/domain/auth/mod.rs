//! Accounts and access tokens.
//!
//! * [`accounts`]: registration, login and the configured administrator.
//! * [`passwords`]: Argon2id hashes, off the async workers.
//! * [`access_tokens`]: the platform's HS256 JWTs, and an OIDC issuer's tokens ([`oidc`]).
//! * [`device_tokens`]: what a browser that signed in keeps, so its logins have a budget of their
//!   own.
//! * [`principal`]: who a verified token names, and their role.

pub mod access_tokens;
pub mod accounts;
pub mod device_tokens;
pub mod oidc;
pub mod passwords;
pub mod principal;

pub use access_tokens::AccessTokens;
pub use accounts::{Accounts, Registration, Session, UserRecord};
pub use device_tokens::{DeviceTokens, KnownDevice};
pub use principal::{Principal, Role};
