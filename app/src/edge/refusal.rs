//! What a refusal means over HTTP: one mapping from every domain error to a problem
//! (status, stable code, `Retry-After`, `WWW-Authenticate`), shared by the JSON API, the
//! hosted pages and the OpenID endpoints. Internals are logged here, never returned.

use poem::http::StatusCode;
use tessera_domain::auth::{
    AccountError, AuthError, ClientError, EmailChangeError, FactorError, LoginError,
    MarkVerifiedError, RefreshError, RegisterError, ResetError, ResetRequestError, SecondStepError,
    Unavailable, VerifyEmailError,
};
use tessera_domain::email::EmailError;
use tessera_domain::throttle::LimitError;
use tessera_domain::user::{PasswordError, UsernameError};
use tessera_keys::KeyError;

use crate::problem::ApiError;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Logs an unexpected failure and builds the bare 500 that hides it.
pub fn internal(e: &impl std::fmt::Debug) -> ApiError {
    tracing::error!(error = ?e, "request failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server could not handle this request",
    )
}

/// 429 `rate_limited` with `Retry-After`.
pub fn rate_limited(secs: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many attempts; retry in {secs} s"),
    );
    e.retry_after = Some(secs);
    e
}

/// 403 `insufficient_role`.
pub fn insufficient_role(role: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient_role",
        format!("this operation needs the {role} role"),
    )
}

/// 403 `reauthentication_required`: a change that could keep or take the account, from a
/// sign-in older than `security.reauthentication_window`.
pub fn reauthentication_required() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "reauthentication_required",
        "this change needs a recent sign-in: sign in again, then retry",
    )
}

/// 404 `user_not_found`: an administrator named an account that does not exist.
pub fn user_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "user_not_found",
        "no user has this id",
    )
}

/// 401 for a token whose account was deleted or disabled since it was issued.
fn account_gone() -> ApiError {
    ApiError::invalid_token("invalid_token", "the account is no longer available")
}

impl From<Unavailable> for ApiError {
    /// Logs why a dependency is unavailable and builds the 503 that hides it.
    fn from(e: Unavailable) -> Self {
        let detail = match e {
            // Load shedding, not a fault: under a flood this is every other answer, and a
            // warning each would turn the flood into a log flood.
            Unavailable::HashingBusy => {
                tracing::debug!("password hashing saturated: refused");
                "the server is busy, retry shortly"
            }
            _ => {
                tracing::warn!(error = ?e, "dependency unavailable");
                "the service is temporarily unavailable, retry shortly"
            }
        };
        ApiError::unavailable(detail, RETRY_AFTER_SECS)
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Throttled(secs) => rate_limited(secs),
            LimitError::Unavailable(e) => Unavailable::Limiter(e).into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidToken(e) => ApiError::invalid_token("invalid_token", &e.to_string()),
            AuthError::Revoked => {
                ApiError::invalid_token("token_revoked", "the token has been revoked")
            }
            AuthError::Unavailable(e) => e.into(),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::UsernameTaken => ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "this username is already taken",
            ),
            RegisterError::Unavailable(e) => e.into(),
            RegisterError::Unknown(e) => internal(&e),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => invalid_credentials(),
            LoginError::Throttled(secs) => rate_limited(secs),
            LoginError::Unavailable(e) => e.into(),
            LoginError::Unknown(e) => internal(&e),
        }
    }
}

impl From<SecondStepError> for ApiError {
    fn from(e: SecondStepError) -> Self {
        match e {
            SecondStepError::InvalidChallenge => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_token",
                "the mfa_token is invalid, used or expired; log in again",
            ),
            SecondStepError::InvalidCode => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "the code is wrong",
            ),
            SecondStepError::NoPasskey => ApiError::new(
                StatusCode::CONFLICT,
                "no_passkey",
                "this account has no passkey; use another method",
            ),
            SecondStepError::Throttled(secs) => rate_limited(secs),
            SecondStepError::Unavailable(e) => e.into(),
            SecondStepError::Unknown(e) => internal(&e),
        }
    }
}

impl From<FactorError> for ApiError {
    fn from(e: FactorError) -> Self {
        let (status, code, detail) = match e {
            FactorError::AccountGone => return account_gone(),
            FactorError::Throttled(secs) => return rate_limited(secs),
            FactorError::Unavailable(e) => return e.into(),
            FactorError::Unknown(e) => return internal(&e),
            FactorError::InvalidCode => {
                (StatusCode::BAD_REQUEST, "invalid_code", "the code is wrong")
            }
            FactorError::ProofRequired => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "give a code from the authenticator app or current_password",
            ),
            FactorError::WrongPassword => (
                StatusCode::FORBIDDEN,
                "invalid_credentials",
                "the current password is wrong",
            ),
            FactorError::TotpAlreadyEnabled => (
                StatusCode::CONFLICT,
                "totp_already_enabled",
                "an authenticator app is enrolled already; disable it first",
            ),
            FactorError::NotEnrolled => (
                StatusCode::CONFLICT,
                "mfa_not_enrolled",
                "no such second factor is enrolled",
            ),
            FactorError::PasskeyNotFound => (
                StatusCode::NOT_FOUND,
                "passkey_not_found",
                "no such passkey",
            ),
            FactorError::InvalidCredential => (
                StatusCode::BAD_REQUEST,
                "invalid_credential",
                "the credential was not accepted; start the registration again",
            ),
            FactorError::PasskeyExists => (
                StatusCode::CONFLICT,
                "passkey_exists",
                "this passkey is registered already",
            ),
            FactorError::ReauthenticationRequired => return reauthentication_required(),
        };
        ApiError::new(status, code, detail)
    }
}

/// 403 `registration_closed`: self-service sign-up is off (`registration.enabled`).
pub fn registration_closed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "registration_closed",
        "this service does not take sign-ups: ask its administrator for an account",
    )
}

/// 401 `invalid_credentials`: the same answer for every kind of wrong login.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "invalid username or password",
    )
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(why) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_client_metadata",
                why.to_string(),
            ),
            ClientError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "client_not_found",
                "no client has this id",
            ),
            ClientError::Unavailable(e) => e.into(),
            ClientError::Unknown(e) => internal(&e),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::InvalidGrant => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                "the refresh token is invalid, expired or revoked",
            ),
            RefreshError::Unavailable(e) => e.into(),
            RefreshError::Unknown(e) => internal(&e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::AccountGone => account_gone(),
            AccountError::WrongPassword => ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_credentials",
                "the current password is wrong",
            ),
            AccountError::SessionNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "no live session of yours has this id",
            ),
            AccountError::Throttled(secs) => rate_limited(secs),
            AccountError::Unavailable(e) => e.into(),
            AccountError::Unknown(e) => internal(&e),
        }
    }
}

impl From<UsernameError> for ApiError {
    fn from(e: UsernameError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_username",
            e.to_string(),
        )
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            e.to_string(),
        )
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "key_not_found",
                "no published key has this kid",
            ),
            KeyError::ExternallyManaged => ApiError::new(
                StatusCode::CONFLICT,
                "keys_externally_managed",
                "keys come from files (keys.source = \"files\"): change the files instead",
            ),
            KeyError::Unavailable(e) => {
                tracing::warn!(error = %e, "key operation failed");
                ApiError::unavailable(
                    "the key store is unavailable, retry shortly",
                    RETRY_AFTER_SECS,
                )
            }
        }
    }
}

impl From<EmailError> for ApiError {
    fn from(e: EmailError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            e.to_string(),
        )
    }
}

fn email_taken() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "email_taken",
        "another account has verified this email address",
    )
}

fn invalid_email_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_email_token",
        "the link is invalid, already used or expired: ask for a new one",
    )
}

impl From<EmailChangeError> for ApiError {
    fn from(e: EmailChangeError) -> Self {
        match e {
            EmailChangeError::AccountGone => account_gone(),
            EmailChangeError::Throttled(secs) => rate_limited(secs),
            EmailChangeError::ReauthenticationRequired => reauthentication_required(),
            EmailChangeError::Unavailable(e) => e.into(),
            EmailChangeError::Unknown(e) => internal(&e),
        }
    }
}

impl From<VerifyEmailError> for ApiError {
    fn from(e: VerifyEmailError) -> Self {
        match e {
            VerifyEmailError::InvalidToken => invalid_email_token(),
            VerifyEmailError::EmailTaken => email_taken(),
            VerifyEmailError::Unavailable(e) => e.into(),
            VerifyEmailError::Unknown(e) => internal(&e),
        }
    }
}

impl From<ResetRequestError> for ApiError {
    fn from(e: ResetRequestError) -> Self {
        match e {
            ResetRequestError::Throttled(secs) => rate_limited(secs),
            ResetRequestError::Unavailable(e) => e.into(),
            ResetRequestError::Unknown(e) => internal(&e),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::InvalidToken => invalid_email_token(),
            ResetError::WeakPassword(e) => e.into(),
            ResetError::Unavailable(e) => e.into(),
            ResetError::Unknown(e) => internal(&e),
        }
    }
}

impl From<MarkVerifiedError> for ApiError {
    fn from(e: MarkVerifiedError) -> Self {
        match e {
            MarkVerifiedError::UserNotFound => user_not_found(),
            MarkVerifiedError::NoEmail => ApiError::new(
                StatusCode::CONFLICT,
                "no_email",
                "the user has no email address",
            ),
            MarkVerifiedError::EmailTaken => email_taken(),
            MarkVerifiedError::Unavailable(e) => e.into(),
        }
    }
}
