//! The use cases the edges call, split by capability. [`Core`] holds what every flow
//! shares (stores, signer, verifier, revocations, audit, limiter, clock, policies) and the
//! steps several flows take: starting, rotating and ending sessions, counting password
//! attempts, auditing. Four services are built on it, each with everything it needs:
//!
//! - [`Accounts`]: register, login and import, refresh, the caller's account and
//!   sessions, logout, password change, administrators' accounts and audit trail,
//!   RFC 7009 revocation and RFC 7662 introspection;
//! - [`EmailFlows`]: verification mails, password reset, an administrator's "verified";
//! - [`SecondFactors`]: the login's second step, passkey sign-in, TOTP, recovery codes,
//!   passkeys;
//! - [`OidcProvider`]: registered clients, authorization and consent, the token
//!   endpoint's grants, ID tokens and UserInfo.
//!
//! Where one capability needs another, the service holds it: [`Accounts`] holds the
//! [`SecondFactors`] (a login with a factor enrolled opens a second step) and the
//! [`EmailFlows`] (registration mails a verification link). The [`OidcProvider`] takes
//! the [`Core`]'s steps to start, refresh and end its clients' sessions. Each use case
//! has its own small error enum; storage failures surface as [`Unavailable`].

mod accounts;
mod email;
mod errors;
mod oidc;
mod second_factors;
mod shared;
#[cfg(test)]
mod tests;

pub use accounts::Accounts;
pub use email::EmailFlows;
pub use oidc::{
    Authorization, AuthorizeRequest, DeviceRequest, DeviceStart, OidcDeps, OidcProvider,
    OidcTokens, UserInfo,
};
pub use second_factors::{FactorStatus, SecondFactors};

pub use shared::{Core, DEFAULT_REAUTHENTICATION_WINDOW, LogoutNotices};

pub use errors::{
    AccountError, AuthError, AuthorizeError, ClientError, EmailChangeError, FactorError,
    LoginError, MarkVerifiedError, OAuthError, RefreshError, RegisterError, ResetError,
    ResetRequestError, SecondStepError, Unavailable, VerifyEmailError,
};

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::email::MailPolicy;
use crate::mfa::{
    AuthMethod, ChallengeStore, ChallengeToken, FactorStore, MfaPolicy, SecondFactor, SecretSealer,
    TotpAlgorithm, WebAuthn,
};
use crate::password::PasswordHasher;
use crate::ports::{
    AuditEvent, AuditLog, AuditSink, EmailTokenStore, SessionRepository, UserRepository,
};
use crate::revocation::{Revocation, RevocationEntry, RevocationList};
use crate::session::{
    ClientInfo, RefreshToken, RefreshTokenMint, Session, SessionId, SessionPolicy,
};
use crate::throttle::RateLimiter;
use crate::token::{AccessTokenSigner, AccessTokenVerifier, Claims, SignError, TokenPolicy};
use crate::user::{PasswordAttempt, PasswordHash, User, UserId};

/// What a successful login or refresh hands out (RFC 6749 §5.1 shape, minus the type).
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
    /// The scopes granted, for a registered client's session.
    pub scope: Option<String>,
}

/// What a right password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// No second factor is enrolled: the session has started.
    Tokens(TokenPair),
    /// A second factor is enrolled: the login continues at `POST /v1/auth/mfa`.
    SecondStep(SecondStepChallenge),
}

/// An open second step: the token that continues it and the ways to complete it.
#[derive(Debug, Clone)]
pub struct SecondStepChallenge {
    pub token: ChallengeToken,
    pub methods: Vec<SecondFactor>,
    pub expires_in: i64,
}

/// What a proof of the second step is.
#[derive(Debug, Clone)]
pub enum SecondStepProof {
    /// A TOTP code from the authenticator app.
    Totp(String),
    RecoveryCode(String),
    /// A WebAuthn assertion (`PublicKeyCredential` JSON) answering
    /// [`SecondFactors::second_step_webauthn_options`].
    Webauthn(serde_json::Value),
}

/// Proof, asked again, that the signed-in caller is the account's owner: one of the
/// account's own factors, counted against the same per-account budget as a login.
pub enum Reauthentication {
    /// A current TOTP code.
    Code(String),
    Password(PasswordAttempt),
    /// An unused recovery code (this uses it up).
    RecoveryCode(String),
    /// A passkey assertion (`PublicKeyCredential` JSON) answering the ceremony `challenge`
    /// that [`SecondFactors::step_up_options`] opened.
    Passkey {
        challenge: String,
        credential: serde_json::Value,
    },
}

/// A passkey just registered, and — when it is the account's first second factor — the
/// recovery codes that came with it (shown this once; empty otherwise).
#[derive(Debug)]
pub struct AddedPasskey {
    pub passkey: crate::mfa::PasskeyRecord,
    pub recovery_codes: Vec<crate::mfa::RecoveryCode>,
}

/// What a step-up hands back: an access token of the same session that carries the new
/// sign-in (`auth_time`, `amr`). The session's refresh token keeps working, and the
/// tokens it mints from now on carry the new sign-in too.
#[derive(Debug, Clone)]
pub struct SteppedUp {
    pub access_token: String,
    pub expires_in: i64,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<AuthMethod>,
}

/// What the second factors depend on, wired once by the composition root.
#[derive(Clone)]
pub struct SecondFactorDeps {
    pub factors: Arc<dyn FactorStore>,
    pub challenges: Arc<dyn ChallengeStore>,
    pub totp: Arc<dyn TotpAlgorithm>,
    pub webauthn: Arc<dyn WebAuthn>,
    /// Seals TOTP secrets at rest.
    pub sealer: Arc<dyn SecretSealer>,
    pub policy: MfaPolicy,
}

/// What RFC 7662 introspection learns about a token.
#[derive(Debug, Clone)]
pub enum Introspection {
    Inactive,
    Access(Claims),
    Refresh { session: Session },
}

/// The ports every capability shares (the [`Core`]'s), wired once by the composition
/// root.
#[derive(Clone)]
pub struct AuthDeps {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub signer: Arc<dyn AccessTokenSigner>,
    pub verifier: Arc<dyn AccessTokenVerifier>,
    pub revocations: Arc<dyn RevocationList>,
    pub audit: Arc<dyn AuditSink>,
    pub audit_log: Arc<dyn AuditLog>,
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    /// Mailed tokens and, in the same transaction, the outbox.
    pub email_tokens: Arc<dyn EmailTokenStore>,
}
