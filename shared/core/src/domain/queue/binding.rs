//! Who may use a waiting token.
//!
//! A waiting token is a bearer secret, but a place in line is an account's: without a binding,
//! anyone who saw a token (a shared screen, a leaked log, a hostile client of another account)
//! could enter with it and hold seats in the joiner's place, or throw the joiner out of line.
//! So a ticket joined by an account is entered and left only by that account, and an anonymous
//! ticket is bound to the first account that enters with it (the enter's conditional write records
//! it). Anyone else is told the token does not exist (`TOKEN_NOT_FOUND`), the same answer as for a
//! token that never existed, so a stolen token's existence is not confirmed either.

use super::order::WaitingRecord;
use crate::error::{Error, Result};
use crate::ids::UserId;

/// The account a ticket is bound to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenBinding<'a> {
    /// Joined anonymously and not entered yet: the bearer may leave it, and the first account
    /// that enters with it takes it.
    Unbound,
    /// Joined by this account, or entered by it.
    Account(&'a UserId),
}

impl<'a> TokenBinding<'a> {
    pub(super) fn of(ticket: &'a WaitingRecord) -> Self {
        match &ticket.user_id {
            Some(user) => Self::Account(user),
            None => Self::Unbound,
        }
    }

    /// The account an enter by `caller` admits: the caller, who must be signed in (the
    /// reservation token is issued to an account) and, for a bound ticket, be its account.
    pub(super) fn entrant(self, caller: Option<UserId>) -> Result<UserId> {
        let caller = caller.ok_or(Error::MissingAuthorization)?;
        match self {
            Self::Account(owner) if *owner != caller => Err(Error::TokenNotFound),
            _ => Ok(caller),
        }
    }

    /// Whether `caller` may leave the line with this ticket: anyone holding an unbound one, only
    /// its account for a bound one.
    pub(super) fn leaver(self, caller: Option<&UserId>) -> Result<()> {
        match self {
            Self::Account(owner) if caller != Some(owner) => Err(Error::TokenNotFound),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_ticket_is_used_only_by_its_account_and_others_are_told_it_does_not_exist() {
        let (owner, other) = (UserId::generate(), UserId::generate());
        let bound = TokenBinding::Account(&owner);
        assert_eq!(bound.entrant(Some(owner.clone())), Ok(owner.clone()));
        assert_eq!(
            bound.entrant(Some(other.clone())),
            Err(Error::TokenNotFound)
        );
        assert_eq!(bound.entrant(None), Err(Error::MissingAuthorization));
        assert_eq!(bound.leaver(Some(&owner)), Ok(()));
        assert_eq!(bound.leaver(Some(&other)), Err(Error::TokenNotFound));
        assert_eq!(bound.leaver(None), Err(Error::TokenNotFound));
    }

    #[test]
    fn an_unbound_ticket_is_entered_by_any_account_and_left_by_its_bearer() {
        let user = UserId::generate();
        assert_eq!(TokenBinding::Unbound.entrant(Some(user.clone())), Ok(user));
        assert_eq!(
            TokenBinding::Unbound.entrant(None),
            Err(Error::MissingAuthorization)
        );
        assert_eq!(TokenBinding::Unbound.leaver(None), Ok(()));
    }
}
