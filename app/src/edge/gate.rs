//! The gate every inbound door passes before a use case runs: the client's bucket and,
//! for an action that hashes a password, a place at the password door. What each action
//! needs is decided here once ([`Action`]), so the JSON API, the hosted pages and the
//! OpenID endpoints cannot drift apart: the same request gets the same 429 or 503
//! whichever door it came through. The 429s are counted by the observed limiter
//! (`crate::observe::ObservedLimiter`), not here and not in handlers.

use std::sync::Arc;

use poem::Request;
use tessera_domain::auth::Unavailable;
use tessera_domain::throttle::{ClientAction, client_key};
use tokio::sync::OwnedSemaphorePermit;

use super::{AppState, RETRY_AFTER_SECS, client_ip};
use crate::problem::ApiError;

/// What a request is about to do, as far as admission is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A sign-in with a password (the API's login, the sign-in form).
    Login,
    /// A new account: its password is hashed.
    Register,
    /// A signed-in caller proves the account again with its password, or with a proof
    /// that may be one: a password change, turning the authenticator app off, new
    /// recovery codes. Same bucket as a login, and a place at the door, because the
    /// check is an argon2 verification like a login's.
    PasswordCheck,
    /// A second-factor proof or a passkey ceremony: no password hash, the login bucket.
    SecondFactor,
    /// Refresh-token rotation.
    Refresh,
    /// RFC 7009 revocation (unauthenticated).
    Revoke,
    /// A reset request, or a mailed link redeemed without setting a password.
    MailedLink,
    /// A mailed reset link redeemed with a new password, which is hashed.
    ResetPassword,
    /// A change of address: it mails a link, or a notice, to an address the caller
    /// chose, so it draws from the bucket of the other requests that mail.
    EmailChange,
    /// The OpenID provider's token endpoint, every grant, and the device authorization
    /// endpoint.
    TokenEndpoint,
    /// A user code typed on `/device`: guesses draw from the login bucket, so nobody
    /// tries the code space from one address.
    UserCode,
}

impl Action {
    /// The per-client bucket the action draws from.
    const fn bucket(self) -> ClientAction {
        match self {
            Self::Login | Self::PasswordCheck | Self::SecondFactor | Self::UserCode => {
                ClientAction::Login
            }
            Self::Register => ClientAction::Register,
            Self::Refresh | Self::TokenEndpoint => ClientAction::Refresh,
            Self::Revoke => ClientAction::Revoke,
            Self::MailedLink | Self::ResetPassword | Self::EmailChange => {
                ClientAction::PasswordReset
            }
        }
    }

    /// Whether the action may end in a password hash or verification, and so takes a
    /// place at the password door before it reads anything.
    const fn hashes(self) -> bool {
        matches!(
            self,
            Self::Login | Self::Register | Self::PasswordCheck | Self::ResetPassword
        )
    }
}

/// A request let in. Hold it until the request is answered: it keeps the place at the
/// password door, so abandoned requests cannot pile up hashing work behind it.
#[must_use = "the place at the password door is given back when this is dropped"]
pub struct Admission {
    _door: Option<OwnedSemaphorePermit>,
}

/// Admits one request for `action`: the client's bucket, then the password door.
///
/// # Errors
/// 429 `rate_limited` with `Retry-After` when the bucket is empty; 503 with
/// `Retry-After` when the limiter cannot be reached, the door is full, or the request
/// carries no application state (it fails closed).
pub async fn admit(req: &Request, action: Action) -> Result<Admission, ApiError> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::unavailable("not ready", RETRY_AFTER_SECS))?;
    let key = client_ip(req)
        .map(|ip| client_key(ip, state.ipv6_prefix))
        .unwrap_or_default();
    state.limiter.check_client(action.bucket(), &key).await?;
    let door = if action.hashes() {
        let permit = Arc::clone(&state.password_door)
            .try_acquire_owned()
            .map_err(|_| Unavailable::HashingBusy)?;
        Some(permit)
    } else {
        None
    };
    Ok(Admission { _door: door })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_that_verifies_or_sets_a_password_takes_the_door() {
        for action in [
            Action::Login,
            Action::Register,
            Action::PasswordCheck,
            Action::ResetPassword,
        ] {
            assert!(action.hashes(), "{action:?}");
        }
        for action in [
            Action::SecondFactor,
            Action::Refresh,
            Action::Revoke,
            Action::MailedLink,
            Action::EmailChange,
            Action::TokenEndpoint,
        ] {
            assert!(!action.hashes(), "{action:?}");
        }
    }

    #[test]
    fn password_checks_share_the_login_bucket() {
        assert_eq!(Action::PasswordCheck.bucket(), Action::Login.bucket());
        assert_eq!(Action::SecondFactor.bucket(), Action::Login.bucket());
        assert_eq!(Action::ResetPassword.bucket(), Action::MailedLink.bucket());
        assert_eq!(Action::EmailChange.bucket(), Action::MailedLink.bucket());
    }
}
