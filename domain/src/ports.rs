//! Every port the use cases depend on. Storage for users and sessions, the audit trail
//! and readiness are declared here; the others live beside the policy they serve and are
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

pub use crate::clock::Clock;
pub use crate::keys::SigningKeyStore;
pub use crate::password::PasswordHasher;
pub use crate::revocation::{RevocationList, RevocationStore};
pub use crate::throttle::RateLimiter;
pub use crate::token::{AccessTokenSigner, AccessTokenVerifier};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

/// Users, unique by [`Username::canonical`].
///
/// # Errors
/// `create` MUST return [`CreateUserError::UsernameTaken`] when the canonical username
/// exists (translating the driver's unique violation, on every dialect); every method MUST
/// return [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    async fn create(&self, user: &User) -> Result<(), CreateUserError>;
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn update_password_hash(&self, id: UserId, hash: &PasswordHash)
    -> Result<(), StoreError>;
    /// One page of users ordered by creation, and the total count.
    async fn list(&self, offset: u64, limit: u64) -> Result<(Vec<User>, u64), StoreError>;
    /// Marks the user disabled at `at`; returns whether it was enabled before.
    async fn disable(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError>;
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
}

/// A security event (DESIGN.md §2). Never carries a password or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    Registered { user: UserId },
    LoginSucceeded { user: UserId, session: SessionId },
    LoginFailed { username: String },
    RefreshReuse { user: UserId, session: SessionId },
    Logout { user: UserId, session: SessionId },
    LogoutAll { user: UserId, sessions: usize },
    SessionRevoked { user: UserId, session: SessionId },
    PasswordChanged { user: UserId },
    PasswordChangeFailed { user: UserId },
    TokenRevoked { user: UserId },
    UserDisabled { user: UserId },
    KeyRotated { kid: String },
    Lockout { username: String, seconds: u64 },
    KeyRevoked { kid: String },
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
            | Self::UserDisabled { user } => Some(*user),
            Self::LoginFailed { .. }
            | Self::KeyRotated { .. }
            | Self::KeyRevoked { .. }
            | Self::Lockout { .. } => None,
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
            Self::LogoutAll { sessions, .. } => serde_json::json!({ "sessions": sessions }),
            Self::KeyRotated { kid } | Self::KeyRevoked { kid } => {
                serde_json::json!({ "kid": kid })
            }
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
