//! The error of each use case, and how the ports' errors map onto them: a store, the
//! revocation list or the limiter that cannot answer is [`Unavailable`] (the edge says
//! 503); anything that should not happen is `Unknown`.

use crate::mfa::WebAuthnError;
use crate::password::HashError;
use crate::ports::StoreError;
use crate::revocation::RevocationError;
use crate::token::{SignError, TokenError};

/// Something the use cases depend on could not answer: the edge says 503.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("password hashing is saturated")]
    HashingBusy,
    #[error("store unavailable")]
    Store(#[source] anyhow::Error),
    #[error("revocation state unavailable")]
    Revocation(#[source] anyhow::Error),
    #[error("no signing key is active")]
    NoSigningKey,
    #[error("rate-limit state unavailable")]
    Limiter(#[source] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled account: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failures for this username: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked or reused refresh token (RFC 6749 `invalid_grant`).
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidGrant,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// A refusal at the token endpoint, in RFC 6749 §5.2 terms.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret, or a secret where none belongs (answer 401).
    #[error("client authentication failed")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("this client may not use this grant type")]
    UnauthorizedClient,
    #[error("{0}")]
    InvalidScope(String),
    /// RFC 8628 §3.5: the person has not answered yet.
    #[error("the person has not approved the request yet")]
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls faster than `interval`.
    #[error("poll more slowly: add 5 seconds to the interval")]
    SlowDown,
    /// RFC 8628 §3.5: the person denied the request.
    #[error("the person denied the request")]
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired before it was approved.
    #[error("the device code has expired")]
    ExpiredToken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// A refusal of an authorization request (RFC 6749 §4.1.2.1).
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// No such client, or a redirect URI it did not register: the error is shown to the
    /// person, never sent to an address nobody vouched for.
    #[error("{0}")]
    NotRedirectable(&'static str),
    /// Everything else goes back to the client's redirect URI.
    #[error("{error}: {description}")]
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Why a client could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Invalid(#[from] crate::oidc::InvalidClient),
    #[error("no such client")]
    NotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    #[error("the token has been revoked")]
    Revoked,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The caller's account no longer exists or is disabled.
    #[error("the account is not available")]
    AccountGone,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no such session")]
    SessionNotFound,
    /// Too many wrong passwords for this account: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Asking for a verification mail to a new address.
#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    #[error("the account is not available")]
    AccountGone,
    /// Too many changes asked for by this account, or mails to this address: retry
    /// after this many seconds.
    #[error("too many changes of address, or mails to this address")]
    Throttled(u64),
    /// The sign-in is older than the reauthentication window: sign in again, then
    /// change the address.
    #[error("a recent sign-in is required")]
    ReauthenticationRequired,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Redeeming a verification link.
#[derive(Debug, thiserror::Error)]
pub enum VerifyEmailError {
    /// Unknown, malformed, used, withdrawn or expired token, or its account is gone.
    #[error("the link is invalid, used or expired")]
    InvalidToken,
    /// Another account verified the address first.
    #[error("email address is taken")]
    EmailTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Asking for a reset link: the answer never says whether the address is known.
#[derive(Debug, thiserror::Error)]
pub enum ResetRequestError {
    /// Too many requests for this address: retry after this many seconds.
    #[error("too many requests for this address")]
    Throttled(u64),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Choosing a new password with a reset link.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, malformed, used or expired token; the address is no longer the
    /// account's; or the account is gone.
    #[error("the link is invalid, used or expired")]
    InvalidToken,
    #[error(transparent)]
    WeakPassword(#[from] crate::user::PasswordError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// An administrator marking a user's address verified.
#[derive(Debug, thiserror::Error)]
pub enum MarkVerifiedError {
    #[error("no such user")]
    UserNotFound,
    #[error("the user has no email address")]
    NoEmail,
    #[error("email address is taken")]
    EmailTaken,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Completing a login's second step, or signing in with a passkey alone.
#[derive(Debug, thiserror::Error)]
pub enum SecondStepError {
    /// The `mfa_token` (or passkey `challenge_id`) is unknown, malformed, used, expired,
    /// out of attempts, or from another client; or the account changed meanwhile. The
    /// client starts over.
    #[error("the sign-in challenge is invalid, used or expired")]
    InvalidChallenge,
    /// The code, recovery code or passkey assertion was wrong.
    #[error("the code is wrong")]
    InvalidCode,
    /// The account's failure budget is spent: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    /// The account has no passkey to ask for.
    #[error("the account has no passkey")]
    NoPasskey,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Managing one's own second factors.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error("the account is not available")]
    AccountGone,
    /// A TOTP code (or recovery code) that does not match.
    #[error("the code is wrong")]
    InvalidCode,
    #[error("the current password is wrong")]
    WrongPassword,
    /// Too many wrong proofs for this account: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    /// An authenticator app is enrolled already: disable it first.
    #[error("an authenticator app is enrolled already")]
    TotpAlreadyEnabled,
    /// Nothing to confirm, disable or regenerate.
    #[error("no such second factor is enrolled")]
    NotEnrolled,
    #[error("no such passkey")]
    PasskeyNotFound,
    /// The WebAuthn credential does not parse or verify, or no ceremony is pending.
    #[error("the credential was refused")]
    InvalidCredential,
    #[error("this passkey is registered already")]
    PasskeyExists,
    /// The operation needs a current code or the password, and got neither.
    #[error("give a code or the current password")]
    ProofRequired,
    /// Changing the account's factors needs a sign-in within the reauthentication
    /// window: sign in again, or step up.
    #[error("a recent sign-in is required")]
    ReauthenticationRequired,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<LoginError> for SecondStepError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::InvalidChallenge,
            LoginError::Throttled(s) => Self::Throttled(s),
            LoginError::Unavailable(e) => Self::Unavailable(e),
            LoginError::Unknown(e) => Self::Unknown(e),
        }
    }
}

impl From<WebAuthnError> for FactorError {
    fn from(e: WebAuthnError) -> Self {
        match e {
            WebAuthnError::Rejected => Self::InvalidCredential,
            WebAuthnError::Unknown(e) => Self::Unknown(e),
        }
    }
}

impl From<WebAuthnError> for SecondStepError {
    fn from(e: WebAuthnError) -> Self {
        match e {
            WebAuthnError::Rejected => Self::InvalidCode,
            WebAuthnError::Unknown(e) => Self::Unknown(e),
        }
    }
}

impl From<StoreError> for Unavailable {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => Self::Store(e),
            StoreError::Conflict => Self::Store(anyhow::anyhow!("unexpected conflict")),
        }
    }
}

impl From<RevocationError> for Unavailable {
    fn from(e: RevocationError) -> Self {
        match e {
            RevocationError::Unavailable(e) => Self::Revocation(e),
        }
    }
}

macro_rules! impl_from_lower {
    ($($err:ident),*) => {$(
        impl From<StoreError> for $err {
            fn from(e: StoreError) -> Self {
                match e {
                    StoreError::Unavailable(e) => Self::Unavailable(Unavailable::Store(e)),
                    // No flow here writes what could conflict: a bug, not an outage.
                    StoreError::Conflict => Self::Unknown(anyhow::anyhow!("unexpected store conflict")),
                }
            }
        }
        impl From<RevocationError> for $err {
            fn from(e: RevocationError) -> Self { Self::Unavailable(e.into()) }
        }
        impl From<HashError> for $err {
            fn from(e: HashError) -> Self {
                match e {
                    HashError::Busy => Self::Unavailable(Unavailable::HashingBusy),
                    HashError::Unknown(e) => Self::Unknown(e),
                }
            }
        }
        impl From<SignError> for $err {
            fn from(e: SignError) -> Self {
                match e {
                    SignError::NoActiveKey => Self::Unavailable(Unavailable::NoSigningKey),
                    SignError::Unknown(e) => Self::Unknown(e),
                }
            }
        }
    )*};
}
impl_from_lower!(
    RegisterError,
    LoginError,
    RefreshError,
    AccountError,
    EmailChangeError,
    VerifyEmailError,
    ResetRequestError,
    ResetError,
    SecondStepError,
    FactorError,
    OAuthError,
    ClientError
);

impl From<StoreError> for MarkVerifiedError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::EmailTaken,
            e => Self::Unavailable(e.into()),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl From<RevocationError> for AuthError {
    fn from(e: RevocationError) -> Self {
        Self::Unavailable(e.into())
    }
}
