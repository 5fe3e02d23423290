//! Every port the use cases depend on. Storage for users, sessions and mail, the audit
//! trail and readiness are declared here; the others live beside the policy they serve and are
//! re-exported so this file is the index:
//!
//! | port | what the adapter does | adapter |
//! |---|---|---|
//! | [`UserRepository`], [`SessionRepository`] | users, sessions, refresh-token chains | `tessera-sql` |
//! | [`AuditSink`], [`AuditLog`] | record and read security events | `tessera-sql` |
//! | [`HealthCheck`] | says whether the store answers | `tessera-sql` |
//! | [`RevocationList`], [`RevocationStore`] | the per-request revocation check, and its durable copy | `tessera-revocation`, `tessera-sql` |
//! | [`RateLimiter`] | per-client buckets and per-account failure budgets | `tessera-revocation` |
//! | [`PasswordHasher`] | argon2id off the async workers | `tessera` (`app/src/hashing.rs`) |
//! | [`AccessTokenSigner`], [`AccessTokenVerifier`], [`SigningKeyStore`] | RS256 keys | `tessera-keys`, `tessera-sql` |
//! | [`Clock`] | the time, which comes in | `SystemClock`, `ManualClock` |
//! | [`EmailTokenStore`], [`Outbox`] | mailed tokens (hashed) and the mail that carries them | `tessera-sql` |
//! | [`MailTransport`] | hands a message to SMTP, or to the log | `tessera-mail` |
//! | [`FactorStore`], [`ChallengeStore`] | second factors, and the challenges of the second step and WebAuthn ceremonies | `tessera-sql` |
//! | [`TotpAlgorithm`], [`WebAuthn`] | RFC 6238 codes, WebAuthn ceremonies | `tessera-mfa` |
//! | [`SecretSealer`] | seals TOTP secrets at rest under the key-encryption key | `tessera` (`KekSealer`, `app/src/startup.rs`) |
//! | [`ClientStore`] | OAuth clients, authorization codes, remembered consent | `tessera-sql`, behind `tessera`'s docs client (`app/src/docs_client.rs`) |
//! | [`IdTokenSigner`] | OpenID Connect ID tokens with the access-token key; reads `id_token_hint` | `tessera-keys` |

pub use crate::clock::Clock;
pub use crate::keys::SigningKeyStore;
pub use crate::mfa::{ChallengeStore, FactorStore, SecretSealer, TotpAlgorithm, WebAuthn};
pub use crate::oidc::ClientStore;
pub use crate::password::PasswordHasher;
pub use crate::revocation::{RevocationList, RevocationStore};
pub use crate::throttle::RateLimiter;
pub use crate::token::{AccessTokenSigner, AccessTokenVerifier, IdTokenSigner};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::email::{Email, EmailTokenHash, EmailTokenPurpose, EmailTokenRecord, OutgoingMail};
use crate::mfa::AuthMethod;
use crate::oidc::{ClientId, LogoutNotice};
use crate::session::{RefreshTokenHash, RefreshTokenState, RotateOutcome, Session, SessionId};
use crate::user::{PasswordHash, User, UserId, Username};

/// A store failure the caller cannot fix by changing its input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or answered with an error: answer 503.
    #[error("store unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness rule refused the write.
    #[error("conflicting record")]
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users, unique by [`Username::canonical`], and by [`Email::canonical`] among verified
/// addresses (an unverified address blocks nobody: whoever verifies it first has it).
///
/// # Errors
/// `create` stores the user's address unverified, and MUST return
/// [`CreateUserError::UsernameTaken`] when the canonical username exists (translating the
/// driver's unique violation, on every dialect); `set_verified_email`
/// MUST return [`StoreError::Conflict`] for the latter; every method MUST return
/// [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    async fn create(&self, user: &User) -> Result<(), CreateUserError>;
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn update_password_hash(&self, id: UserId, hash: &PasswordHash)
    -> Result<(), StoreError>;
    /// Replaces the hash only if it is still `expected` (an upgrade must never write
    /// over a password changed meanwhile); returns whether it did.
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError>;
    /// One page of users ordered by creation, and the total count.
    async fn list(&self, offset: u64, limit: u64) -> Result<(Vec<User>, u64), StoreError>;
    /// Marks the user disabled at `at`; returns whether it was enabled before.
    async fn disable(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The user whose *verified* address is `email` (compared by its canonical key).
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// Makes `email` the user's verified address; returns whether the user exists.
    async fn set_verified_email(
        &self,
        id: UserId,
        email: &Email,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Why a mailed token could not be redeemed.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// Someone redeemed it (or it was withdrawn) since it was read.
    #[error("the token was used")]
    Used,
    /// Another account verified this address first.
    #[error("email address is taken")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Mailed single-use tokens, stored by hash, and the outbox their mail goes through.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be reached.
/// The `redeem_*` methods MUST return [`RedeemError::Used`] when the token's `used_at`
/// was set by the time they write, so of concurrent redemptions exactly one succeeds.
#[async_trait]
pub trait EmailTokenStore: Send + Sync + 'static {
    /// Stores `token` and, in the same transaction, writes `mail` to the outbox: queued
    /// when `deliver`, else (a decoy's) recorded as finished at once with its bodies
    /// empty — the same statements either way, so the two cost the same.
    async fn issue(
        &self,
        token: &EmailTokenRecord,
        mail: &OutgoingMail,
        deliver: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Writes `mail`, a notice that carries no link and so no token, to the outbox,
    /// queued for delivery at `now`.
    async fn queue_mail(&self, mail: &OutgoingMail, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Writes a logout token for a client's back-channel logout URI to the outbox,
    /// queued for delivery at `now`.
    async fn queue_logout(
        &self,
        notice: &LogoutNotice,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn find_token(
        &self,
        hash: &EmailTokenHash,
    ) -> Result<Option<EmailTokenRecord>, StoreError>;
    /// Uses a verification token and makes its address the user's verified one, in one
    /// transaction; [`RedeemError::EmailTaken`] leaves the token unused.
    async fn redeem_verification(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError>;
    /// Uses a reset token, sets the new password hash and withdraws the user's other
    /// reset tokens, in one transaction.
    async fn redeem_reset(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError>;
    /// Marks every unused token of `user` for `purpose` used (a newer one replaces them).
    async fn withdraw(
        &self,
        user: UserId,
        purpose: EmailTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes tokens that expired before `before`; returns how many.
    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// What the outbox carries: a mail, or a logout token for a client's back-channel
/// logout URI. Both get the same claims, retries and giving up.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Mail(OutgoingMail),
    Logout(LogoutNotice),
}

/// A message in the outbox, claimed for sending.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: i64,
    pub message: Outgoing,
    pub created_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// The outbox's delivery side. Every instance may run a sender: a claim is a lease, so a
/// mail is handed to one sender at a time, and a sender that dies only delays its mail
/// until the lease lapses.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Atomically claims for `claimer`, until `now + lease`, up to `limit` mails that are
    /// due at `now` and not claimed by anyone else.
    async fn claim_due(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        lease: chrono::TimeDelta,
        limit: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
    /// The mail was accepted by the relay; its bodies (which hold a live link) are wiped.
    async fn mark_sent(&self, id: i64, claimer: &str, now: DateTime<Utc>)
    -> Result<(), StoreError>;
    /// The attempt failed: due again at `at`.
    async fn retry_at(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// The mail will never be sent; its bodies are wiped, the reason kept.
    async fn give_up(
        &self,
        id: i64,
        claimer: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Mails neither sent nor given up.
    async fn pending(&self) -> Result<u64, StoreError>;
    /// Deletes sent and given-up mails finished before `before`; returns how many.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Why a transport did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try later: the relay is down, slow, or answered 4xx.
    #[error("temporary mail failure: {0}")]
    Temporary(#[source] anyhow::Error),
    /// The relay refused the message for good (5xx): retrying cannot help.
    #[error("permanent mail failure: {0}")]
    Permanent(#[source] anyhow::Error),
}

/// Hands one message to the mail system, within a bounded time.
///
/// # Errors
/// MUST return [`MailError::Temporary`] for anything that may pass on a retry, including
/// a timeout, and [`MailError::Permanent`] only for a definite refusal.
#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// POSTs a logout token to a client's back-channel logout URI (Back-Channel Logout 1.0
/// §2.5), within a bounded time.
///
/// # Errors
/// MUST return [`MailError::Temporary`] when the client may take it later (no answer,
/// a timeout, a 5xx) and [`MailError::Permanent`] when it refused the token (a 4xx).
#[async_trait]
pub trait LogoutTransport: Send + Sync + 'static {
    async fn deliver(&self, notice: &LogoutNotice) -> Result<(), MailError>;
}

/// Sessions and their refresh-token chains.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores a new session whose live refresh token hashes to `token`.
    async fn create(&self, session: &Session, token: &RefreshTokenHash) -> Result<(), StoreError>;
    /// The session a refresh token belongs to (live or rotated), whatever its state.
    async fn find_by_refresh(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<(Session, RefreshTokenState)>, StoreError>;
    /// The refresh path's one lookup: the session a refresh token belongs to, the token's
    /// state, and the session's user (`None` if it no longer exists).
    async fn find_for_refresh(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<(Session, RefreshTokenState, Option<User>)>, StoreError>;
    /// Atomically exchanges `presented` (a token of `session`) for `child` if `presented`
    /// is still live and the session not revoked: exactly one of any number of concurrent
    /// callers gets [`RotateOutcome::Rotated`]; the rest get `AlreadyRotated` with the
    /// winner's instant. The winner also records `now` as last use and `idle_expires_at`
    /// as the session's new idle expiry.
    async fn rotate(
        &self,
        session: SessionId,
        presented: &RefreshTokenHash,
        child: &RefreshTokenHash,
        now: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError>;
    async fn find(&self, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// The user's sessions still live at `now`, newest first.
    async fn list_live(&self, user: UserId, now: DateTime<Utc>)
    -> Result<Vec<Session>, StoreError>;
    /// Records a step-up: the user proved it is them again at `at`, with `amr`, and later
    /// tokens of the session carry both. Returns whether the session was there and not
    /// revoked (nothing is written otherwise).
    async fn reauthenticated(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        amr: &[AuthMethod],
    ) -> Result<bool, StoreError>;
    /// Marks the session revoked at `now`; returns whether it was live before.
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Marks revoked at `now`, in one statement, every session of `user` except `except`
    /// that is not revoked yet and had not lapsed (idle or absolute) before
    /// `lapsed_after`; returns the sessions it ended. Either all of them end or none.
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        lapsed_after: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError>;
    /// The same for the sessions of the registered `client` — of `user` only, when
    /// given (a consent taken back), or of every user (the client deleted).
    async fn revoke_client_sessions(
        &self,
        client: ClientId,
        user: Option<UserId>,
        now: DateTime<Utc>,
        lapsed_after: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError>;
}

/// A security event (DESIGN.md §2). Never carries a password or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    Registered {
        user: UserId,
    },
    LoginSucceeded {
        user: UserId,
        session: SessionId,
    },
    LoginFailed {
        username: String,
    },
    RefreshReuse {
        user: UserId,
        session: SessionId,
    },
    Logout {
        user: UserId,
        session: SessionId,
    },
    LogoutAll {
        user: UserId,
        sessions: usize,
    },
    SessionRevoked {
        user: UserId,
        session: SessionId,
    },
    PasswordChanged {
        user: UserId,
    },
    PasswordChangeFailed {
        user: UserId,
    },
    TokenRevoked {
        user: UserId,
    },
    UserDisabled {
        user: UserId,
    },
    KeyRotated {
        kid: String,
    },
    Lockout {
        username: String,
        seconds: u64,
    },
    KeyRevoked {
        kid: String,
    },
    EmailVerified {
        user: UserId,
    },
    EmailChangeRequested {
        user: UserId,
    },
    /// `user` is `None` for an address no verified account has (recorded all the same,
    /// so both cases cost one write).
    PasswordResetRequested {
        user: Option<UserId>,
    },
    PasswordReset {
        user: UserId,
        sessions: usize,
    },
    TotpEnabled {
        user: UserId,
    },
    TotpDisabled {
        user: UserId,
    },
    RecoveryCodesRegenerated {
        user: UserId,
    },
    /// A recovery code completed a login; `left` remain.
    RecoveryCodeUsed {
        user: UserId,
        left: u32,
    },
    /// A wrong second-step proof (`method`: `totp`, `recovery_code`, `webauthn`).
    SecondFactorFailed {
        user: UserId,
        method: &'static str,
    },
    /// A wrong code or password where the account's owner had to prove it again.
    ReauthenticationFailed {
        user: UserId,
    },
    /// The owner proved it is them again in a session (a step-up): its sign-in is recent.
    Reauthenticated {
        user: UserId,
    },
    PasskeyAdded {
        user: UserId,
    },
    PasskeyRemoved {
        user: UserId,
    },
    /// An administrator removed every second factor of the user.
    FactorsReset {
        user: UserId,
    },
    /// An OAuth client was registered or deleted (by an administrator or the CLI).
    ClientCreated {
        client: ClientId,
    },
    ClientDeleted {
        client: ClientId,
    },
    /// The user let a third-party client sign them in (remembered), or took it back.
    ConsentGranted {
        user: UserId,
        client: ClientId,
    },
    ConsentRevoked {
        user: UserId,
        client: ClientId,
    },
    /// A client exchanged an authorization code: a session of that client started.
    CodeExchanged {
        user: UserId,
        client: ClientId,
        session: SessionId,
    },
    /// An authorization code came back after it was used: what it issued was ended.
    CodeReused {
        user: UserId,
        client: ClientId,
    },
}

impl AuditEvent {
    /// The user the event is about, when known.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Self::Registered { user }
            | Self::LoginSucceeded { user, .. }
            | Self::RefreshReuse { user, .. }
            | Self::Logout { user, .. }
            | Self::LogoutAll { user, .. }
            | Self::SessionRevoked { user, .. }
            | Self::PasswordChanged { user }
            | Self::PasswordChangeFailed { user }
            | Self::TokenRevoked { user }
            | Self::UserDisabled { user }
            | Self::EmailVerified { user }
            | Self::EmailChangeRequested { user }
            | Self::PasswordReset { user, .. }
            | Self::TotpEnabled { user }
            | Self::TotpDisabled { user }
            | Self::RecoveryCodesRegenerated { user }
            | Self::RecoveryCodeUsed { user, .. }
            | Self::SecondFactorFailed { user, .. }
            | Self::ReauthenticationFailed { user }
            | Self::Reauthenticated { user }
            | Self::PasskeyAdded { user }
            | Self::PasskeyRemoved { user }
            | Self::FactorsReset { user }
            | Self::ConsentGranted { user, .. }
            | Self::ConsentRevoked { user, .. }
            | Self::CodeExchanged { user, .. }
            | Self::CodeReused { user, .. } => Some(*user),
            Self::PasswordResetRequested { user } => *user,
            Self::LoginFailed { .. }
            | Self::KeyRotated { .. }
            | Self::KeyRevoked { .. }
            | Self::Lockout { .. }
            | Self::ClientCreated { .. }
            | Self::ClientDeleted { .. } => None,
        }
    }

    /// The event's particulars as JSON text (never a password or a token).
    pub fn detail(&self) -> String {
        let detail = match self {
            Self::LoginSucceeded { session, .. }
            | Self::RefreshReuse { session, .. }
            | Self::Logout { session, .. }
            | Self::SessionRevoked { session, .. } => serde_json::json!({ "session": session }),
            Self::LoginFailed { username } => serde_json::json!({ "username": username }),
            Self::Lockout { username, seconds } => {
                serde_json::json!({ "username": username, "seconds": seconds })
            }
            Self::LogoutAll { sessions, .. } | Self::PasswordReset { sessions, .. } => {
                serde_json::json!({ "sessions": sessions })
            }
            Self::KeyRotated { kid } | Self::KeyRevoked { kid } => {
                serde_json::json!({ "kid": kid })
            }
            Self::RecoveryCodeUsed { left, .. } => serde_json::json!({ "left": left }),
            Self::SecondFactorFailed { method, .. } => serde_json::json!({ "method": method }),
            Self::ClientCreated { client }
            | Self::ClientDeleted { client }
            | Self::ConsentGranted { client, .. }
            | Self::ConsentRevoked { client, .. }
            | Self::CodeReused { client, .. } => serde_json::json!({ "client": client }),
            Self::CodeExchanged {
                client, session, ..
            } => serde_json::json!({ "client": client, "session": session }),
            _ => serde_json::json!({}),
        };
        detail.to_string()
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "registered",
            Self::LoginSucceeded { .. } => "login_succeeded",
            Self::LoginFailed { .. } => "login_failed",
            Self::RefreshReuse { .. } => "refresh_reuse",
            Self::Logout { .. } => "logout",
            Self::LogoutAll { .. } => "logout_all",
            Self::SessionRevoked { .. } => "session_revoked",
            Self::PasswordChanged { .. } => "password_changed",
            Self::PasswordChangeFailed { .. } => "password_change_failed",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::UserDisabled { .. } => "user_disabled",
            Self::KeyRotated { .. } => "key_rotated",
            Self::Lockout { .. } => "lockout",
            Self::KeyRevoked { .. } => "key_revoked",
            Self::EmailVerified { .. } => "email_verified",
            Self::EmailChangeRequested { .. } => "email_change_requested",
            Self::PasswordResetRequested { .. } => "password_reset_requested",
            Self::PasswordReset { .. } => "password_reset",
            Self::TotpEnabled { .. } => "totp_enabled",
            Self::TotpDisabled { .. } => "totp_disabled",
            Self::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::SecondFactorFailed { .. } => "second_factor_failed",
            Self::ReauthenticationFailed { .. } => "reauthentication_failed",
            Self::Reauthenticated { .. } => "reauthenticated",
            Self::PasskeyAdded { .. } => "passkey_added",
            Self::PasskeyRemoved { .. } => "passkey_removed",
            Self::FactorsReset { .. } => "factors_reset",
            Self::ClientCreated { .. } => "client_created",
            Self::ClientDeleted { .. } => "client_deleted",
            Self::ConsentGranted { .. } => "consent_granted",
            Self::ConsentRevoked { .. } => "consent_revoked",
            Self::CodeExchanged { .. } => "code_exchanged",
            Self::CodeReused { .. } => "code_reused",
        }
    }
}

/// A stored security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub event: String,
    pub user: Option<UserId>,
    pub client: crate::session::ClientInfo,
    /// JSON object text.
    pub detail: String,
}

/// Reads the audit trail.
///
/// # Errors
/// MUST return [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Newest first, optionally only one user's or one event name's, with the total.
    async fn list(
        &self,
        user: Option<UserId>,
        event: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AuditRecord>, u64), StoreError>;
    /// Deletes events recorded before `before` (the retention limit); returns how many.
    async fn purge_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A dependency that can say whether it answers, for `/readyz`.
///
/// # Errors
/// MUST return [`StoreError::Unavailable`] when it cannot be reached.
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Receives security events with the client they came from. Recording is best effort
/// from the use case's point of view: a sink logs its own failures and never fails the
/// request that caused the event.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn record(
        &self,
        event: AuditEvent,
        at: DateTime<Utc>,
        client: &crate::session::ClientInfo,
    );
}
